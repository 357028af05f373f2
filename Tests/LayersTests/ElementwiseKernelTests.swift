import Foundation
import Tensors
import XCTest

@testable import Layers

/// The SIMD ReLU and dropout kernels against their scalar definitions, bit for bit: at every
/// alignment and length around the SIMD width and the 32-element Philox group, and split over one,
/// two and three threads at sizes on both sides of `Parallel.minimumWork`.
final class ElementwiseKernelTests: XCTestCase {
    /// Normals with the values whose handling differs between a blend and a branch mixed in.
    private func input(_ count: Int, seed: UInt64) -> [Float] {
        var values = randomNormals(count, seed: seed)
        let specials: [Float] = [0, -0.0, .nan, .infinity, -.infinity, .leastNonzeroMagnitude, -.leastNonzeroMagnitude]
        for (i, special) in specials.enumerated() where 5 * i + 2 < count { values[5 * i + 2] = special }
        return values
    }

    private func same(_ a: Float, _ b: Float) -> Bool { a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN) }

    /// ReLU's definition: negatives become 0; NaN and −0 pass through.
    private func relu(_ x: Float) -> Float { x < 0 ? 0 : x }

    /// Each kernel writes exactly `range`, with the scalar value at every index, whatever the range's
    /// start (alignment) and length (vector body plus tail).
    func testKernelsMatchScalarDefinitionOnEveryRange() {
        let count = 75
        let x = input(count, seed: 1), dy = input(count, seed: 2), y = x.map(relu)
        for lower in [0, 1, 3, 7, 8, 9] {
            for upper in lower...count where upper - lower <= 41 || upper == count {
                let range = lower..<upper
                var out = [Float](repeating: 42, count: count)
                Elementwise.relu(x, into: &out, range: range)
                for i in 0..<count {
                    let expected: Float = range.contains(i) ? relu(x[i]) : 42
                    XCTAssertTrue(same(out[i], expected), "relu \(range) [\(i)]: \(out[i]) vs \(expected)")
                }
                out = [Float](repeating: 42, count: count)
                Elementwise.reluGradient(output: y, outputGradient: dy, into: &out, range: range)
                for i in 0..<count {
                    let expected: Float = range.contains(i) ? (y[i] > 0 ? dy[i] : 0) : 42
                    XCTAssertTrue(same(out[i], expected), "relu gradient \(range) [\(i)]")
                }
                out = [Float](repeating: 42, count: count)
                Elementwise.multiply(x, dy, into: &out, range: range)
                for i in 0..<count {
                    let expected: Float = range.contains(i) ? x[i] * dy[i] : 42
                    XCTAssertTrue(same(out[i], expected), "multiply \(range) [\(i)]")
                }
            }
        }
    }

    /// The ReLU layer, split over threads wherever its work allows, equals max(x, 0) and its gradient.
    func testReLULayerAcrossThreadSplits() {
        let features = 1027  // not a multiple of 8, so every thread's range has an unaligned start or a tail
        for threads in [1, 2, 3] {
            for batch in [1, 31, 32, 33, 97] {  // 31 · 1027 < minimumWork < 32 · 1027
                let n = batch * features
                let x = input(n, seed: UInt64(batch)), dy = input(n, seed: UInt64(batch + 100))
                var y = [Float](repeating: 42, count: n), dx = y
                let layer = ActivationLayer(name: "layers.1", inputShape: [features], activation: .relu)
                BLAS.withThreadCount(threads) {
                    layer.forward(x, into: &y, batch: batch, context: .evaluation)
                    layer.backward(input: x, output: y, outputGradient: dy, inputGradient: &dx, batch: batch,
                                   context: .evaluation)
                }
                let wrong = (0..<n).first { !same(y[$0], relu(x[$0])) || !same(dx[$0], y[$0] > 0 ? dy[$0] : 0) }
                XCTAssertNil(wrong, "\(threads) threads, batch \(batch): element \(wrong ?? -1)")
            }
        }
    }

    /// Dropout's masks, outputs and input gradients are keyed by (seed, step, global sample, layer)
    /// alone, bit for bit, for rates including the shipped 0.2 and 0.3, sample lengths that leave a
    /// scalar Philox tail, and every thread split of the samples.
    func testDropoutAcrossThreadSplitsAndLengths() throws {
        for probability in [0.1, 0.2, 0.3, 0.5] {
            for features in [1, 3, 4, 31, 32, 33, 100, 513, 4099] {
                for threads in [1, 2, 3] {
                    // Enough samples for the threaded split (8 · batch · features ≥ minimumWork) where possible.
                    let batch = max(3, min(64, Parallel.minimumWork / (8 * features) + 1))
                    try checkDropout(probability: probability, features: features, batch: batch, threads: threads)
                }
            }
        }
    }

    private func checkDropout(probability: Double, features: Int, batch: Int, threads: Int) throws {
        let layerIndex = 5, seed: UInt64 = 11, step = 17
        let layer = try Dropout(name: "layers.5", inputShape: [features], probability: probability, layerIndex: layerIndex)
        layer.reserve(batch: batch)
        let n = batch * features
        let x = randomNormals(n, seed: UInt64(features)), dy = randomNormals(n, seed: UInt64(features + 1))
        let indices = (0..<batch).map { 59_999 - 13 * $0 }
        var y = [Float](repeating: .nan, count: n), dx = y
        BLAS.withThreadCount(threads) {
            indices.withUnsafeBufferPointer { indices in
                let context = PassContext(training: true, seed: seed, step: step, sampleIndices: indices.baseAddress)
                layer.forward(x, into: &y, batch: batch, context: context)
                layer.backward(input: x, output: y, outputGradient: dy, inputGradient: &dx, batch: batch,
                               context: context)
            }
        }
        let p = Float(probability), scale = 1 / (1 - p)
        for b in 0..<batch {
            let random = KeyedRandom(seed, UInt64(step), UInt64(indices[b]), UInt64(layerIndex))
            for j in 0..<features {
                let multiplier: Float = random.uniform(j) >= p ? scale : 0
                let i = b * features + j
                guard same(y[i], x[i] * multiplier), same(dx[i], dy[i] * multiplier) else {
                    return XCTFail("p \(probability), \(features) features, \(threads) threads: sample \(b) unit \(j)")
                }
            }
        }
    }

    /// The mask alone, written by the SIMD groups and the scalar tail, for every length up to two groups.
    func testMaskOfEveryShortLength() {
        for count in 1...70 {
            var mask = [Float](repeating: -1, count: count + 1)
            Dropout.fillMask(&mask, count: count, probability: 0.2, seed: 3, step: 4, sampleIndex: 5, layerIndex: 6)
            let random = KeyedRandom(UInt64(3), UInt64(4), UInt64(5), UInt64(6))
            for j in 0..<count { XCTAssertEqual(mask[j], random.uniform(j) >= Float(0.2) ? 1 / (1 - Float(0.2)) : 0) }
            XCTAssertEqual(mask[count], -1, "length \(count) wrote past its end")
        }
    }
}

/// The SIMD exp, tanh and GELU against double-precision references, and independent of where a range splits.
final class TranscendentalKernelTests: XCTestCase {
    func testExpAndTanhAreAccurate() {
        var worstExp = 0.0, worstTanh = 0.0
        for i in 0..<20_000 {
            let x = Float(-87 + 175 * Double(i) / 20_000)
            let e = Double(Elementwise.exp(x))
            worstExp = max(worstExp, abs(e - Foundation.exp(Double(x))) / Foundation.exp(Double(x)))
            let u = Float(-20 + 40 * Double(i) / 20_000)
            let t = Double(Elementwise.tanh(u))
            worstTanh = max(worstTanh, abs(t - Foundation.tanh(Double(u))))
        }
        XCTAssertLessThan(worstExp, 3e-7)
        XCTAssertLessThan(worstTanh, 3e-7)
        XCTAssertEqual(Elementwise.tanh(100), 1)
        XCTAssertEqual(Elementwise.tanh(-100), -1)
        XCTAssertTrue(Elementwise.tanh(.nan).isNaN)
        XCTAssertTrue(Elementwise.exp(.nan).isNaN)
        // The softmax helpers: sums in a fixed lane order, NaN seen by the maximum.
        let row: [Float] = (0..<19).map { Float($0) * 0.3 - 2 }
        var out = [Float](repeating: 0, count: 19)
        let total = row.withUnsafeBufferPointer { x in
            out.withUnsafeMutableBufferPointer { Elementwise.exponentials(x.baseAddress!, minus: 1, into: $0.baseAddress!, count: 19) }
        }
        XCTAssertEqual(Double(total), row.reduce(0.0) { $0 + Foundation.exp(Double($1) - 1) }, accuracy: 1e-5)
        XCTAssertEqual(row.withUnsafeBufferPointer { Elementwise.maximum($0.baseAddress!, count: 19) }, row.max())
        XCTAssertTrue([1, .nan, 3].withUnsafeBufferPointer { Elementwise.maximum($0.baseAddress!, count: 3) }.isNaN)
    }

    func testGELUMatchesItsDefinitionWhateverTheSplit() {
        let x = (0..<61).map { Float($0 - 30) * 0.2 + 0.013 }
        var whole = [Float](repeating: 0, count: x.count), pieces = whole
        var gradient = whole, gradientPieces = whole
        let dy = (0..<61).map { Float($0 % 7) - 3 }
        x.withUnsafeBufferPointer { xs in
            dy.withUnsafeBufferPointer { dys in
                whole.withUnsafeMutableBufferPointer { Elementwise.gelu(xs.baseAddress!, into: $0.baseAddress!, range: 0..<61) }
                gradient.withUnsafeMutableBufferPointer {
                    Elementwise.geluGradient(input: xs.baseAddress!, outputGradient: dys.baseAddress!, into: $0.baseAddress!,
                                             range: 0..<61)
                }
                for start in stride(from: 0, to: 61, by: 5) {
                    let range = start..<min(start + 5, 61)
                    pieces.withUnsafeMutableBufferPointer { Elementwise.gelu(xs.baseAddress!, into: $0.baseAddress!, range: range) }
                    gradientPieces.withUnsafeMutableBufferPointer {
                        Elementwise.geluGradient(input: xs.baseAddress!, outputGradient: dys.baseAddress!,
                                                 into: $0.baseAddress!, range: range)
                    }
                }
            }
        }
        XCTAssertEqual(whole, pieces)
        XCTAssertEqual(gradient, gradientPieces)
        for (v, y) in zip(x, whole) {
            let d = Double(v)
            let expected = 0.5 * d * (1 + Foundation.tanh(0.7978845608028654 * (d + 0.044715 * d * d * d)))
            XCTAssertEqual(Double(y), expected, accuracy: 1e-6 * max(1, abs(d)))
        }
    }
}
