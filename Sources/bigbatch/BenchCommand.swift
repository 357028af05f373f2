import ArgumentParser
import Foundation
import Tensors

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Measure the speed of the building blocks.",
        subcommands: [BenchGEMMCommand.self, BenchAllReduceCommand.self])
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
