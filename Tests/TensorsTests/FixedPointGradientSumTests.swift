import Foundation
import Tensors
import XCTest

/// The reproducible mode's arithmetic: sums of chunk gradients that are exact on their grid, so the
/// same chunks give the same bits in any order and any grouping.
final class FixedPointGradientSumTests: XCTestCase {
    static let layout = ParameterLayout([
        ParameterSpec(name: "a.weight", shape: [40, 50], role: .weight),
        ParameterSpec(name: "a.bias", shape: [40], role: .bias),
        ParameterSpec(name: "b.weight", shape: [30_000], role: .weight),  // large enough for several threads
    ])

    /// Chunk gradients with a wide dynamic range: magnitudes from 1e-12 to 10, both signs, some zeros.
    static func chunks(_ count: Int, seed: UInt64) -> [[Float]] {
        let random = KeyedRandom(seed, 1)
        let n = layout.totalCount
        return (0..<count).map { c in
            (0..<n).map { i in
                let base = 3 * (c * n + i)
                if random.uniform(base) < 0.02 { return 0 }
                let magnitude = Float(pow(10, -12 + 13 * Double(random.uniform(base + 1))))
                return random.uniform(base + 2) < 0.5 ? -magnitude : magnitude
            }
        }
    }

    private func sum(_ chunks: [[Float]], exponents: [Int]? = nil) -> [Float] {
        let exact = FixedPointGradientSum(layout: Self.layout, terms: 16)
        if let exponents { exact.setExponents(exponents) }
        for chunk in chunks { chunk.withUnsafeBufferPointer { exact.add($0.baseAddress!) } }
        XCTAssertFalse(exact.overflowed)
        var out = [Float](repeating: .nan, count: Self.layout.totalCount)
        out.withUnsafeMutableBufferPointer { exact.write(into: $0.baseAddress!) }
        return out
    }

    /// Within the documented bound of the float64 sum: each term rounded to the grid (half a grid
    /// step each), then one rounding to float.
    func testSumMatchesFloat64WithinTheGridBound() {
        let chunks = Self.chunks(12, seed: 3)
        let exact = FixedPointGradientSum(layout: Self.layout, terms: 16)
        let result = sum(chunks)
        for (t, slot) in Self.layout.slots.enumerated() {
            let gridStep = pow(2.0, Double(-exact.shift(ofSlot: t)))
            for i in slot.range {
                let reference = chunks.reduce(0.0) { $0 + Double($1[i]) }
                // Terms on the grid, one final rounding, and the float64 reference's own rounding.
                let bound = Double(chunks.count) * gridStep / 2 + Double(result[i].ulp) / 2 + abs(reference) * 0x1p-50
                XCTAssertLessThanOrEqual(abs(Double(result[i]) - reference), bound,
                                         "\(slot.name)[\(i - slot.offset)]: \(result[i]) vs \(reference)")
            }
        }
        // The bound is far below float32's own rounding for all but the tiniest values: with bound 2^16 and
        // L = 4, the grid step is 2^-42 ≈ 2.3e-13.
        XCTAssertEqual(exact.shift(ofSlot: 0), 62 - 4 - FixedPointGradientSum.initialExponent)
    }

    /// Any order and any grouping (three "ranks" whose integer sums are added afterwards) give the same bits.
    func testSumIsIndependentOfOrderAndGrouping() {
        let chunks = Self.chunks(10, seed: 11)
        let forward = sum(chunks)
        let backward = sum(chunks.reversed())
        XCTAssertEqual(forward.map(\.bitPattern), backward.map(\.bitPattern))

        let groups = [[0, 4, 7], [1, 2, 3, 9], [5, 6, 8]]
        let partial = groups.map { group -> FixedPointGradientSum in
            let exact = FixedPointGradientSum(layout: Self.layout, terms: 16)
            for index in group { chunks[index].withUnsafeBufferPointer { exact.add($0.baseAddress!) } }
            return exact
        }
        for other in partial.dropFirst() {
            for i in 0..<Self.layout.totalCount { partial[0].values[i] += other.values[i] }
        }
        var grouped = [Float](repeating: .nan, count: Self.layout.totalCount)
        grouped.withUnsafeMutableBufferPointer { partial[0].write(into: $0.baseAddress!) }
        XCTAssertEqual(grouped.map(\.bitPattern), forward.map(\.bitPattern))

        // The float sum, for contrast, depends on the order for this data.
        let floatForward = (0..<Self.layout.totalCount).map { i in chunks.reduce(Float(0)) { $0 + $1[i] } }
        let floatBackward = (0..<Self.layout.totalCount).map { i in chunks.reversed().reduce(Float(0)) { $0 + $1[i] } }
        XCTAssertNotEqual(floatForward.map(\.bitPattern), floatBackward.map(\.bitPattern))
    }

    /// A value at or above its bound is reported (so the step is recomputed), and after widening the
    /// bounds the same chunks sum exactly; the bounds then follow what was observed.
    func testOverflowIsDetectedAndWideningFixesIt() {
        var chunks = Self.chunks(4, seed: 5)
        chunks[2][3] = 3e5  // above 2^16 in tensor 0
        let exact = FixedPointGradientSum(layout: Self.layout, terms: 16)
        for chunk in chunks { chunk.withUnsafeBufferPointer { exact.add($0.baseAddress!) } }
        XCTAssertTrue(exact.overflowed)
        XCTAssertEqual(exact.observed[0], 19)  // 3e5 < 2^19
        exact.widenBounds()
        XCTAssertEqual(exact.exponents[0], 19 + FixedPointGradientSum.headroomBits)
        XCTAssertEqual(exact.exponents[1], FixedPointGradientSum.initialExponent, "a tensor that fitted keeps its bound")
        exact.reset()
        for chunk in chunks { chunk.withUnsafeBufferPointer { exact.add($0.baseAddress!) } }
        XCTAssertFalse(exact.overflowed)
        var out = [Float](repeating: 0, count: Self.layout.totalCount)
        out.withUnsafeMutableBufferPointer { exact.write(into: $0.baseAddress!) }
        let reference = chunks.reduce(0.0) { $0 + Double($1[3]) }
        XCTAssertEqual(Double(out[3]), reference, accuracy: Double(Float(reference).ulp))
        exact.followObserved()
        XCTAssertEqual(exact.exponents, exact.observed.map { $0 + FixedPointGradientSum.headroomBits })
    }

    func testNonFiniteValuesAreReported() {
        var chunk = Self.chunks(1, seed: 9)[0]
        chunk[Self.layout.totalCount - 1] = .nan
        let exact = FixedPointGradientSum(layout: Self.layout, terms: 2)
        chunk.withUnsafeBufferPointer { exact.add($0.baseAddress!) }
        XCTAssertTrue(exact.sawNonFinite)
        exact.reset()
        XCTAssertFalse(exact.sawNonFinite)
    }

    /// Loss sums in two limbs: exact sums of the limbs, independent of order, within 2⁻⁴¹ per term.
    func testScalarLimbsSumExactly() throws {
        let random = KeyedRandom(4, 4)
        let values = (0..<1000).map { Double(random.uniform($0)) * 5000 + Double(random.uniform($0 + 1000)) * 1e-6 }
        func total(_ values: [Double]) throws -> Double {
            var whole: Int64 = 0, fraction: Int64 = 0
            for value in values {
                let limbs = try XCTUnwrap(FixedPointScalar.limbs(value))
                XCTAssertTrue((0..<(1 << 40)).contains(limbs.fraction))
                whole += limbs.whole
                fraction += limbs.fraction
            }
            return FixedPointScalar.value(whole: whole, fraction: fraction)
        }
        let forward = try total(values), backward = try total(values.reversed())
        XCTAssertEqual(forward.bitPattern, backward.bitPattern)
        XCTAssertEqual(forward, values.reduce(0, +), accuracy: Double(values.count) * 0x1p-41 + forward.ulp)
        XCTAssertNil(FixedPointScalar.limbs(.nan))
        XCTAssertNil(FixedPointScalar.limbs(0x1p41))
        XCTAssertEqual(FixedPointScalar.value(whole: -3, fraction: 1 << 39), -2.5)
    }
}
