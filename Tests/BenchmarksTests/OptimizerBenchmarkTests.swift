import Benchmarks
import Foundation
import Optimizers
import XCTest

/// Runs the throughput benchmark (small by default; `BIGBATCH_BENCH_PARAMS` sets the size, e.g. 10000000,
/// `BIGBATCH_BENCH_NAMES` a comma-separated list of optimizers, `BIGBATCH_BENCH_SECONDS` the duration).
final class BenchmarkTests: XCTestCase {
    func testThroughputReport() throws {
        let environment = ProcessInfo.processInfo.environment
        let count = environment["BIGBATCH_BENCH_PARAMS"].flatMap(Int.init) ?? 1_000_000
        let seconds = environment["BIGBATCH_BENCH_SECONDS"].flatMap(Double.init) ?? 0.5
        let names = environment["BIGBATCH_BENCH_NAMES"]?.split(separator: ",").map(String.init) ?? ["adamw", "sgd", "lamb"]
        for name in names {
            let result = try OptimizerBenchmark.run(name: name, parameterCount: count, seconds: seconds)
            print("benchmark \(result)")
            print("benchmark-json \(result.json)")
            XCTAssertEqual(result.parameterCount, count)
            XCTAssertGreaterThanOrEqual(result.steps, 5)
            XCTAssertGreaterThan(result.paramsPerSecond, 0)
            XCTAssertLessThanOrEqual(result.minimumStepSeconds, result.medianStepSeconds)
        }
    }

    /// AdamW keeps m and v: 12 bytes for p and g plus 16 for the two moments.
    func testAdamWMovesTwentyEightBytesPerParameter() throws {
        let result = try OptimizerBenchmark.run(name: "adamw", parameterCount: 3000, seconds: 0.01)
        XCTAssertEqual(result.bytesPerParameter, 28)
        XCTAssertEqual(result.bytesPerSecond, 28 * result.paramsPerSecond, accuracy: 1e-6 * result.bytesPerSecond)
        XCTAssertTrue(result.json.contains("\"params_per_s\":"))
        // The fused AdamW kernel leaves the gradient alone; SGD's chain turns it into the update in place.
        XCTAssertFalse(result.refillsGradients)
        XCTAssertTrue(try OptimizerBenchmark.run(name: "sgd", parameterCount: 3000, seconds: 0.01).refillsGradients)
    }
}
