import Tensors

/// Normalizes each position over the last axis (its features), then scales and shifts per feature:
/// a `[T, D]` sample is T vectors of D features, as in a transformer; a `[D]` sample is one.
///
/// Statistics are per position, never per batch, so micro-batching leaves results unchanged
/// (unlike BatchNorm). Scale `weight` (role `.scale`, initialized to 1) and `bias` (zero; optional,
/// as GPT's `bias: false` leaves it out).
public final class LayerNorm: Layer {
    public let name: String
    public let inputShape: [Int]
    public var outputShape: [Int] { inputShape }
    public let epsilon: Float
    public let hasBias: Bool
    private var scale: BoundParameter?
    private var shift: BoundParameter?
    /// Mean and reciprocal standard deviation of each sample, kept for backward.
    private let statistics = Workspace()

    public init(name: String, inputShape: [Int], epsilon: Float = 1e-5, bias: Bool = true) {
        precondition(!inputShape.isEmpty, "\(name): LayerNorm needs at least one axis")
        self.name = name
        self.inputShape = inputShape
        self.epsilon = epsilon
        hasBias = bias
    }

    /// Features per position (the last axis) and positions per sample.
    public var features: Int { inputShape[inputShape.count - 1] }
    public var positions: Int { inputCount / features }

    public var parameterSpecs: [ParameterSpec] {
        [ParameterSpec(name: "\(name).weight", shape: [features], role: .scale, outputAxis: 0)]
            + (hasBias ? [ParameterSpec(name: "\(name).bias", shape: [features], role: .bias, outputAxis: 0)] : [])
    }

    public func bind(_ store: ParameterStore) {
        scale = BoundParameter(store, "\(name).weight")
        if hasBias { shift = BoundParameter(store, "\(name).bias") }
    }

    public func reserve(batch: Int) { statistics.reserve(2 * batch * positions) }

    public func forward(_ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, batch: Int,
                        context: PassContext) {
        RowKernels.layerNorm(input, gamma: scale.bound(name).value, beta: shift.map { UnsafePointer($0.value) },
                             into: output, statistics: statistics.pointer, rows: batch * positions,
                             features: features, epsilon: epsilon)
    }

    public func backward(input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                         inputGradient: UnsafeMutablePointer<Float>?, batch: Int, context: PassContext) {
        let scale = scale.bound(name)
        RowKernels.layerNormBackward(input, outputGradient: outputGradient, gamma: scale.value,
                                     statistics: statistics.pointer, gammaGradient: scale.gradient,
                                     betaGradient: shift?.gradient, inputGradient: inputGradient,
                                     rows: batch * positions, features: features)
    }

    public func flops(inputGradient: Bool) -> (forward: Double, backward: Double) {
        (7 * Double(inputCount), (inputGradient ? 12 : 6) * Double(inputCount))
    }
}

/// Divides each position's features (the last axis) by their root mean square, then scales per
/// feature (no centring, no shift).
public final class RMSNorm: Layer {
    public let name: String
    public let inputShape: [Int]
    public var outputShape: [Int] { inputShape }
    public let epsilon: Float
    private var scale: BoundParameter?
    /// Reciprocal RMS of each sample, kept for backward.
    private let statistics = Workspace()

    public init(name: String, inputShape: [Int], epsilon: Float = 1e-6) {
        precondition(!inputShape.isEmpty, "\(name): RMSNorm needs at least one axis")
        self.name = name
        self.inputShape = inputShape
        self.epsilon = epsilon
    }

    /// Features per position (the last axis) and positions per sample.
    public var features: Int { inputShape[inputShape.count - 1] }
    public var positions: Int { inputCount / features }

    public var parameterSpecs: [ParameterSpec] {
        [ParameterSpec(name: "\(name).weight", shape: [features], role: .scale, outputAxis: 0)]
    }

    public func bind(_ store: ParameterStore) { scale = BoundParameter(store, "\(name).weight") }

    public func reserve(batch: Int) { statistics.reserve(batch * positions) }

    public func forward(_ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, batch: Int,
                        context: PassContext) {
        let gamma = scale.bound(name).value
        let n = features, stats = statistics.pointer
        for b in 0..<batch * positions {
            let x = input + b * n, y = output + b * n
            var squares: Float = 0
            for i in 0..<n { squares += x[i] * x[i] }
            let r = 1 / (squares / Float(n) + epsilon).squareRoot()
            stats[b] = r
            for i in 0..<n { y[i] = x[i] * r * gamma[i] }
        }
    }

    public func backward(input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                         inputGradient: UnsafeMutablePointer<Float>?, batch: Int, context: PassContext) {
        let scale = scale.bound(name)
        let gamma = scale.value, n = features, stats = statistics.pointer
        for b in 0..<batch * positions {
            let x = input + b * n, dy = outputGradient + b * n
            let r = stats[b]
            var meanGX: Float = 0
            for i in 0..<n {
                scale.gradient[i] += dy[i] * x[i] * r
                meanGX += dy[i] * gamma[i] * x[i]
            }
            guard let inputGradient else { continue }
            meanGX /= Float(n)
            let dx = inputGradient + b * n
            let r3 = r * r * r
            for i in 0..<n { dx[i] = r * dy[i] * gamma[i] - r3 * x[i] * meanGX }
        }
    }

    public func flops(inputGradient: Bool) -> (forward: Double, backward: Double) {
        (4 * Double(inputCount), (inputGradient ? 9 : 4) * Double(inputCount))
    }
}
