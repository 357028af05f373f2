import Tensors

/// A chain of layers with the activation and gradient buffers they pass along.
///
/// Each layer's output gets its own buffer (backward needs them all); input gradients ping-pong
/// between two buffers sized for the widest layer. All of them grow only when the batch does.
/// A layer after the first that is the identity for a pass (`Layer.isIdentity(in:)`) is skipped in both
/// directions: its input is handed on as its output and the gradient passes back unchanged.
public final class Sequential {
    public let layers: [any Layer]
    public let inputShape: [Int]
    public let outputShape: [Int]
    private var outputs: [Workspace]
    private let gradients = (Workspace(), Workspace())
    /// What each layer's output was in the last `forward`: its own buffer, or its input when skipped.
    private var produced: [UnsafePointer<Float>?]
    private var skipped: [Bool]
    /// The first layer with parameters: no layer before it needs a gradient unless the caller asks
    /// for the chain's input gradient (a leading flatten costs nothing in backward, and the first
    /// Linear after it skips its input-gradient product).
    private let firstWithParameters: Int
    public private(set) var capacity = 0
    /// When set, every pass adds each layer's wall time here (`bench model --layers`).
    public var timings: LayerTimings?

    /// Checks that each layer takes what the one before it gives.
    public init(_ layers: [any Layer], name: String) throws(ModelError) {
        guard let first = layers.first, let last = layers.last else {
            throw .invalidArgument(layer: name, reason: "needs at least one layer")
        }
        for (previous, next) in zip(layers, layers.dropFirst()) where previous.outputShape != next.inputShape {
            throw .shapeMismatch(layer: "\(next.name) (\(type(of: next)))", expected: next.inputShape,
                                 found: previous.outputShape)
        }
        self.layers = layers
        inputShape = first.inputShape
        outputShape = last.outputShape
        outputs = layers.map { _ in Workspace() }
        produced = Array(repeating: nil, count: layers.count)
        skipped = Array(repeating: false, count: layers.count)
        firstWithParameters = layers.firstIndex { !$0.parameterSpecs.isEmpty } ?? layers.count
    }

    public var parameterSpecs: [ParameterSpec] { layers.flatMap(\.parameterSpecs) }

    public func bind(_ store: ParameterStore) { for layer in layers { layer.bind(store) } }

    public func reserve(batch: Int) {
        guard batch > capacity else { return }
        capacity = batch
        var widest = 0
        for (index, layer) in layers.enumerated() {
            layer.reserve(batch: batch)
            outputs[index].reserve(batch * layer.outputCount)
            if index < layers.count - 1 { widest = max(widest, layer.outputCount) }
        }
        gradients.0.reserve(batch * widest)
        gradients.1.reserve(batch * widest)
    }

    /// Runs every layer that is not the identity for this pass and returns the last output, which
    /// is one of the chain's own buffers, never `input`: the first layer always runs, so a chain ending
    /// in an inactive dropout (a GPT block's residual branch) hands back the layer before it, uncopied.
    @discardableResult
    public func forward(_ input: UnsafePointer<Float>, batch: Int, context: PassContext) -> UnsafeMutablePointer<Float> {
        precondition(batch <= capacity, "batch \(batch) exceeds the reserved \(capacity)")
        var current = input
        var result = outputs[0].pointer
        for (index, layer) in layers.enumerated() {
            let skip = index > 0 && layer.isIdentity(in: context)
            skipped[index] = skip
            if !skip {
                let start = timings == nil ? 0 : monotonicSeconds()
                layer.forward(current, into: outputs[index].pointer, batch: batch, context: context)
                timings?.forward[index] += monotonicSeconds() - start
                result = outputs[index].pointer
                current = UnsafePointer(result)
            }
            produced[index] = current
        }
        return result
    }

    /// Backward through every layer after `forward` on the same `input`; parameter gradients accumulate.
    /// `finished` hears each layer's index, last to first, once its backward is done (and so its
    /// parameters' gradients, unless an earlier layer shares them): when a reduction may start on them.
    public func backward(input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                         inputGradient: UnsafeMutablePointer<Float>?, batch: Int, context: PassContext,
                         finished: ((Int) -> Void)? = nil) {
        var upstream = outputGradient
        // Below this index nothing needs a gradient: no parameters, and no caller asking.
        let lowest = inputGradient == nil ? firstWithParameters : 0
        for index in stride(from: layers.count - 1, through: lowest, by: -1) where !skipped[index] {
            guard let layerOutput = produced[index], let layerInput = index == 0 ? input : produced[index - 1] else {
                preconditionFailure("backward before forward")
            }
            // The buffer not holding the upstream gradient (skipped layers break a fixed alternation).
            let free = upstream == UnsafePointer(gradients.0.pointer) ? gradients.1 : gradients.0
            let downstream = index == 0 ? inputGradient : (index > lowest ? free.pointer : nil)
            let start = timings == nil ? 0 : monotonicSeconds()
            layers[index].backward(input: layerInput, output: layerOutput, outputGradient: upstream,
                                   inputGradient: downstream, batch: batch, context: context)
            timings?.backward[index] += monotonicSeconds() - start
            if let downstream { upstream = UnsafePointer(downstream) }
            finished?(index)
        }
    }

    /// For each layer index i, where in `layout` the parameters of layers i, i + 1, … begin (the end of
    /// the buffer for none): once layer i's backward is done, the gradients from there on are final,
    /// since a layer's parameters follow those of the layers before it, and a tied weight belongs to
    /// the earliest layer that uses it (the embedding, not the head that shares it).
    public func parameterStarts(in layout: ParameterLayout) -> [Int] {
        var starts = [Int](repeating: layout.totalCount, count: layers.count + 1)
        for index in stride(from: layers.count - 1, through: 0, by: -1) {
            let offsets = layers[index].parameterSpecs.compactMap { layout.slot(named: $0.name)?.offset }
            starts[index] = min(starts[index + 1], offsets.min() ?? layout.totalCount)
        }
        return Array(starts.dropLast())
    }

    public func flops(inputGradient: Bool) -> (forward: Double, backward: Double) {
        var total = (forward: 0.0, backward: 0.0)
        for (index, layer) in layers.enumerated() {
            let f = layer.flops(inputGradient: index > firstWithParameters || inputGradient)
            total.forward += f.forward
            // Backward stops at the first layer with parameters unless the input gradient is wanted.
            if index >= firstWithParameters || inputGradient { total.backward += f.backward }
        }
        return total
    }
}

/// Seconds spent in each layer's forward and backward, summed over passes.
public final class LayerTimings {
    public var forward: [Double]
    public var backward: [Double]

    public init(layers: Int) {
        forward = Array(repeating: 0, count: layers)
        backward = Array(repeating: 0, count: layers)
    }
}
