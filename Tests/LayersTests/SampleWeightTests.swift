import Foundation
import Tensors
import XCTest

@testable import Layers

/// Per-sample weights in a training pass (the soft median's second pass) and the per-sample losses
/// of its first pass, against samples computed one by one.
final class SampleWeightTests: XCTestCase {
    /// Three sequences with two ignored targets each and dropout on: the weights scale every counted
    /// token of their sample, and the per-sample losses are each sample's own (same dropout keys).
    static func model() throws -> Model {
        let model = try Model(spec: .gpt(blockSize: 8, layers: 2, heads: 2, width: 8, dropout: 0.2), inputShape: [6],
                              targetsPerSample: 6, classes: 11)
        model.initializeParameters(seed: 3)
        return model
    }

    struct Data {
        var tokens: [Float], targets: [Int32], indices: [Int]
        let count = 3, length = 6

        init() {
            let random = KeyedRandom(4, 5)
            let stream = (0..<19).map { random.integer($0, below: 11) }
            tokens = (0..<18).map { Float(stream[$0]) }
            targets = (0..<18).map { Int32(stream[$0 + 1]) }
            for sample in 0..<3 { for position in [4, 5] where sample != 1 { targets[sample * 6 + position] = -1 } }
            indices = [700, 703, 706]
        }

        func sample(_ i: Int) -> Data {
            var part = self
            part.tokens = Array(tokens[(i * length)..<((i + 1) * length)])
            part.targets = Array(targets[(i * length)..<((i + 1) * length)])
            part.indices = [indices[i]]
            return part
        }

        var samples: Int { indices.count }
    }

    static func pass(_ model: Model, _ data: Data, weights: [Float]? = nil) -> (loss: LossSum, gradients: [Float]) {
        model.store.zeroGradients()
        let loss = data.tokens.withUnsafeBufferPointer { x in
            data.targets.withUnsafeBufferPointer { y in
                data.indices.withUnsafeBufferPointer { i in
                    weights.withUnsafeBufferPointerOrNil { w in
                        model.forwardBackward(inputs: x, targets: y, sampleIndices: i, count: data.samples, seed: 11, step: 2,
                                              sampleWeights: w)
                    }
                }
            }
        }
        return (loss, model.store.gradients.array)
    }

    static func losses(_ model: Model, _ data: Data, chunk: Int?) -> [LossSum] {
        var result = [LossSum](repeating: LossSum(), count: data.samples)
        data.tokens.withUnsafeBufferPointer { x in
            data.targets.withUnsafeBufferPointer { y in
                data.indices.withUnsafeBufferPointer { i in
                    result.withUnsafeMutableBufferPointer {
                        model.sampleLosses(inputs: x, targets: y, sampleIndices: i, count: data.samples, chunk: chunk,
                                           seed: 11, step: 2, into: $0.baseAddress!)
                    }
                }
            }
        }
        return result
    }

    func testWeightedPassIsTheWeightedSumOfItsSamples() throws {
        let model = try Self.model(), data = Data(), weights: [Float] = [0.5, 1.75, 0.75]
        let alone = (0..<data.samples).map { Self.pass(model, data.sample($0)) }
        let weighted = Self.pass(model, data, weights: weights)
        XCTAssertEqual(weighted.loss.items, 4 + 6 + 4)
        let expectedLoss = zip(weights, alone).reduce(0) { $0 + Double($1.0) * $1.1.loss.sum }
        XCTAssertEqual(weighted.loss.sum, expectedLoss, accuracy: 1e-5 * expectedLoss)
        var expected = [Float](repeating: 0, count: weighted.gradients.count)
        for (w, part) in zip(weights, alone) { for j in expected.indices { expected[j] += w * part.gradients[j] } }
        XCTAssertLessThan(relativeDistance(weighted.gradients, expected), 1e-5)
        // Weights of 1 are the unweighted pass, bit for bit.
        let plain = Self.pass(model, data), ones = Self.pass(model, data, weights: [1, 1, 1])
        XCTAssertEqual(ones.gradients, plain.gradients)
        XCTAssertEqual(ones.loss.items, plain.loss.items)
        XCTAssertEqual(ones.loss.sum, plain.loss.sum, accuracy: 1e-12 * plain.loss.sum)
    }

    /// The first pass's losses are the ones the second pass weights: dropout keyed alike. In chunks
    /// of one they are the single-sample pass's bits; in one batch, equal to rounding.
    func testSampleLossesAreEachSamplesOwnLoss() throws {
        let model = try Self.model(), data = Data()
        let alone = (0..<data.samples).map { Self.pass(model, data.sample($0)).loss }
        XCTAssertEqual(Self.losses(model, data, chunk: 1), alone)
        for (loss, single) in zip(Self.losses(model, data, chunk: nil), alone) {
            XCTAssertEqual(loss.items, single.items)
            XCTAssertEqual(loss.sum, single.sum, accuracy: 1e-5 * single.sum)
        }
        XCTAssertEqual(Self.losses(model, data, chunk: 2).map(\.items), alone.map(\.items))
        // Dropout is on: a pass keyed at another step sees other masks and another loss.
        let other = data.tokens.withUnsafeBufferPointer { x in
            data.targets.withUnsafeBufferPointer { y in
                data.indices.withUnsafeBufferPointer { i in
                    model.forwardBackward(inputs: x, targets: y, sampleIndices: i, count: 3, seed: 11, step: 3)
                }
            }
        }
        XCTAssertNotEqual(other.sum, alone.reduce(0) { $0 + $1.sum }, accuracy: 1e-4)
    }
}

extension Optional where Wrapped == [Float] {
    func withUnsafeBufferPointerOrNil<Result>(_ body: (UnsafePointer<Float>?) -> Result) -> Result {
        guard let array = self else { return body(nil) }
        return array.withUnsafeBufferPointer { body($0.baseAddress) }
    }
}
