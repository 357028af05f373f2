import Foundation
import Optimizers
import XCTest

/// Runs the throughput benchmark (small by default; `BIGBATCH_BENCH_PARAMS` sets the size, e.g. 10000000).
final class BenchmarkTests: XCTestCase {
    func testAdamWThroughput() throws {
        let count = ProcessInfo.processInfo.environment["BIGBATCH_BENCH_PARAMS"].flatMap(Int.init) ?? 1_000_000
        for name in ["adamw", "sgd", "lamb"] {
            let result = try OptimizerBenchmark.run(name: name, parameterCount: count, seconds: 1)
            print(String(format: "benchmark %@ on %d params: %.3f G params/s, %.1f GB/s", name, count,
                         result.paramsPerSecond / 1e9, result.bytesPerSecond / 1e9))
            XCTAssertGreaterThan(result.paramsPerSecond, 0)
        }
    }
}
