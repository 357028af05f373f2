import ArgumentParser
import Foundation
import Tensors

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Measure the speed of the building blocks.",
        subcommands: [BenchGEMMCommand.self])
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
