import Tensors

/// y = x + body(x): a skip connection around a chain of layers with matching input and output shape.
public final class Residual: Layer {
    public let name: String
    public let body: Sequential

    /// `body` layers are named under this one (`layers.2.body.0`) by the caller.
    public init(name: String, body layers: [any Layer]) throws(ModelError) {
        let body = try Sequential(layers, name: "\(name) (Residual)")
        guard body.inputShape == body.outputShape else {
            throw .shapeMismatch(layer: "\(name) (Residual)", expected: body.inputShape, found: body.outputShape)
        }
        self.name = name
        self.body = body
    }

    public var inputShape: [Int] { body.inputShape }
    public var outputShape: [Int] { body.outputShape }
    public var parameterSpecs: [ParameterSpec] { body.parameterSpecs }
    public func bind(_ store: ParameterStore) { body.bind(store) }
    public func reserve(batch: Int) { body.reserve(batch: batch) }
    public var fixedWorkspaceCount: Int { body.layers.reduce(0) { $0 + $1.fixedWorkspaceCount } }
    /// The body's outputs and workspaces, and its two gradient buffers.
    public var perSampleWorkspaceCount: Int {
        let widest = body.layers.map(\.outputCount).max() ?? 0
        return body.layers.reduce(2 * widest) { $0 + $1.outputCount + $1.perSampleWorkspaceCount }
    }

    public func forward(_ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, batch: Int,
                        context: PassContext) {
        let inner = body.forward(input, batch: batch, context: context)
        for i in 0..<(batch * inputCount) { output[i] = input[i] + inner[i] }
    }

    public func backward(input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                         inputGradient: UnsafeMutablePointer<Float>?, batch: Int, context: PassContext) {
        body.backward(input: input, outputGradient: outputGradient, inputGradient: inputGradient, batch: batch,
                      context: context)
        guard let inputGradient else { return }
        for i in 0..<(batch * inputCount) { inputGradient[i] += outputGradient[i] }
    }

    public func flops(inputGradient: Bool) -> (forward: Double, backward: Double) {
        let inner = body.flops(inputGradient: inputGradient)
        return (inner.forward + Double(inputCount), inner.backward + (inputGradient ? Double(inputCount) : 0))
    }
}
