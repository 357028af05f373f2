import Configuration
import Foundation
import Tensors
import XCTest

@testable import Layers

/// Inputs, labels and global indices of a synthetic batch.
struct Batch {
    var inputs: [Float]
    var labels: [Int32]
    var indices: [Int]

    init(count: Int, inputCount: Int, classes: Int, seed: UInt64) {
        inputs = randomNormals(count * inputCount, seed: seed)
        let random = KeyedRandom(seed, 3)
        labels = (0..<count).map { Int32(random.integer($0, below: classes)) }
        indices = (0..<count).map { 10_000 + 13 * $0 + Int(seed) }
    }

    /// Samples `range` as their own batch (same global indices).
    func slice(_ range: Range<Int>, inputCount: Int) -> Batch {
        var part = self
        part.inputs = Array(inputs[(range.lowerBound * inputCount)..<(range.upperBound * inputCount)])
        part.labels = Array(labels[range])
        part.indices = Array(indices[range])
        return part
    }
}

extension Model {
    @discardableResult
    func forwardBackward(_ batch: Batch, seed: UInt64 = 9, step: Int = 4) -> LossSum {
        batch.inputs.withUnsafeBufferPointer { inputs in
            batch.labels.withUnsafeBufferPointer { labels in
                batch.indices.withUnsafeBufferPointer { indices in
                    forwardBackward(inputs: inputs, targets: labels, sampleIndices: indices, count: batch.labels.count,
                                    seed: seed, step: step)
                }
            }
        }
    }

    func evaluate(_ batch: Batch) -> Evaluation {
        batch.inputs.withUnsafeBufferPointer { inputs in
            batch.labels.withUnsafeBufferPointer { labels in
                evaluate(inputs: inputs, targets: labels, count: batch.labels.count)
            }
        }
    }
}

func spec(yaml: String) throws -> ModelSpec {
    let root = try ConfigSection(ConfigValue.parse(yaml: yaml, source: "test"))
    return try ModelSpec(section: root.section("model"))
}

/// Relative distance ‖a − b‖ / ‖b‖.
func relativeDistance(_ a: [Float], _ b: [Float]) -> Double {
    var difference = 0.0, norm = 0.0
    for (x, y) in zip(a, b) {
        difference += Double(x - y) * Double(x - y)
        norm += Double(y) * Double(y)
    }
    return (difference / max(norm, 1e-30)).squareRoot()
}

final class ModelTests: XCTestCase {
    static var configDirectory: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("configs")
    }

    func shipped(_ file: String) throws -> ModelSpec {
        let text = try String(contentsOf: Self.configDirectory.appendingPathComponent(file), encoding: .utf8)
        return try spec(yaml: text)
    }

    func testShippedMLPConfiguration() throws {
        let spec = try shipped("fashion-mlp.yaml")
        XCTAssertEqual(spec, .mlp(hidden: [512, 512], activation: .relu, dropout: 0.2))
        let model = try Model(spec: spec, inputShape: [1, 28, 28], classes: 10)
        XCTAssertEqual(model.layout.totalCount, 784 * 512 + 512 + 512 * 512 + 512 + 512 * 10 + 10)
        XCTAssertEqual(model.layout.slots.map(\.name),
                       ["layers.0.weight", "layers.0.bias", "layers.3.weight", "layers.3.bias", "layers.6.weight",
                        "layers.6.bias"])
        let first = try XCTUnwrap(model.layout.slot(named: "layers.0.weight"))
        XCTAssertEqual(first.shape, [512, 784])
        XCTAssertEqual(first.role, .weight)
        XCTAssertEqual(first.outputAxis, 0)
        XCTAssertEqual(model.layout.slot(named: "layers.6.bias")?.role, .bias)
        let flops = model.flopsPerSample
        XCTAssertEqual(flops.forward, 2 * Double(784 * 512 + 512 * 512 + 512 * 10), accuracy: 20_000)
        // The first layer's input gradient is never computed.
        XCTAssertEqual(flops.backward, 2 * Double(784 * 512 + 2 * (512 * 512 + 512 * 10)), accuracy: 20_000)
    }

    func testShippedCNNConfiguration() throws {
        let spec = try shipped("fashion-cnn.yaml")
        XCTAssertEqual(spec, .cnn(channels: [32, 64], kernelSize: 3, padding: 1, stride: 1, pool: .max, dense: [128], dropout: 0.25))
        let model = try Model(spec: spec, inputShape: [1, 28, 28], classes: 10)
        XCTAssertEqual(model.network.layers.map { "\(type(of: $0))" },
                       ["Conv2d", "MaxPool2d", "ActivationLayer", "Conv2d", "MaxPool2d", "ActivationLayer", "Flatten",
                        "Dropout", "Linear", "ActivationLayer", "Dropout", "Linear"])
        let conv = try XCTUnwrap(model.layout.slot(named: "layers.3.weight"))
        XCTAssertEqual(conv.shape, [64, 32, 3, 3])
        XCTAssertEqual(conv.outputAxis, 0)
        XCTAssertEqual(model.layout.slot(named: "layers.8.weight")?.shape, [128, 64 * 7 * 7])
        XCTAssertEqual(model.layout.slot(named: "layers.11.weight")?.shape, [10, 128])
    }

    func testConfigurationIsStrict() throws {
        XCTAssertThrowsError(try spec(yaml: "model:\n  kind: mlp\n  hiden: [10]\n")) { error in
            guard case ConfigError.unknownKey(let key, let suggestion, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(key, "model.hiden")
            XCTAssertEqual(suggestion, "model.hidden")
        }
        // A CNN key does not belong to an MLP.
        XCTAssertThrowsError(try spec(yaml: "model:\n  kind: mlp\n  channels: [8]\n")) { error in
            guard case ConfigError.unknownKey(let key, _, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(key, "model.channels")
        }
        XCTAssertThrowsError(try spec(yaml: "model:\n  kind: cnn\n  pool: median\n")) { error in
            XCTAssertEqual(error as? ConfigError,
                           .invalidChoice(key: "model.pool", value: "median", valid: ["max", "avg"]))
        }
        XCTAssertThrowsError(try spec(yaml: "model:\n  kind: mlp\n  dropout: 1.0\n"))
        XCTAssertThrowsError(try spec(yaml: "model:\n  kind: mlp\n  hidden: [10, 0]\n"))
        XCTAssertThrowsError(try spec(yaml: "model:\n  kind: rnn\n"))
        XCTAssertThrowsError(try spec(yaml: "model:\n  hidden: [10]\n"))
        let defaults = try spec(yaml: "model:\n  kind: cnn\n  kernel_size: 5\n")
        guard case .cnn(let cnn) = defaults else { return XCTFail("\(defaults) is not a CNN") }
        XCTAssertEqual(cnn.padding, 2)
    }

    func testShapeErrorsNameLayerAndShapes() throws {
        // Four 2×2 pools take 28 → 14 → 7 → 3 → 1, a fifth (conv, pool, relu blocks: layer 13) leaves nothing.
        let deep = try spec(yaml: "model:\n  kind: cnn\n  channels: [4, 4, 4, 4, 4]\n")
        XCTAssertThrowsError(try Model(spec: deep, inputShape: [1, 28, 28], classes: 10)) { error in
            XCTAssertEqual(error as? ModelError,
                           .nonPositiveOutput(layer: "layers.13 (MaxPool2d)", input: [4, 1, 1], output: [4, 0, 0]))
            XCTAssertTrue("\(error)".contains("layers.13"))
        }
        let bigKernel = try spec(yaml: "model:\n  kind: cnn\n  kernel_size: 9\n  padding: 0\n  channels: [4]\n")
        XCTAssertThrowsError(try Model(spec: bigKernel, inputShape: [1, 6, 6], classes: 3)) { error in
            XCTAssertEqual(error as? ModelError,
                           .nonPositiveOutput(layer: "layers.0 (Conv2d)", input: [1, 6, 6], output: [4, 0, 0]))
        }
        XCTAssertThrowsError(try Model(spec: .cnn(), inputShape: [784], classes: 10)) { error in
            XCTAssertEqual(error as? ModelError, .inputShape(layer: "layers.0 (Conv2d)", expected: "[C, H, W]", found: [784]))
        }
        XCTAssertThrowsError(try Conv2d(name: "layers.5", inputShape: [28, 28], outChannels: 4, kernelSize: 3)) { error in
            XCTAssertEqual(error as? ModelError, .inputShape(layer: "layers.5 (Conv2d)", expected: "[C, H, W]", found: [28, 28]))
        }
        let mismatched: [any Layer] = [try Linear(name: "layers.0", inputShape: [10], outFeatures: 6),
                                       try Linear(name: "layers.1", inputShape: [5], outFeatures: 2)]
        XCTAssertThrowsError(try Sequential(mismatched, name: "net")) { error in
            XCTAssertEqual(error as? ModelError, .shapeMismatch(layer: "layers.1 (Linear)", expected: [5], found: [6]))
        }
        XCTAssertThrowsError(try Residual(name: "layers.2", body: [try Linear(name: "layers.2.body.0", inputShape: [4],
                                                                             outFeatures: 3)])) { error in
            XCTAssertEqual(error as? ModelError, .shapeMismatch(layer: "layers.2 (Residual)", expected: [4], found: [3]))
        }
    }

    func testSeedsDetermineParameters() throws {
        let a = try Model(spec: .mlp(hidden: [32]), inputShape: [20], classes: 5)
        let b = try Model(spec: .mlp(hidden: [32]), inputShape: [20], classes: 5)
        a.initializeParameters(seed: 42)
        b.initializeParameters(seed: 42)
        XCTAssertEqual(a.store.parameters.array, b.store.parameters.array)
        b.initializeParameters(seed: 43)
        XCTAssertNotEqual(a.store.parameters.array, b.store.parameters.array)
        // Biases zero; Kaiming normal weights with std √(2/fanIn).
        let bias = a.store.parameters(try XCTUnwrap(a.layout.slot(named: "layers.0.bias")))
        XCTAssertTrue(bias.allSatisfy { $0 == 0 })
        let weight = try XCTUnwrap(a.layout.slot(named: "layers.0.weight"))
        let values = a.store.parameters(weight)
        let std = (values.map { Double($0 * $0) }.reduce(0, +) / Double(values.count)).squareRoot()
        XCTAssertEqual(std, (2.0 / 20).squareRoot(), accuracy: 0.03)
        // Xavier uniform for tanh: bound √(6/(fanIn + fanOut)).
        let tanhModel = try Model(spec: .mlp(hidden: [32], activation: .tanh), inputShape: [20], classes: 5)
        tanhModel.initializeParameters(seed: 42)
        let tanhWeights = tanhModel.store.parameters(weight)
        let bound = Float((6.0 / 52).squareRoot())
        XCTAssertTrue(tanhWeights.allSatisfy { abs($0) <= bound })
        XCTAssertGreaterThan(tanhWeights.map { abs($0) }.max() ?? 0, 0.9 * bound)
    }

    /// Finite differences of the summed loss with respect to sampled parameters of a whole model.
    func checkModelGradients(_ model: Model, batch: Batch, epsilon: Float = 1e-2, tolerance: Double = 1e-2,
                             limit: Int = 40, file: StaticString = #filePath, line: UInt = #line) {
        model.store.zeroGradients()
        let center = model.forwardBackward(batch).sum
        let analytic = model.store.gradients.array
        for slot in model.layout.slots {
            var comparison = DerivativeComparison()
            let values = model.store.parameters(slot)
            for i in coordinates(slot.count, limit: limit, seed: 3) {
                let saved = values[i]
                values[i] = saved + epsilon
                let plus = model.forwardBackward(batch).sum
                values[i] = saved - epsilon
                let minus = model.forwardBackward(batch).sum
                values[i] = saved
                comparison.add(analytic: Double(analytic[slot.offset + i]), plus: plus, minus: minus, center: center,
                               epsilon: Double(epsilon))
            }
            comparison.check("\(slot.name)", tolerance: tolerance, file: file, line: line)
        }
    }

    func testMLPGradients() throws {
        let spec = try spec(yaml: "model:\n  kind: mlp\n  hidden: [16, 12]\n  activation: gelu\n  norm: layernorm\n")
        let model = try Model(spec: spec, inputShape: [2, 5], classes: 4)
        model.initializeParameters(seed: 3)
        checkModelGradients(model, batch: Batch(count: 6, inputCount: 10, classes: 4, seed: 1))
        let relu = try Model(spec: .mlp(hidden: [16], activation: .relu, dropout: 0.3, norm: .rmsnorm),
                             inputShape: [10], classes: 3)
        relu.initializeParameters(seed: 4)
        checkModelGradients(relu, batch: Batch(count: 5, inputCount: 10, classes: 3, seed: 2))
    }

    func testCNNGradients() throws {
        let yaml = "model:\n  kind: cnn\n  channels: [3, 4]\n  pool: avg\n  dense: [8]\n  activation: tanh\n"
        let model = try Model(spec: try spec(yaml: yaml), inputShape: [2, 8, 8], classes: 3)
        model.initializeParameters(seed: 5)
        checkModelGradients(model, batch: Batch(count: 3, inputCount: 128, classes: 3, seed: 3))
        let maxPooled = "model:\n  kind: cnn\n  channels: [3]\n  stride: 1\n  dense: [6]\n  dropout: 0.25\n"
        let relu = try Model(spec: try spec(yaml: maxPooled), inputShape: [1, 6, 6], classes: 3)
        relu.initializeParameters(seed: 6)
        checkModelGradients(relu, batch: Batch(count: 3, inputCount: 36, classes: 3, seed: 4), epsilon: 1e-3)
    }

    /// Two half-batches accumulated give the gradient of the whole batch, dropout included.
    func checkAccumulation(_ spec: ModelSpec, inputShape: [Int], file: StaticString = #filePath, line: UInt = #line) throws {
        let model = try Model(spec: spec, inputShape: inputShape, classes: 5)
        model.initializeParameters(seed: 8)
        let n = inputShape.reduce(1, *)
        let batch = Batch(count: 12, inputCount: n, classes: 5, seed: 6)
        model.store.zeroGradients()
        let whole = model.forwardBackward(batch)
        let expected = model.store.gradients.array
        model.store.zeroGradients()
        let first = model.forwardBackward(batch.slice(0..<5, inputCount: n))
        let second = model.forwardBackward(batch.slice(5..<12, inputCount: n))
        XCTAssertEqual(first.items + second.items, whole.items, file: file, line: line)
        XCTAssertEqual(first.sum + second.sum, whole.sum, accuracy: 1e-5 * abs(whole.sum), file: file, line: line)
        XCTAssertLessThan(relativeDistance(model.store.gradients.array, expected), 1e-5, file: file, line: line)
        // The split reused the whole batch's buffers.
        XCTAssertEqual(model.capacity, 12, file: file, line: line)
    }

    func testAccumulationMatchesWholeBatch() throws {
        try checkAccumulation(.mlp(hidden: [32, 16], dropout: 0.5), inputShape: [20])
        try checkAccumulation(.cnn(channels: [4, 6], dense: [10], dropout: 0.5), inputShape: [1, 12, 12])
        try checkAccumulation(.mlp(hidden: [24], activation: .silu, norm: .layernorm), inputShape: [9])
    }

    /// Copies of the network on separate threads, each over its share of the samples, give the
    /// loss, gradient and evaluation of one pass over the whole batch (dropout on, gradients added
    /// to what the store held).
    func testReplicasMatchOnePass() throws {
        let cases: [(ModelSpec, [Int])] = [(.mlp(hidden: [32, 16], dropout: 0.5), [20]),
                                           (.cnn(channels: [4, 6], dense: [10], dropout: 0.5), [1, 12, 12])]
        for (spec, shape) in cases {
            let n = shape.reduce(1, *)
            let batch = Batch(count: 11, inputCount: n, classes: 5, seed: 6)
            func run(threads: Int) throws -> (loss: LossSum, gradients: [Float], evaluation: Evaluation) {
                let model = try Model(spec: spec, inputShape: shape, classes: 5)
                model.threads = threads
                model.minimumReplicaSamples = 1
                XCTAssertEqual(model.replicaCount(11), threads)
                model.initializeParameters(seed: 8)
                model.store.gradients.fill(0.25)
                let loss = model.forwardBackward(batch)
                return (loss, model.store.gradients.array, model.evaluate(batch))
            }
            let one = try run(threads: 1), three = try run(threads: 3)
            XCTAssertEqual(three.loss.items, one.loss.items)
            XCTAssertEqual(three.loss.sum, one.loss.sum, accuracy: 1e-5 * abs(one.loss.sum))
            XCTAssertLessThan(relativeDistance(three.gradients, one.gradients), 1e-5)
            XCTAssertEqual(three.evaluation.items, one.evaluation.items)
            XCTAssertEqual(three.evaluation.metricSums, one.evaluation.metricSums)
            XCTAssertEqual(three.evaluation.lossSum, one.evaluation.lossSum, accuracy: 1e-5 * one.evaluation.lossSum)
        }
    }

    /// Small batches stay on one replica: each further replica costs a wake-up and a gradient sum.
    func testReplicaCountFollowsThreadsAndBatch() throws {
        let model = try Model(spec: .mlp(hidden: [4]), inputShape: [3], classes: 2)
        model.threads = 2
        XCTAssertEqual(model.replicaCount(1), 1)
        XCTAssertEqual(model.replicaCount(15), 1)
        XCTAssertEqual(model.replicaCount(16), 2)
        XCTAssertEqual(model.replicaCount(1000), 2)
        model.threads = 1
        XCTAssertEqual(model.replicaCount(1000), 1)
    }

    func testDropoutKeysAndEvaluation() throws {
        let model = try Model(spec: .mlp(hidden: [64], dropout: 0.5), inputShape: [10], classes: 4)
        model.initializeParameters(seed: 1)
        let batch = Batch(count: 8, inputCount: 10, classes: 4, seed: 9)
        let stepFour = model.forwardBackward(batch, step: 4).sum
        XCTAssertEqual(model.forwardBackward(batch, step: 4).sum, stepFour)
        XCTAssertNotEqual(model.forwardBackward(batch, step: 5).sum, stepFour)
        XCTAssertNotEqual(model.forwardBackward(batch, seed: 10, step: 4).sum, stepFour)
        // Evaluation has no dropout: it matches training of the same network without dropout.
        let plain = try Model(spec: .mlp(hidden: [64], dropout: 0), inputShape: [10], classes: 4)
        plain.store.parameters.copy(from: model.store.parameters)
        let evaluation = model.evaluate(batch)
        XCTAssertEqual(evaluation.lossSum, plain.forwardBackward(batch).sum, accuracy: 1e-9)
        XCTAssertNotEqual(evaluation.lossSum, stepFour)
        XCTAssertEqual(evaluation.items, 8)
    }

    func testDropoutMaskIsInvertedAndKeyed() {
        let count = 4001
        var mask = [Float](repeating: -1, count: count)
        Dropout.fillMask(&mask, count: count, probability: 0.3, seed: 1, step: 2, sampleIndex: 77, layerIndex: 4)
        let random = KeyedRandom(UInt64(1), UInt64(2), UInt64(77), UInt64(4))
        for j in 0..<count { XCTAssertEqual(mask[j], random.uniform(j) >= 0.3 ? 1 / 0.7 : 0) }
        let kept = mask.filter { $0 > 0 }.count
        XCTAssertEqual(Double(kept) / Double(count), 0.7, accuracy: 0.03)
    }

    func testDropoutForwardAndBackwardApplyTheKeyedMasks() throws {
        // 300 features × 20 samples: large enough for the threaded split, with a scalar tail per sample.
        let n = 300, batch = 20
        let layer = try Dropout(name: "layers.2", inputShape: [n], probability: 0.25, layerIndex: 2)
        layer.reserve(batch: batch)
        let input = randomNormals(batch * n, seed: 21), upstream = randomNormals(batch * n, seed: 22)
        let indices = (0..<batch).map { 1000 + 7 * $0 }
        var output = [Float](repeating: .nan, count: batch * n), gradient = output
        indices.withUnsafeBufferPointer { indices in
            let context = PassContext(training: true, seed: 3, step: 11, sampleIndices: indices.baseAddress)
            layer.forward(input, into: &output, batch: batch, context: context)
            layer.backward(input: input, output: output, outputGradient: upstream, inputGradient: &gradient,
                           batch: batch, context: context)
        }
        for b in 0..<batch {
            let random = KeyedRandom(UInt64(3), UInt64(11), UInt64(indices[b]), UInt64(2))
            for j in 0..<n {
                let multiplier: Float = random.uniform(j) >= 0.25 ? 1 / 0.75 : 0
                XCTAssertEqual(output[b * n + j], input[b * n + j] * multiplier)
                XCTAssertEqual(gradient[b * n + j], upstream[b * n + j] * multiplier)
            }
        }
    }

    func testReLUMatchesScalarDefinition() {
        let count = 1003
        let layer = ActivationLayer(name: "layers.1", inputShape: [count], activation: .relu)
        let input = randomNormals(count, seed: 23), upstream = randomNormals(count, seed: 24)
        var output = [Float](repeating: .nan, count: count), gradient = output
        layer.forward(input, into: &output, batch: 1, context: .evaluation)
        layer.backward(input: input, output: output, outputGradient: upstream, inputGradient: &gradient, batch: 1,
                       context: .evaluation)
        for i in 0..<count {
            XCTAssertEqual(output[i], max(input[i], 0))
            XCTAssertEqual(gradient[i], input[i] > 0 ? upstream[i] : 0)
        }
    }

    /// Identity layers (dropout at p = 0) are skipped, runs of them included; results match a chain without them.
    func testSkippedIdentityLayersMatchChainWithoutThem() throws {
        let first = try Linear(name: "layers.0", inputShape: [7], outFeatures: 9)
        let activation = ActivationLayer(name: "layers.3", inputShape: [9], activation: .tanh)
        let middle = try Linear(name: "layers.4", inputShape: [9], outFeatures: 6)
        let last = try Linear(name: "layers.6", inputShape: [6], outFeatures: 3)
        func identity(_ index: Int, _ width: Int) throws -> Dropout {
            try Dropout(name: "layers.\(index)", inputShape: [width], probability: 0, layerIndex: index)
        }
        let withIdentities = try Sequential([first, try identity(1, 9), try identity(2, 9), activation, middle,
                                             try identity(5, 6), last], name: "with")
        let without = try Sequential([first, activation, middle, last], name: "without")
        let store = ParameterStore(layout: ParameterLayout(without.parameterSpecs))
        without.bind(store)
        let values = randomNormals(store.parameters.count, seed: 31, scale: 0.5)
        for i in 0..<values.count { store.parameters[i] = values[i] }
        let batch = 5
        let input = randomNormals(batch * 7, seed: 32), upstream = randomNormals(batch * 3, seed: 33)
        func pass(_ network: Sequential) -> (output: [Float], inputGradient: [Float], gradients: [Float]) {
            network.reserve(batch: batch)
            store.zeroGradients()
            let context = PassContext(training: true, seed: 1, step: 0, sampleIndices: nil)
            let output = Array(UnsafeBufferPointer(start: network.forward(input, batch: batch, context: context),
                                                   count: batch * 3))
            var inputGradient = [Float](repeating: .nan, count: batch * 7)
            network.backward(input: input, outputGradient: upstream, inputGradient: &inputGradient, batch: batch,
                             context: context)
            return (output, inputGradient, store.gradients.array)
        }
        let reference = pass(without), skipping = pass(withIdentities)
        XCTAssertEqual(skipping.output, reference.output)
        XCTAssertEqual(skipping.inputGradient, reference.inputGradient)
        XCTAssertEqual(skipping.gradients, reference.gradients)
        XCTAssertTrue(reference.gradients.contains { $0 != 0 })
    }

    func testEvaluationCountsCorrectAndIgnoresLabel() throws {
        let model = try Model(spec: .mlp(hidden: [8]), inputShape: [6], classes: 3)
        model.initializeParameters(seed: 2)
        var batch = Batch(count: 300, inputCount: 6, classes: 3, seed: 5)
        batch.labels[0] = -1
        batch.labels[7] = -1
        let result = model.evaluate(batch)
        XCTAssertEqual(result.items, 298)
        // Recount from logits computed one sample at a time.
        var correct = 0, lossSum = 0.0
        for b in 0..<300 where batch.labels[b] >= 0 {
            let logits = Array(UnsafeBufferPointer(
                start: batch.inputs.withUnsafeBufferPointer { x in
                    model.network.forward(x.baseAddress! + b * 6, batch: 1, context: .evaluation)
                }, count: 3))
            let top = logits.max()!
            let lse = Double(top) + log(logits.map { exp(Double($0 - top)) }.reduce(0, +))
            lossSum += lse - Double(logits[Int(batch.labels[b])])
            if logits.firstIndex(of: top) == Int(batch.labels[b]) { correct += 1 }
        }
        XCTAssertEqual(model.task.metricNames, ["accuracy"])
        XCTAssertEqual(result.metricSums, [Double(correct)])
        XCTAssertEqual(result.lossSum, lossSum, accuracy: 1e-4 * lossSum)
    }

    func testEmptyBatchTouchesNothing() throws {
        let model = try Model(spec: .mlp(hidden: [8], dropout: 0.2), inputShape: [4], classes: 2)
        model.initializeParameters(seed: 1)
        model.store.gradients.fill(0.5)
        let empty = Batch(count: 0, inputCount: 4, classes: 2, seed: 1)
        let result = model.forwardBackward(empty)
        XCTAssertEqual(result, LossSum(sum: 0, items: 0))
        XCTAssertTrue(model.store.gradients.array.allSatisfy { $0 == 0.5 })
        XCTAssertEqual(model.evaluate(empty), Evaluation(metricSums: [0]))
        XCTAssertEqual(model.capacity, 0)
    }

    func testShortBatchReusesBuffersAndMatchesFreshModel() throws {
        let spec = ModelSpec.cnn(channels: [3], dense: [5])
        let used = try Model(spec: spec, inputShape: [1, 8, 8], classes: 4)
        let fresh = try Model(spec: spec, inputShape: [1, 8, 8], classes: 4)
        used.initializeParameters(seed: 3)
        fresh.initializeParameters(seed: 3)
        used.forwardBackward(Batch(count: 9, inputCount: 64, classes: 4, seed: 1))
        used.store.zeroGradients()
        let short = Batch(count: 4, inputCount: 64, classes: 4, seed: 2)
        XCTAssertEqual(used.forwardBackward(short).sum, fresh.forwardBackward(short).sum, accuracy: 1e-9)
        XCTAssertEqual(used.store.gradients.array, fresh.store.gradients.array)
        XCTAssertEqual(used.capacity, 9)
        XCTAssertEqual(fresh.capacity, 4)
    }

    /// The CNN pools before its ReLU; that must give exactly what ReLU before pooling gives.
    func testPoolingBeforeReLUMatchesReLUBeforePooling() throws {
        let model = try Model(spec: .cnn(channels: [3, 4], dense: [5]), inputShape: [2, 12, 10], classes: 4)
        model.initializeParameters(seed: 8)
        XCTAssertTrue(model.network.layers[1] is MaxPool2d && model.network.layers[2] is ActivationLayer)
        var layers: [any Layer] = []
        var shape = [2, 12, 10]
        func add(_ layer: any Layer) {
            layers.append(layer)
            shape = layer.outputShape
        }
        for (block, width) in [3, 4].enumerated() {
            add(try Conv2d(name: "layers.\(3 * block)", inputShape: shape, outChannels: width, kernelSize: 3, padding: 1))
            add(ActivationLayer(name: "relu", inputShape: shape, activation: .relu))
            add(try MaxPool2d(name: "pool", inputShape: shape, kernel: 2, stride: 2))
        }
        add(Flatten(name: "flatten", inputShape: shape))
        add(try Linear(name: "layers.8", inputShape: shape, outFeatures: 5))
        let reordered = try Sequential(layers, name: "reference")
        let store = ParameterStore(layout: ParameterLayout(reordered.parameterSpecs))
        XCTAssertEqual(store.layout.slots.map(\.name), model.layout.slots.prefix(6).map(\.name))
        reordered.bind(store)
        for i in 0..<store.parameters.count { store.parameters[i] = model.store.parameters[i] }
        let batch = 6
        // Many negative pre-activations, so whole windows fall below zero.
        let input = randomNormals(batch * 240, seed: 21).map { $0 - 0.5 }
        let upstream = randomNormals(batch * 5, seed: 22)
        model.network.reserve(batch: batch)
        reordered.reserve(batch: batch)
        let context = PassContext(training: false)
        // The model's network up to its first dense layer (index 8), dropout left out, against the reference.
        XCTAssertTrue(model.network.layers[8] is Linear)
        let ours = try Sequential(Array(model.network.layers[0...8].filter { !($0 is Dropout) }), name: "ours")
        ours.reserve(batch: batch)
        input.withUnsafeBufferPointer { x in
            upstream.withUnsafeBufferPointer { g in
                let a = ours.forward(x.baseAddress!, batch: batch, context: context)
                let b = reordered.forward(x.baseAddress!, batch: batch, context: context)
                XCTAssertEqual(Array(UnsafeBufferPointer(start: a, count: batch * 5)),
                               Array(UnsafeBufferPointer(start: b, count: batch * 5)))
                var ourInputGradient = [Float](repeating: .nan, count: input.count)
                var referenceInputGradient = [Float](repeating: .nan, count: input.count)
                ourInputGradient.withUnsafeMutableBufferPointer { dx in
                    ours.backward(input: x.baseAddress!, outputGradient: g.baseAddress!, inputGradient: dx.baseAddress!,
                                  batch: batch, context: context)
                }
                referenceInputGradient.withUnsafeMutableBufferPointer { dx in
                    reordered.backward(input: x.baseAddress!, outputGradient: g.baseAddress!, inputGradient: dx.baseAddress!,
                                       batch: batch, context: context)
                }
                XCTAssertEqual(ourInputGradient, referenceInputGradient)
            }
        }
        XCTAssertEqual(Array(store.gradients.array), Array(model.store.gradients.array.prefix(store.gradients.count)))
        XCTAssertTrue(store.gradients.array.contains { $0 != 0 })
    }
}
