import Tensors

/// y = W·x + b over the last axis: `[..., in] → [..., out]`; weight `[out, in]` (output axis 0),
/// bias `[out]` (optional: GPT's `bias: false` has none).
///
/// Every position of every sample is one row of a single GEMM (a batch of B sequences of T
/// tokens is B·T rows), as PyTorch's `nn.Linear` acts on the last dimension. Images go through an
/// explicit `Flatten` first.
public final class Linear: Layer {
    public let name: String
    public let inputShape: [Int]
    public let outputShape: [Int]
    public let inFeatures: Int
    public let outFeatures: Int
    public let hasBias: Bool
    private var weight: BoundParameter?
    private var bias: BoundParameter?

    public init(name: String, inputShape: [Int], outFeatures: Int, bias: Bool = true) throws(ModelError) {
        guard !inputShape.isEmpty, inputShape.allSatisfy({ $0 > 0 }) else {
            throw .inputShape(layer: "\(name) (Linear)", expected: "[features] with positive sizes", found: inputShape)
        }
        guard outFeatures > 0 else {
            throw .invalidArgument(layer: "\(name) (Linear)", reason: "output features must be positive, got \(outFeatures)")
        }
        self.name = name
        self.inputShape = inputShape
        self.inFeatures = inputShape[inputShape.count - 1]
        self.outFeatures = outFeatures
        hasBias = bias
        self.outputShape = inputShape.dropLast() + [outFeatures]
    }

    /// Rows of the product per sample: the positions along the leading axes.
    public var positions: Int { inputCount / inFeatures }

    public var parameterSpecs: [ParameterSpec] {
        [ParameterSpec(name: "\(name).weight", shape: [outFeatures, inFeatures], role: .weight, outputAxis: 0)]
            + (hasBias ? [ParameterSpec(name: "\(name).bias", shape: [outFeatures], role: .bias, outputAxis: 0)] : [])
    }

    public func bind(_ store: ParameterStore) {
        weight = BoundParameter(store, "\(name).weight")
        if hasBias { bias = BoundParameter(store, "\(name).bias") }
    }

    public func forward(_ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, batch: Int,
                        context: PassContext) {
        let weight = weight.bound(name), rows = batch * positions
        if let bias {
            for r in 0..<rows { (output + r * outFeatures).update(from: bias.value, count: outFeatures) }
        }
        BLAS.gemm(transposeB: true, m: rows, n: outFeatures, k: inFeatures,
                  a: input, b: weight.value, beta: hasBias ? 1 : 0, c: output)
    }

    public func backward(input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                         inputGradient: UnsafeMutablePointer<Float>?, batch: Int, context: PassContext) {
        let weight = weight.bound(name), rows = batch * positions
        // dW += dYᵀ·X, accumulated straight into the flat gradient buffer.
        BLAS.gemm(transposeA: true, m: outFeatures, n: inFeatures, k: rows,
                  a: outputGradient, b: input, beta: 1, c: weight.gradient)
        if let biasGradient = bias?.gradient {
            let n = outFeatures
            for r in 0..<rows {
                let row = outputGradient + r * n
                for o in 0..<n { biasGradient[o] += row[o] }
            }
        }
        if let inputGradient {
            BLAS.gemm(m: rows, n: inFeatures, k: outFeatures, a: outputGradient, b: weight.value, c: inputGradient)
        }
    }

    public func flops(inputGradient: Bool) -> (forward: Double, backward: Double) {
        let product = 2 * Double(positions * inFeatures * outFeatures)
        let bias = hasBias ? Double(positions * outFeatures) : 0
        return (product + bias, product * (inputGradient ? 2 : 1) + bias)
    }
}
