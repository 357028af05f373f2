import Tensors

/// Forward-only results over a set of samples.
public struct Evaluation: Sendable, Equatable {
    public var lossSum: Double
    public var correct: Int
    public var items: Int

    public init(lossSum: Double = 0, correct: Int = 0, items: Int = 0) {
        self.lossSum = lossSum
        self.correct = correct
        self.items = items
    }
}

/// A network built from a `ModelSpec`, its flat parameters, and a summed softmax cross-entropy.
///
/// Layers are numbered in order like a PyTorch `nn.Sequential` (`layers.0.weight`, …), so names
/// depend only on the spec. Dropout layers are always present (identity when p = 0), which keeps
/// names the same whatever the dropout rate.
public final class Model {
    public let spec: ModelSpec
    public let inputShape: [Int]
    public let classes: Int
    public let network: Sequential
    public let store: ParameterStore
    public let loss: SoftmaxCrossEntropy
    private let logitGradient = Workspace()

    public var layout: ParameterLayout { store.layout }
    public var inputCount: Int { inputShape.reduce(1, *) }

    public init(spec: ModelSpec, inputShape: [Int], classes: Int) throws(ModelError) {
        guard classes > 0 else { throw .invalidArgument(layer: "model", reason: "classes must be positive, got \(classes)") }
        guard !inputShape.isEmpty, inputShape.allSatisfy({ $0 > 0 }) else {
            throw .inputShape(layer: "model (\(spec.kind.rawValue))", expected: "positive sizes", found: inputShape)
        }
        self.spec = spec
        self.inputShape = inputShape
        self.classes = classes
        let layers = try Self.layers(spec: spec, inputShape: inputShape, classes: classes)
        network = try Sequential(layers, name: "model")
        store = ParameterStore(layout: ParameterLayout(network.parameterSpecs))
        network.bind(store)
        loss = SoftmaxCrossEntropy(classes: classes, ignoreIndex: Int32(clamping: spec.ignoreIndex))
    }

    static func layers(spec: ModelSpec, inputShape: [Int], classes: Int) throws(ModelError) -> [any Layer] {
        var layers: [any Layer] = []
        var shape = inputShape
        func add(_ layer: any Layer) {
            layers.append(layer)
            shape = layer.outputShape
        }
        var next: String { "layers.\(layers.count)" }
        func activationAndDropout() throws(ModelError) {
            add(ActivationLayer(name: next, inputShape: shape, activation: spec.activation))
            add(try Dropout(name: next, inputShape: shape, probability: spec.dropout, layerIndex: layers.count))
        }
        switch spec.kind {
        case .mlp:
            for width in spec.hidden {
                add(try Linear(name: next, inputShape: shape, outFeatures: width))
                switch spec.norm {
                case .none: break
                case .layernorm: add(LayerNorm(name: next, inputShape: shape))
                case .rmsnorm: add(RMSNorm(name: next, inputShape: shape))
                }
                try activationAndDropout()
            }
        case .cnn:
            guard shape.count == 3 else {
                throw .inputShape(layer: "\(next) (Conv2d)", expected: "[C, H, W]", found: shape)
            }
            for width in spec.channels {
                add(try Conv2d(name: next, inputShape: shape, outChannels: width, kernelSize: spec.kernelSize,
                               stride: spec.stride, padding: spec.padding))
                switch (spec.pool, spec.activation) {
                case (.max, .relu):
                    // relu(max(x)) = max(relu(x)) with the same winner and the same gradient, so
                    // pooling first gives identical results with ReLU on a quarter of the values.
                    add(try MaxPool2d(name: next, inputShape: shape, kernel: 2, stride: 2))
                    add(ActivationLayer(name: next, inputShape: shape, activation: spec.activation))
                case (.max, _):
                    add(ActivationLayer(name: next, inputShape: shape, activation: spec.activation))
                    add(try MaxPool2d(name: next, inputShape: shape, kernel: 2, stride: 2))
                case (.avg, _):
                    add(ActivationLayer(name: next, inputShape: shape, activation: spec.activation))
                    add(try AvgPool2d(name: next, inputShape: shape, kernel: 2, stride: 2))
                }
            }
            add(Flatten(name: next, inputShape: shape))
            add(try Dropout(name: next, inputShape: shape, probability: spec.dropout, layerIndex: layers.count))
            for width in spec.dense {
                add(try Linear(name: next, inputShape: shape, outFeatures: width))
                try activationAndDropout()
            }
        }
        add(try Linear(name: next, inputShape: shape, outFeatures: classes))
        return layers
    }

    public func initializeParameters(seed: UInt64) {
        spec.initialization.initialize(store, seed: seed, activation: spec.activation)
    }

    /// Forward, summed loss, backward accumulating into `store.gradients` (never zeroes them).
    /// `sampleIndices` are GLOBAL dataset indices (dropout keys); `step` is the optimizer step (dropout key).
    public func forwardBackward(inputs: UnsafeBufferPointer<Float>, labels: UnsafeBufferPointer<Int32>,
                                sampleIndices: UnsafeBufferPointer<Int>, count: Int, seed: UInt64,
                                step: Int) -> LossSum {
        guard count > 0, let input = inputs.baseAddress, let label = labels.baseAddress,
              let indices = sampleIndices.baseAddress else { return LossSum() }
        precondition(inputs.count >= count * inputCount && labels.count >= count && sampleIndices.count >= count,
                     "forwardBackward: buffers shorter than \(count) samples")
        network.reserve(batch: count)
        logitGradient.reserve(count * classes)
        let context = PassContext(training: true, seed: seed, step: step, sampleIndices: indices)
        let logits = network.forward(input, batch: count, context: context)
        let result = loss(logits: logits, labels: label, count: count, gradient: logitGradient.pointer)
        network.backward(input: input, outputGradient: logitGradient.pointer, inputGradient: nil, batch: count,
                         context: context)
        return result
    }

    /// Forward only, no dropout: summed loss, number correct, items counted (ignored labels excluded).
    /// Large sets are processed in pieces no bigger than the buffers already sized (or 256).
    public func evaluate(inputs: UnsafeBufferPointer<Float>, labels: UnsafeBufferPointer<Int32>,
                         count: Int) -> Evaluation {
        guard count > 0, let input = inputs.baseAddress, let label = labels.baseAddress else { return Evaluation() }
        precondition(inputs.count >= count * inputCount && labels.count >= count,
                     "evaluate: buffers shorter than \(count) samples")
        let piece = max(network.capacity, min(count, 256))
        network.reserve(batch: min(piece, count))
        var result = Evaluation()
        var start = 0
        while start < count {
            let n = min(piece, count - start)
            let logits = network.forward(input + start * inputCount, batch: n, context: .evaluation)
            let part = loss(logits: logits, labels: label + start, count: n, gradient: nil)
            result.lossSum += part.sum
            result.items += part.items
            for b in 0..<n where label[start + b] != loss.ignoreIndex {
                let row = logits + b * classes
                var best = 0
                for j in 1..<classes where row[j] > row[best] { best = j }
                if best == Int(label[start + b]) { result.correct += 1 }
            }
            start += n
        }
        return result
    }

    /// FLOPs per sample of forward and backward (multiply-add = 2), for benchmarks.
    public var flopsPerSample: (forward: Double, backward: Double) {
        let f = network.flops(inputGradient: false)
        return (f.forward + 4 * Double(classes), f.backward + Double(classes))
    }
}
