import Foundation
import XCTest
@testable import TensorBoard

final class HistogramTests: XCTestCase {
    func testDefaultLimitsAreTensorFlows() {
        let limits = Histogram.defaultLimits
        // 775 positive limits (1e-12 · 1.1^k below 1e20, then the largest double), mirrored, and 0.
        XCTAssertEqual(limits.count, 1551)
        XCTAssertEqual(limits[limits.count - 2], 1e-12 * pow(1.1, 773), accuracy: 1e8)
        XCTAssertLessThan(limits[limits.count - 2], 1e20)
        XCTAssertGreaterThanOrEqual(limits[limits.count - 2] * 1.1, 1e20)
        XCTAssertEqual(limits.first, -.greatestFiniteMagnitude)
        XCTAssertEqual(limits.last, .greatestFiniteMagnitude)
        XCTAssertEqual(limits[limits.count / 2], 0)
        XCTAssertEqual(limits[limits.count / 2 + 1], 1e-12)
        XCTAssertEqual(limits, limits.sorted())
    }

    /// Each value lands in the bucket whose range [previous limit, limit) holds it; empty runs merge.
    func testBucketsHoldTheirValues() {
        let values: [Float] = [0, 0, 1, 1, 1, -2.5, 1e-3, 7, .nan, .infinity]
        let histogram = values.withUnsafeBufferPointer { Histogram($0) }
        XCTAssertEqual(histogram.count, 8)
        XCTAssertEqual(histogram.nonFiniteCount, 2)
        XCTAssertEqual(histogram.bucketCounts.reduce(0, +), 8)
        XCTAssertEqual(histogram.minimum, -2.5)
        XCTAssertEqual(histogram.maximum, 7)
        XCTAssertEqual(histogram.sum, 0 + 3 - 2.5 + Double(Float(1e-3)) + 7, accuracy: 1e-12)
        XCTAssertEqual(histogram.sumOfSquares, 3 + 6.25 + Double(Float(1e-3)) * Double(Float(1e-3)) + 49, accuracy: 1e-12)
        XCTAssertEqual(histogram.bucketLimits, histogram.bucketLimits.sorted())
        XCTAssertEqual(histogram.bucketLimits.last, .greatestFiniteMagnitude)
        for value in values where value.isFinite {
            let x = Double(value)
            let index = histogram.bucketLimits.firstIndex { $0 > x }!
            XCTAssertGreaterThan(histogram.bucketCounts[index], 0, "the bucket of \(x) is empty")
            if index > 0 { XCTAssertLessThanOrEqual(histogram.bucketLimits[index - 1], x) }
        }
        // Five distinct finite values (and the empty runs between them) instead of 1 551 buckets.
        XCTAssertEqual(histogram.bucketCounts.filter { $0 > 0 }.count, 5)
        XCTAssertLessThan(histogram.bucketCounts.count, 12)
        for pair in zip(histogram.bucketCounts, histogram.bucketCounts.dropFirst()) {
            XCTAssertFalse(pair.0 == 0 && pair.1 == 0, "two empty buckets in a row were not merged")
        }
    }

    /// The logarithmic guess lands every value where a search of the limits puts it, limits themselves included.
    func testBucketOfEveryValueMatchesASearch() {
        let limits = Histogram.defaultLimits
        var values: [Double] = [0, 1e-13, -1e-13, 1e-12, -1e-12, .greatestFiniteMagnitude, -.greatestFiniteMagnitude]
        values += limits.filter(\.isFinite).flatMap { [$0, $0.nextUp, $0.nextDown, $0 * 1.05] }
        var random = SystemRandomNumberGenerator()
        values += (0..<20_000).map { _ in Double.random(in: -30...30, using: &random) }.map { copysign(pow(10, $0), $0) }
        for value in values {
            let searched = limits.firstIndex { $0 > value } ?? limits.count - 1
            let found = Histogram.bucketIndex(of: value, limits: limits, guess: Histogram.guessIndex(of: value, count: limits.count))
            XCTAssertEqual(found, searched, "\(value)")
            if found != searched { return }
        }
    }

    func testEmptyTensor() {
        let histogram = [Float]().withUnsafeBufferPointer { Histogram($0) }
        XCTAssertEqual(histogram.count, 0)
        XCTAssertEqual(histogram.bucketCounts, [0])
        XCTAssertEqual(histogram.bucketLimits, [.greatestFiniteMagnitude])
    }
}
