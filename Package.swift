// swift-tools-version:6.0
import PackageDescription

// Module order, bottom to top (dependencies point down only):
//   CMPI, CBLAS, CZlib, CKernels  →  Configuration, Tensors, JSON  →  Layers, Optimizers, Distributed, Data, Checkpoints
//   (Reporting and TensorBoard stand alone)  →  Training, Benchmarks  →  bigbatch (CLI)
// Each target declares every module it imports.
let package = Package(
    name: "BigBatch",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "bigbatch", targets: ["bigbatch"]),
        .library(name: "BigBatch", targets: ["Training"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // System libraries, found through pkg-config on Debian.
        .systemLibrary(
            name: "COpenMPI", path: "Sources/System/COpenMPI", pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .systemLibrary(
            name: "CBLAS", path: "Sources/System/CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(
            name: "CZlib", path: "Sources/System/CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),
        // Plain C functions over OpenMPI's macro-based handles, which Swift cannot import.
        .target(name: "CMPI", dependencies: ["COpenMPI", "CKernels"]),
        // exp, tanh, GELU, causal softmax and LayerNorm loops, optimized in every configuration (the tests run debug
        // builds), each cloned per vector width and chosen at load time.
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O2", "-fno-fast-math", "-ffp-contract=off"])]),

        .target(name: "Configuration", dependencies: [.product(name: "Yams", package: "Yams")]),
        .target(name: "Tensors", dependencies: ["CBLAS", "CKernels"]),
        // One JSON value type, with a strict parser for files from anyone and a compact writer.
        .target(name: "JSON"),
        .target(name: "Layers", dependencies: ["Tensors", "Configuration"]),
        .target(
            name: "Optimizers",
            dependencies: ["Tensors", "Configuration", "JSON"]),
        .target(name: "Distributed", dependencies: ["CMPI", "CKernels", "Tensors"]),
        .target(name: "Data", dependencies: ["CZlib", "Tensors", "Configuration"]),
        .target(name: "Checkpoints", dependencies: ["Tensors", "JSON"]),
        .target(name: "Reporting", dependencies: []),
        // TensorBoard event files; the .proto sources of the committed Generated/*.pb.swift stay beside them.
        .target(
            name: "TensorBoard", dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")],
            exclude: ["Protos"]),
        .target(
            name: "Training",
            dependencies: ["Configuration", "Tensors", "Layers", "Optimizers", "Distributed", "Data", "Checkpoints",
                           "Reporting", "TensorBoard"]),
        // Throughput measurements of the building blocks, kept out of the library modules.
        .target(name: "Benchmarks", dependencies: ["CMPI", "Tensors", "Layers", "Optimizers", "Distributed", "Configuration"]),
        .executableTarget(
            name: "bigbatch",
            dependencies: ["Training", "Benchmarks", "Configuration", "Tensors", "Layers", "Optimizers", "Distributed",
                           "Reporting", .product(name: "ArgumentParser", package: "swift-argument-parser")]),

        // kernel_bits.c is built by KernelClonesTests with clang, once per instruction set, not by SwiftPM.
        .testTarget(name: "TensorsTests", dependencies: ["Tensors", "TestSupport"], exclude: ["kernel_bits.c"]),
        .testTarget(name: "ConfigurationTests", dependencies: ["Configuration"]),
        .testTarget(name: "LayersTests", dependencies: ["Layers", "Tensors", "Configuration"]),
        .testTarget(name: "OptimizersTests", dependencies: ["Optimizers", "Tensors", "Configuration"],
                    exclude: ["References"]),
        .testTarget(name: "DataTests", dependencies: ["Data", "Configuration"]),
        // Runs the built `bigbatch` alone or under mpirun, for the multi-process tests.
        .target(name: "TestSupport", dependencies: ["Checkpoints"], path: "Tests/TestSupport"),
        .testTarget(name: "DistributedTests", dependencies: ["Distributed", "TestSupport"]),
        .testTarget(name: "CheckpointsTests", dependencies: ["Checkpoints", "Tensors"], exclude: ["requirements.txt"]),
        .testTarget(name: "ReportingTests", dependencies: ["Reporting"]),
        // Event files are read back by the Python `tensorboard` package (requirements.txt).
        .testTarget(name: "TensorBoardTests", dependencies: ["TensorBoard", "TestSupport"],
                    exclude: ["read_events.py", "requirements.txt"]),
        .testTarget(name: "BenchmarksTests", dependencies: ["Benchmarks", "Layers", "Optimizers", "Tensors"]),
        .testTarget(
            name: "TrainingTests",
            dependencies: ["Training", "Checkpoints", "Configuration", "Data", "Distributed", "Optimizers", "Tensors",
                           "TestSupport"]),
    ]
)

// Fuzz targets (Fuzz/, README "Hostile input"), declared only when asked for: they need the
// sanitizer flags that `launch/fuzz.sh` passes, in a build directory of their own.
if Context.environment["BIGBATCH_FUZZ"] == "1" {
    package.targets += [
        .target(name: "CLibFuzzer", path: "Fuzz/CLibFuzzer"),
        .executableTarget(
            name: "bigbatch-fuzz",
            dependencies: ["CLibFuzzer", "Checkpoints", "Configuration", "Data", "Layers", "Optimizers", "Tensors",
                           "Training"],
            path: "Fuzz/Sources/bigbatch-fuzz"),
    ]
    package.products += [.executable(name: "bigbatch-fuzz", targets: ["bigbatch-fuzz"])]
}
