import Tensors

/// y = W·x + b over the flattened sample; weight `[out, in]` (output axis 0), bias `[out]`.
///
/// Any input shape is accepted and read as a flat vector, so an MLP needs no separate flatten.
public final class Linear: Layer {
    public let name: String
    public let inputShape: [Int]
    public let outputShape: [Int]
    public let inFeatures: Int
    public let outFeatures: Int
    private var weight: BoundParameter?
    private var bias: BoundParameter?

    public init(name: String, inputShape: [Int], outFeatures: Int) throws(ModelError) {
        guard !inputShape.isEmpty, inputShape.allSatisfy({ $0 > 0 }) else {
            throw .inputShape(layer: "\(name) (Linear)", expected: "[features] with positive sizes", found: inputShape)
        }
        guard outFeatures > 0 else {
            throw .invalidArgument(layer: "\(name) (Linear)", reason: "output features must be positive, got \(outFeatures)")
        }
        self.name = name
        self.inputShape = inputShape
        self.inFeatures = inputShape.reduce(1, *)
        self.outFeatures = outFeatures
        self.outputShape = [outFeatures]
    }

    public var parameterSpecs: [ParameterSpec] {
        [ParameterSpec(name: "\(name).weight", shape: [outFeatures, inFeatures], role: .weight, outputAxis: 0),
         ParameterSpec(name: "\(name).bias", shape: [outFeatures], role: .bias, outputAxis: 0)]
    }

    public func bind(_ store: ParameterStore) {
        weight = BoundParameter(store, "\(name).weight")
        bias = BoundParameter(store, "\(name).bias")
    }

    public func forward(_ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, batch: Int,
                        context: PassContext) {
        let weight = weight.bound(name), bias = bias.bound(name)
        for b in 0..<batch { (output + b * outFeatures).update(from: bias.value, count: outFeatures) }
        BLAS.gemm(transposeB: true, m: batch, n: outFeatures, k: inFeatures,
                  a: input, b: weight.value, beta: 1, c: output)
    }

    public func backward(input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                         inputGradient: UnsafeMutablePointer<Float>?, batch: Int, context: PassContext) {
        let weight = weight.bound(name), bias = bias.bound(name)
        // dW += dYᵀ·X, accumulated straight into the flat gradient buffer.
        BLAS.gemm(transposeA: true, m: outFeatures, n: inFeatures, k: batch,
                  a: outputGradient, b: input, beta: 1, c: weight.gradient)
        let biasGradient = bias.gradient, n = outFeatures
        for b in 0..<batch {
            let row = outputGradient + b * n
            for o in 0..<n { biasGradient[o] += row[o] }
        }
        if let inputGradient {
            BLAS.gemm(m: batch, n: inFeatures, k: outFeatures, a: outputGradient, b: weight.value, c: inputGradient)
        }
    }

    public func flops(inputGradient: Bool) -> (forward: Double, backward: Double) {
        let product = 2 * Double(inFeatures * outFeatures)
        return (product + Double(outFeatures), product * (inputGradient ? 2 : 1) + Double(outFeatures))
    }
}
