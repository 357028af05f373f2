#!/usr/bin/env bash
# Installs what BigBatch needs on Debian (idempotent), then builds the release binary.
# Usage: launch/setup.sh [--debug | --no-build]    (--debug builds the debug configuration instead;
#        --no-build only installs)
set -euo pipefail
cd "$(dirname "$0")/.."

# iproute2: ip and tc for the test hosts of launch/cluster.sh (MultiHostTests).
packages=(libopenmpi-dev openmpi-bin libopenblas-dev zlib1g-dev dataset-fashion-mnist bible-kjv pkg-config iproute2)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}" >&2
    sudo_cmd=()
    [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v swift >/dev/null; then
    [[ -x /opt/swift/usr/bin/swift ]] && export PATH=/opt/swift/usr/bin:$PATH
fi
command -v swift >/dev/null || { echo "setup: a Swift 6 toolchain is required (swift not found on PATH)" >&2; exit 1; }

# The language model's corpus (configs/gpt-kjv.yaml): the King James Bible as text, written once.
if [[ ! -s data/kjv.txt ]]; then
    mkdir -p data
    bible "Gen1:1-Rev22:21" > data/kjv.txt.partial && mv data/kjv.txt.partial data/kjv.txt
fi

[[ "${1:-}" == "--no-build" ]] && exit 0
configuration=release
[[ "${1:-}" == "--debug" ]] && configuration=debug
swift build -c "$configuration" --product bigbatch >&2
echo "$(swift build -c "$configuration" --show-bin-path)/bigbatch"
