import ArgumentParser
import Benchmarks
import Foundation
import Distributed
import Layers
import Optimizers
import Tensors
import Training

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Measure the speed of the building blocks.",
        subcommands: [BenchGEMMCommand.self, BenchModelCommand.self, BenchOptimizerCommand.self, BenchAllReduceCommand.self])
}

struct BenchGEMMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm", abstract: "sgemm GFLOP/s for n = 256, 512, 1024, 2048 through the BLAS binding.")

    @Option(help: "Matrix sizes.") var sizes: [Int] = [256, 512, 1024, 2048]
    @Option(help: "Seconds of measurement per size.") var seconds: Double = 1.0
    @Flag(help: "One JSON object per line.") var json = false

    func validate() throws {
        if let bad = sizes.first(where: { $0 <= 0 }) { throw ValidationError("size \(bad) must be positive") }
        if seconds <= 0 { throw ValidationError("--seconds \(seconds) must be positive") }
    }

    func run() throws {
        if !json { print("BLAS kernels: \(BLAS.coreName), threads: \(BLAS.threadCount)") }
        for n in sizes {
            let gflops = GEMMBenchmark.run(n: n, seconds: seconds)
            if json {
                print("{\"n\":\(n),\"gflops\":\(String(format: "%.2f", gflops)),\"core\":\"\(BLAS.coreName)\",\"threads\":\(BLAS.threadCount)}")
            } else {
                print(String(format: "n=%5d  %8.1f GFLOP/s", n, gflops))
            }
        }
    }
}

struct BenchAllReduceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allreduce",
        abstract: "The trainer's gradient reduction against a bare MPI_Allreduce of the same buffer (run under mpirun).")

    @Option(help: "Buffer size in bytes.") var bytes: Int = 4 << 20
    @Option(help: "Timed rounds (median reported).") var rounds: Int = 21
    @Option(help: "Bucket size in bytes for the trainer's reduction (0: one reduction).") var bucketBytes: Int = 0
    @Flag(help: "One JSON object.") var json = false

    func validate() throws {
        if bytes < 4 { throw ValidationError("--bytes \(bytes) must be at least 4") }
        if rounds < 1 { throw ValidationError("--rounds \(rounds) must be positive") }
    }

    func run() throws {
        try withWorld { world in
            // One rank has nothing to reduce: MPI copies the buffer and the "bandwidth" is memcpy's.
            try agree(world) {
                guard world.size > 1 else {
                    throw CommandFailure("one rank has nothing to reduce; run it on two or more, e.g. "
                                         + "mpirun -np 2 bigbatch bench allreduce")
                }
            }
            let result = try AllReduceBenchmark.run(world: world, bytes: bytes, rounds: rounds, bucketBytes: bucketBytes)
            guard world.isRoot else { return }
            if json {
                print(String(format: "{\"bytes\":%d,\"ranks\":%d,\"bigbatch_gbps\":%.4f,\"mpi_gbps\":%.4f,\"ratio\":%.3f}",
                             result.bytes, world.size, result.bigbatchGBps, result.mpiGBps,
                             result.bigbatchGBps / result.mpiGBps))
            } else {
                print(String(format: "%d bytes on %d ranks: bigbatch %.3f GB/s, MPI_Allreduce %.3f GB/s (ratio %.3f)",
                             result.bytes, world.size, result.bigbatchGBps, result.mpiGBps,
                             result.bigbatchGBps / result.mpiGBps))
            }
        }
    }
}

struct BenchModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model", abstract: "Forward+backward samples/s and GFLOP/s of a configuration's model, single process.")

    @Option(help: "The YAML configuration whose model is measured.") var config: String
    @Option(help: "Samples per forward/backward.") var batch: Int = 64
    @Option(help: "Seconds of measurement.") var seconds: Double = 3
    @Flag(help: "Print {\"samples_per_s\":…,\"gflops\":…}.") var json = false
    @Flag(help: """
        Also time each layer's forward and backward, per pass over the first thread's share of the batch \
        (a table, with each residual block's layers indented after it; or "layers" in the JSON, with their "depth").
        """) var layers = false

    func validate() throws {
        if batch < 1 { throw ValidationError("--batch \(batch) must be positive") }
        if seconds <= 0 { throw ValidationError("--seconds \(seconds) must be positive") }
    }

    func run() throws {
        let configuration = try TrainingConfiguration.load(path: config, overrides: [])
        // The data's sample shape without reading it (Fashion-MNIST's for images): compute, not data.
        let data = configuration.data
        let length = data.kind.isTokenSequence ? data.sequenceLength ?? 1 : 1
        let vocabulary: Int
        if case .gpt(let settings) = configuration.model { vocabulary = settings.vocabularySize ?? data.classes } else {
            vocabulary = data.classes
        }
        let result = try ModelBenchmark.run(spec: configuration.model,
                                            inputShape: data.kind.isTokenSequence ? [length] : [1, 28, 28],
                                            targetsPerSample: length, classes: data.kind.isTokenSequence ? vocabulary : 10,
                                            batch: batch, seconds: seconds, profileLayers: layers)
        let tokenField = data.kind.isTokenSequence
            ? String(format: ",\"tokens_per_s\":%.1f", result.samplesPerSecond * Double(length)) : ""
        if json {
            let rows = result.layers.map {
                String(format: "{\"name\":\"%@\",\"kind\":\"%@\",\"depth\":%d,\"forward_ms\":%.3f,\"backward_ms\":%.3f}",
                       $0.name, $0.kind, $0.depth, $0.forward, $0.backward)
            }
            let layerField = layers ? ",\"layers\":[\(rows.joined(separator: ","))]" : ""
            print(String(format: "{\"batch\":%d,\"samples_per_s\":%.1f,\"gflops\":%.2f,\"core\":\"%@\",\"threads\":%d",
                         batch, result.samplesPerSecond, result.gflops, BLAS.coreName, BLAS.threadCount)
                  + tokenField + layerField + "}")
        } else {
            let tokensText = data.kind.isTokenSequence
                ? String(format: " (%.0f tokens/s)", result.samplesPerSecond * Double(length)) : ""
            print(String(format: "batch %d: %.0f samples/s%@, %.1f GFLOP/s (BLAS %@, %d threads)", batch,
                         result.samplesPerSecond, tokensText, result.gflops, BLAS.coreName, BLAS.threadCount))
            if layers { print(Self.table(result.layers)) }
        }
    }

    /// Layers with their forward and backward milliseconds per pass and share of the total; a residual
    /// block's own layers follow it, indented (their shares are parts of the block's).
    static func table(_ layers: [ModelBenchmark.LayerTime]) -> String {
        let total = max(layers.filter { $0.depth == 0 }.reduce(0) { $0 + $1.forward + $1.backward }, 1e-12)
        func name(_ layer: ModelBenchmark.LayerTime) -> String { String(repeating: "  ", count: layer.depth) + layer.name }
        func shape(_ layer: ModelBenchmark.LayerTime) -> String { layer.outputShape.map(String.init).joined(separator: "×") }
        let nameWidth = (layers.map { name($0).count } + ["layer".count]).max()! + 2
        let kindWidth = (layers.map(\.kind.count) + ["kind".count]).max()! + 2
        let shapeWidth = (layers.map { shape($0).count } + ["output".count]).max()! + 2
        func left(_ text: String, _ width: Int) -> String {
            text + String(repeating: " ", count: max(0, width - text.count))
        }
        func right(_ text: String, _ width: Int) -> String {
            String(repeating: " ", count: max(0, width - text.count)) + text
        }
        var lines = [left("layer", nameWidth) + left("kind", kindWidth) + left("output", shapeWidth) + right("fwd ms", 9)
                     + right("bwd ms", 9) + right("share", 8)]
        for layer in layers {
            lines.append(left(name(layer), nameWidth) + left(layer.kind, kindWidth) + left(shape(layer), shapeWidth)
                         + right(String(format: "%.3f", layer.forward), 9) + right(String(format: "%.3f", layer.backward), 9)
                         + right(String(format: "%.1f%%", 100 * (layer.forward + layer.backward) / total), 8))
        }
        return lines.joined(separator: "\n")
    }
}

struct BenchOptimizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "optimizer", abstract: "Parameters per second of one optimizer step over a flat buffer.")

    @Option(help: "Optimizer name from the catalogue.") var name: String = "adamw"
    @Option(help: "Number of parameters.") var params: Int = 10_000_000
    @Option(help: "Seconds of measurement.") var seconds: Double = 3
    @Flag(help: "Print {\"params_per_s\":…,\"gbps\":…}.") var json = false

    func validate() throws {
        if params < 1 { throw ValidationError("--params \(params) must be positive") }
    }

    func run() throws {
        let result = try OptimizerBenchmark.run(name: name, parameterCount: params, seconds: seconds)
        print(json ? result.json : result.description)
    }
}
