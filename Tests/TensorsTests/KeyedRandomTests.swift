import Tensors
import XCTest

final class KeyedRandomTests: XCTestCase {
    func testValuesArePureFunctionsOfKeyAndIndex() {
        let a = KeyedRandom(7, 3, 11), b = KeyedRandom(7, 3, 11), c = KeyedRandom(7, 3, 12)
        XCTAssertEqual((0..<100).map(a.uniform), (0..<100).map(b.uniform))
        XCTAssertNotEqual((0..<100).map(a.uniform), (0..<100).map(c.uniform))
        // Order of evaluation does not matter.
        XCTAssertEqual(a.uniform(57), (0..<100).reversed().map(a.uniform)[42])
    }

    func testUniformMomentsAndRange() {
        let random = KeyedRandom(1)
        let values = (0..<100_000).map(random.uniform)
        XCTAssertTrue(values.allSatisfy { $0 >= 0 && $0 < 1 })
        let mean = values.reduce(0, +) / Float(values.count)
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(values.count)
        XCTAssertEqual(mean, 0.5, accuracy: 0.01)
        XCTAssertEqual(variance, 1.0 / 12.0, accuracy: 0.002)
        var filled = [Float](repeating: -1, count: 10)
        filled.withUnsafeMutableBufferPointer { random.fillUniform($0) }
        XCTAssertEqual(filled, (0..<10).map(random.uniform))
    }

    func testPermutationIsAPermutation() {
        let permutation = KeyedRandom(5, 0).permutation(1000)
        XCTAssertEqual(permutation.sorted(), Array(0..<1000))
        XCTAssertNotEqual(permutation, Array(0..<1000))
        XCTAssertNotEqual(permutation, KeyedRandom(5, 1).permutation(1000))
    }

    func testNormalMoments() {
        let random = KeyedRandom(9)
        let values = (0..<50_000).map(random.normal)
        let mean = values.reduce(0, +) / Float(values.count)
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(values.count)
        XCTAssertEqual(mean, 0, accuracy: 0.02)
        XCTAssertEqual(variance, 1, accuracy: 0.03)
    }
}

final class KeyedRandomArityTests: XCTestCase {
    /// The allocation-free fixed-arity keys equal the variadic ones.
    func testFixedArityMatchesVariadic() {
        let parts: [UInt64] = [3, 1 << 40, 17, 99]
        XCTAssertEqual(KeyedRandom(parts[0]).uniform(5), KeyedRandom(parts: Array(parts[..<1])).uniform(5))
        XCTAssertEqual(KeyedRandom(parts[0], parts[1]).uniform(5), KeyedRandom(parts: Array(parts[..<2])).uniform(5))
        XCTAssertEqual(KeyedRandom(parts[0], parts[1], parts[2]).uniform(5), KeyedRandom(parts: Array(parts[..<3])).uniform(5))
        XCTAssertEqual(KeyedRandom(parts[0], parts[1], parts[2], parts[3]).uniform(5), KeyedRandom(parts: parts).uniform(5))
        XCTAssertNotEqual(KeyedRandom(parts[0], parts[1]).uniform(5), KeyedRandom(parts[1], parts[0]).uniform(5))
    }
}
