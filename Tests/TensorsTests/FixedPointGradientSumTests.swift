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
        // L = 4, terms take 51 bits and the grid step is 2^-35 ≈ 2.9e-11.
        XCTAssertEqual(exact.magnitudeBits, 51)
        XCTAssertEqual(exact.shift(ofSlot: 0), 51 - FixedPointGradientSum.initialExponent)
    }

    /// The kernel's integers, exactly: half a grid step rounds to even, and a value just below the bound
    /// becomes a term just below 2^51 (the largest the double arithmetic rounds exactly), of either sign.
    func testTermsRoundHalfToEvenUpToTheLimit() {
        let exact = FixedPointGradientSum(layout: Self.layout, terms: 16)
        exact.setExponents([0, 0, 0])  // grid 2^-51 in every tensor
        var chunk = [Float](repeating: 0, count: Self.layout.totalCount)
        let below = Float(1).nextDown  // 1 − 2^-24, the largest value under the bound 2^0
        chunk[0] = below
        chunk[1] = -below
        chunk[2] = 0x1.8p-51  // 1.5 steps → 2
        chunk[3] = 0x1.4p-50  // 2.5 steps → 2
        chunk[4] = -0x1.4p-50  // −2.5 steps → −2
        chunk[5] = 0x1.cp-52  // 0.875 steps → 1
        chunk.withUnsafeBufferPointer { exact.add($0.baseAddress!) }
        chunk.withUnsafeBufferPointer { exact.add($0.baseAddress!) }
        XCTAssertFalse(exact.overflowed)
        let limit = Int64(1) << 51, term = limit - (limit >> 24)
        XCTAssertEqual(Array(exact.values[0..<6]), [2 * term, -2 * term, 4, 4, -4, 2])
        var out = [Float](repeating: .nan, count: Self.layout.totalCount)
        out.withUnsafeMutableBufferPointer { exact.write(into: $0.baseAddress!) }
        XCTAssertEqual(Array(out[0..<6]), [2 * below, -2 * below, 0x1p-49, 0x1p-49, -0x1p-49, 0x1p-50])
    }

    /// The final conversion rounds each integer once, to nearest even, on both of its paths: integers
    /// below 2^51 (the vectorized one) and a block holding a larger one (the scalar one).
    func testConversionRoundsOnceOnBothPaths() {
        let exact = FixedPointGradientSum(layout: Self.layout, terms: 16)
        exact.setExponents([0, 0, 0])
        let shift = exact.shift(ofSlot: 2), start = Self.layout.slots[2].offset
        let small: [Int64] = [(1 << 24) + 1, (1 << 24) + 3, -((1 << 25) + 2), 12_345_678_901, (1 << 51) - 1, -(1 << 51)]
        let large: [Int64] = [(1 << 60) + 1, -(1 << 61) - (1 << 37), (1 << 62) - 1]
        let values = exact.values
        for (i, v) in small.enumerated() { values[start + i] = v }  // block 0: all below 2^51
        for (i, v) in (small + large).enumerated() { values[start + 512 + i] = v }  // block 2: some above
        var out = [Float](repeating: .nan, count: Self.layout.totalCount)
        out.withUnsafeMutableBufferPointer { exact.write(into: $0.baseAddress!) }
        func expected(_ v: Int64) -> Float { Float(v) * Float(sign: .plus, exponent: -shift, significand: 1) }
        XCTAssertEqual(out[start..<(start + small.count)].map(\.bitPattern), small.map { expected($0).bitPattern })
        XCTAssertEqual(out[(start + 512)..<(start + 512 + small.count + large.count)].map(\.bitPattern),
                       (small + large).map { expected($0).bitPattern })
    }

    /// `take` is `add` that empties the chunk's buffer, and after a `reset` it overwrites the previous
    /// step's sums rather than adding to them; a sum of nothing reads as zero.
    func testTakeAddsAndEmptiesTheBuffer() {
        let chunks = Self.chunks(3, seed: 21)
        let added = FixedPointGradientSum(layout: Self.layout, terms: 16)
        for chunk in chunks { chunk.withUnsafeBufferPointer { added.add($0.baseAddress!) } }
        let taken = FixedPointGradientSum(layout: Self.layout, terms: 16)
        for step in 0..<2 {
            taken.reset()
            if step == 1 { XCTAssertTrue(taken.values.allSatisfy { $0 == 0 }, "no chunk yet: zero") }
            for chunk in chunks {
                var buffer = chunk
                buffer.withUnsafeMutableBufferPointer { taken.take($0.baseAddress!) }
                XCTAssertTrue(buffer.allSatisfy { $0 == 0 })
            }
            XCTAssertEqual(Array(taken.values), Array(added.values), "step \(step)")
            XCTAssertEqual(taken.observed, added.observed)
        }
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
