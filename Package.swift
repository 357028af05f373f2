// swift-tools-version:6.0
import PackageDescription

// Module order, bottom to top (dependencies point down only):
//   CMPI, CBLAS, CZlib  →  Configuration, Tensors  →  Layers, Optimizers, Distributed, Data, Checkpoints
//   (Reporting stands alone)  →  Training  →  bigbatch (CLI)
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
        .package(url: "https://github.com/apple/swift-numerics", from: "1.0.0"),
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
        .target(name: "CMPI", dependencies: ["COpenMPI"]),

        .target(name: "Configuration", dependencies: [.product(name: "Yams", package: "Yams")]),
        .target(name: "Tensors", dependencies: ["CBLAS"]),
        .target(name: "Layers", dependencies: ["Tensors", "Configuration"]),
        .target(
            name: "Optimizers",
            dependencies: ["Tensors", "Configuration", .product(name: "Numerics", package: "swift-numerics")]),
        .target(name: "Distributed", dependencies: ["CMPI", "Tensors"]),
        .target(name: "Data", dependencies: ["CZlib", "Tensors", "Configuration"]),
        .target(name: "Checkpoints", dependencies: ["Tensors"]),
        .target(name: "Reporting", dependencies: []),
        .target(
            name: "Training",
            dependencies: ["Configuration", "Tensors", "Layers", "Optimizers", "Distributed", "Data", "Checkpoints",
                           "Reporting"]),
        .executableTarget(
            name: "bigbatch",
            dependencies: ["Training", .product(name: "ArgumentParser", package: "swift-argument-parser")]),

        .testTarget(name: "TensorsTests", dependencies: ["Tensors"]),
        .testTarget(name: "ConfigurationTests", dependencies: ["Configuration"]),
        .testTarget(name: "LayersTests", dependencies: ["Layers"]),
        .testTarget(name: "OptimizersTests", dependencies: ["Optimizers"]),
        .testTarget(name: "DataTests", dependencies: ["Data"]),
        // Runs the built `bigbatch` alone or under mpirun, for the multi-process tests.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "DistributedTests", dependencies: ["Distributed", "TestSupport"]),
        .testTarget(name: "CheckpointsTests", dependencies: ["Checkpoints"], exclude: ["requirements.txt"]),
        .testTarget(name: "ReportingTests", dependencies: ["Reporting"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Configuration", "Data", "Distributed", "TestSupport"]),
    ]
)
