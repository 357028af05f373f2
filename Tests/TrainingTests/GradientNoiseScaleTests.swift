import Foundation
import Reporting
@testable import Training
import XCTest

/// The noise-scale estimators against exact expected values: per-item gradients drawn from a small
/// discrete distribution, every possible batch enumerated, so the mean of an estimate over all of
/// them *is* its expectation — and unbiasedness is checked without sampling error.
final class GradientNoiseScaleTests: XCTestCase {
    /// Three equally likely per-item gradients in ℝ²: G is their mean, tr Σ their mean squared
    /// distance from it.
    static let items: [[Double]] = [[1, 0], [0, 2], [-1, 1]]
    static let mean: [Double] = [0, 1]
    static var trace: Double { items.map { zip($0, mean).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) }.reduce(0, +) / 3 }

    private func squaredNorm(_ v: [Double]) -> Double { v.map { $0 * $0 }.reduce(0, +) }

    private func sum(_ draws: ArraySlice<Int>) -> [Double] {
        draws.reduce(into: [0.0, 0.0]) { total, item in
            for axis in 0..<2 { total[axis] += Self.items[item][axis] }
        }
    }

    /// The mean estimate over every batch of `batch` items whose leading items form `parts` (sizes in
    /// order; items after the parts belong to the batch only, as on one rank with k micro-batches).
    private func expectedEstimate(batch: Int, parts: [Int]) -> GradientNoiseEstimate {
        var total = GradientNoiseEstimate(gradientSquared: 0, trace: 0)
        var draws = [Int](repeating: 0, count: batch)
        let combinations = Int(pow(3.0, Double(batch)))
        for code in 0..<combinations {
            var rest = code
            for i in 0..<batch { draws[i] = rest % 3; rest /= 3 }
            var statistics = GradientNoiseStatistics()
            var start = 0
            for size in parts {
                statistics.add(squaredNorm: squaredNorm(sum(draws[start..<(start + size)])), items: size)
                start += size
            }
            let estimate = statistics.estimate(batchSquaredNorm: squaredNorm(sum(draws[...])), batchItems: Double(batch))!
            total.gradientSquared += estimate.gradientSquared / Double(combinations)
            total.trace += estimate.trace / Double(combinations)
        }
        return total
    }

    func testThePartEstimatesAreUnbiasedForAnyPartSizes() {
        let gradientSquared = squaredNorm(Self.mean)
        XCTAssertEqual(Self.trace, 4.0 / 3.0, accuracy: 1e-15)  // |G|² = 1, tr Σ = 4/3: B_simple = 4/3
        // Even shares, uneven shares, and parts that leave items out (one rank's first micro-batch).
        for (batch, parts) in [(4, [2, 2]), (6, [3, 2, 1]), (5, [2, 1, 1]), (6, [2])] {
            let expected = expectedEstimate(batch: batch, parts: parts)
            XCTAssertEqual(expected.gradientSquared, gradientSquared, accuracy: 1e-12, "|G|², batch \(batch), parts \(parts)")
            XCTAssertEqual(expected.trace, Self.trace, accuracy: 1e-12, "tr Σ, batch \(batch), parts \(parts)")
        }
    }

    /// For R equal parts of b items the solution is appendix A's two-size formula.
    func testEqualPartsGiveTheAppendixFormula() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20 {
            let ranks = Int.random(in: 2...8, using: &generator), share = Int.random(in: 1...64, using: &generator)
            let b = Double(share), batch = Double(ranks * share)
            var statistics = GradientNoiseStatistics()
            var partNorms = 0.0
            for _ in 0..<ranks {
                let norm = Double.random(in: 0...1000, using: &generator)
                statistics.add(squaredNorm: norm, items: share)
                partNorms += norm
            }
            let whole = Double.random(in: 0...(partNorms * Double(ranks)), using: &generator)
            let estimate = statistics.estimate(batchSquaredNorm: whole, batchItems: batch)!
            let appendix = GradientNoiseEstimate.twoBatchSizes(small: partNorms / Double(ranks) / (b * b), smallBatch: b,
                                                               big: whole / (batch * batch), bigBatch: batch)
            XCTAssertEqual(estimate.gradientSquared, appendix.gradientSquared,
                           accuracy: 1e-9 * max(1, abs(appendix.gradientSquared)), "R \(ranks) × b \(share)")
            XCTAssertEqual(estimate.trace, appendix.trace, accuracy: 1e-9 * max(1, abs(appendix.trace)), "R \(ranks) × b \(share)")
        }
    }

    func testNoEstimateWithoutADifferentBatchSize() {
        var one = GradientNoiseStatistics()
        one.add(squaredNorm: 5, items: 8)
        XCTAssertNil(one.estimate(batchSquaredNorm: 5, batchItems: 8), "one part that is the whole batch")
        XCTAssertNil(GradientNoiseStatistics().estimate(batchSquaredNorm: 5, batchItems: 8), "no part")
        var infinite = GradientNoiseStatistics()
        infinite.add(squaredNorm: .infinity, items: 2)
        XCTAssertNil(infinite.estimate(batchSquaredNorm: 5, batchItems: 8))
    }

    /// The two averages are kept apart and bias-corrected; B_simple is their ratio.
    func testTheAveragesAreBiasCorrectedAndDividedOnlyAtTheEnd() throws {
        var scale = GradientNoiseScale(beta: 0.5)
        XCTAssertNil(scale.noiseScale)
        scale.add(GradientNoiseEstimate(gradientSquared: 1, trace: 10))
        XCTAssertEqual(scale.smoothed, GradientNoiseEstimate(gradientSquared: 1, trace: 10), "one estimate, fully corrected")
        scale.add(GradientNoiseEstimate(gradientSquared: 3, trace: 30))
        // Raw: G² 0.5·0.5 + 0.5·3 = 1.75, tr 17.5, weight 0.75.
        let smoothed = try XCTUnwrap(scale.smoothed)
        XCTAssertEqual(smoothed.gradientSquared, 1.75 / 0.75, accuracy: 1e-15)
        XCTAssertEqual(smoothed.trace, 17.5 / 0.75, accuracy: 1e-14)
        XCTAssertEqual(try XCTUnwrap(scale.noiseScale), 10, accuracy: 1e-13)
        scale.add(GradientNoiseEstimate(gradientSquared: 1, trace: 30))
        // Averaged ratios would give 0.5·10 + 0.5·30 = 20 (with correction ~21); the ratio of averages:
        XCTAssertEqual(try XCTUnwrap(scale.noiseScale), (0.5 * 17.5 + 15) / (0.5 * 1.75 + 0.5), accuracy: 1e-12)
        var negative = GradientNoiseScale()
        negative.add(GradientNoiseEstimate(gradientSquared: -0.1, trace: 10))
        XCTAssertNil(negative.noiseScale, "undefined while the signal estimate is not positive")
    }

    func testTheStateRoundTripsThroughCheckpointMetadata() throws {
        var scale = GradientNoiseScale()
        scale.add(GradientNoiseEstimate(gradientSquared: 0.123456789, trace: 98.7654321))
        scale.add(GradientNoiseEstimate(gradientSquared: 0.3, trace: 1.0 / 3))
        var restored = GradientNoiseScale()
        try restored.restore(from: scale.strings, file: "x.safetensors")
        XCTAssertEqual(restored, scale)
        var untouched = GradientNoiseScale()
        try untouched.restore(from: [:], file: "old.safetensors")
        XCTAssertEqual(untouched, GradientNoiseScale(), "a checkpoint from before the noise scale starts afresh")
        var broken = scale.strings
        broken[GradientNoiseScale.traceKey] = "many"
        XCTAssertThrowsError(try untouched.restore(from: broken, file: "bad.safetensors")) {
            XCTAssertTrue("\($0)".contains("bad.safetensors") && "\($0)".contains(GradientNoiseScale.traceKey), "\($0)")
        }
    }

    func testStepRecordsCarryTheNoiseScaleOrNull() throws {
        var record = StepRecord(step: 1, epoch: 0, loss: 1, learningRate: 0.1, gradientNorm: 1, items: 8,
                                samplesPerSecond: 1, seconds: StepTimings(compute: 0, communication: 0, optimizer: 0), elapsed: 0)
        let undefined = String(decoding: try MetricsCoding.makeEncoder().encode(record), as: UTF8.self)
        XCTAssertTrue(undefined.contains("\"grad_noise_scale\":null"), undefined)
        record.gradientNoiseScale = 412.5
        record.noiseTrace = 41.25
        record.noiseGradientSquared = 0.1
        let line = try MetricsCoding.makeEncoder().encode(record)
        XCTAssertEqual(try MetricsCoding.makeDecoder().decode(StepRecord.self, from: line), record)
    }
}
