#!/usr/bin/env bash
# Regenerates Sources/TensorBoard/Generated/*.pb.swift from Sources/TensorBoard/Protos/*.proto.
# Needs Debian's protobuf-compiler; builds swift-protobuf's protoc plugin (the version Package.swift
# names) outside the repository, so the project's own build never compiles it.
set -euo pipefail
cd "$(dirname "$0")/.."
version=1.39.0
work=${PROTOC_GEN_SWIFT_DIR:-/tmp/swift-protobuf-$version}
if [[ ! -x $work/.build/debug/protoc-gen-swift ]]; then
    [[ -d $work ]] || git clone --quiet --branch "$version" https://github.com/apple/swift-protobuf "$work"
    (cd "$work" && swift build --product protoc-gen-swift)
fi
protoc --plugin=protoc-gen-swift="$work/.build/debug/protoc-gen-swift" \
    --proto_path=Sources/TensorBoard/Protos \
    --swift_out=Sources/TensorBoard/Generated \
    --swift_opt=Visibility=Internal \
    Sources/TensorBoard/Protos/event.proto Sources/TensorBoard/Protos/summary.proto
