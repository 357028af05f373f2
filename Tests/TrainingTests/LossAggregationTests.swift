import Configuration
import Foundation
import Layers
import Training
import XCTest

/// The soft median's weights against their definition, and the `loss` section's checks.
final class LossAggregationTests: XCTestCase {
    typealias Sample = LossAggregation.SampleLoss

    func testWeightsFollowTheRankOfEachLoss() {
        // Losses per item 0.9, 0.1, 0.5, 0.3, 5.0 (an outlier): ranks 3, 0, 2, 1, 4; N = 5, m = 2, T = 0.25·5.
        let samples = [Sample(index: 10, loss: LossSum(sum: 0.9, items: 1)), Sample(index: 11, loss: LossSum(sum: 0.1, items: 1)),
                       Sample(index: 12, loss: LossSum(sum: 0.5, items: 1)), Sample(index: 13, loss: LossSum(sum: 0.3, items: 1)),
                       Sample(index: 14, loss: LossSum(sum: 5.0, items: 1))]
        let weights = LossAggregation.softMedianWeights(samples, temperature: 0.25)
        let ranks = [3.0, 0, 2, 1, 4], t = 0.25 * 5
        let raw = ranks.map { exp(-abs($0 - 2) / t) }, total = raw.reduce(0, +)
        for (weight, r) in zip(weights, raw) { XCTAssertEqual(Double(weight), 5 * r / total, accuracy: 1e-6) }
        XCTAssertEqual(weights.reduce(0, +), 5, accuracy: 1e-5, "the weights average 1")
        XCTAssertEqual(weights[2], weights.max(), "the median sample weighs most")
        XCTAssertEqual(weights[4], weights[1], accuracy: 1e-7, "both extremes weigh alike, however far out")
        // The outlier's weight does not depend on how far out it is.
        var farther = samples
        farther[4].loss.sum = 500
        XCTAssertEqual(LossAggregation.softMedianWeights(farther, temperature: 0.25), weights)
    }

    /// Per counted item, so a sequence with fewer counted tokens is not ranked easier; samples
    /// counting nothing weigh 0; equal losses are ordered by data set index, not by position.
    func testMeansTiesAndEmptySamples() {
        let samples = [Sample(index: 7, loss: LossSum(sum: 4, items: 4)), Sample(index: 3, loss: LossSum(sum: 2, items: 2)),
                       Sample(index: 5, loss: LossSum(sum: 0, items: 0)), Sample(index: 9, loss: LossSum(sum: 0.5, items: 1))]
        let weights = LossAggregation.softMedianWeights(samples, temperature: 0.5)
        XCTAssertEqual(weights[2], 0)
        // Counted: 9 (0.5/item) rank 0, then 3 and 7 (1/item) by index: 3 rank 1, 7 rank 2; m = 1.
        let raw = [exp(-1 / 1.5), exp(0.0), exp(-1 / 1.5)], total = raw.reduce(0, +)
        XCTAssertEqual(Double(weights[1]), 3 * raw[1] / total, accuracy: 1e-6)
        XCTAssertEqual(Double(weights[0]), 3 * raw[2] / total, accuracy: 1e-6)
        XCTAssertEqual(Double(weights[3]), 3 * raw[0] / total, accuracy: 1e-6)
        // The order the ranks deliver the samples in does not matter.
        let permuted = LossAggregation.softMedianWeights([samples[3], samples[0], samples[2], samples[1]], temperature: 0.5)
        XCTAssertEqual(permuted, [weights[3], weights[0], weights[2], weights[1]])
        XCTAssertEqual(LossAggregation.softMedianWeights([], temperature: 1), [])
    }

    func testHighTemperatureIsTheMean() {
        let samples = (0..<64).map { Sample(index: $0, loss: LossSum(sum: Double(($0 * 37) % 64), items: 1)) }
        for weight in LossAggregation.softMedianWeights(samples, temperature: 1e6) { XCTAssertEqual(weight, 1, accuracy: 1e-6) }
    }

    func testSectionIsChecked() throws {
        func read(_ entries: [(String, ConfigValue)]) throws -> LossAggregation {
            try LossAggregation.read(from: ConfigSection(map: ConfigMap(entries.map { (key: $0.0, value: $0.1) }), path: "loss"))
        }
        XCTAssertEqual(try read([]), .mean)
        XCTAssertEqual(try read([("aggregation", .string("soft_median"))]), .softMedian(temperature: 0.25))
        XCTAssertEqual(try read([("aggregation", .string("soft_median")), ("temperature", .double(2))]), .softMedian(temperature: 2))
        for (entries, key) in [([("aggregation", ConfigValue.string("median"))], "loss.aggregation"),
                               ([("aggregation", .string("soft_median")), ("temperature", .double(0))], "loss.temperature"),
                               ([("temperature", .double(1))], "loss.temperature"),
                               ([("aggregation", .string("soft_median")), ("temprature", .double(1))], "loss.temprature")] {
            XCTAssertThrowsError(try read(entries)) { XCTAssertTrue("\($0)".contains(key), "\($0)") }
        }
    }
}
