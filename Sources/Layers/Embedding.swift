import Tensors

/// Looks up a learned vector per token: `[T]` token ids → `[T, D]`; table `[vocabulary, D]`.
///
/// Activations are `Float`, so token ids arrive as Floats (exact up to 2²⁴). Ids are not
/// differentiable: the input gradient is zero. An id outside the vocabulary is a data error the
/// loader must rule out, and stops the program.
public final class Embedding: Layer {
    public let name: String
    public let inputShape: [Int]
    public let outputShape: [Int]
    public let vocabulary: Int
    public let dimension: Int
    private var table: BoundParameter?

    public init(name: String, inputShape: [Int], vocabulary: Int, dimension: Int) throws(ModelError) {
        guard inputShape.count == 1, inputShape[0] > 0 else {
            throw .inputShape(layer: "\(name) (Embedding)", expected: "[T] token ids", found: inputShape)
        }
        guard vocabulary > 0, dimension > 0 else {
            throw .invalidArgument(layer: "\(name) (Embedding)",
                                   reason: "vocabulary \(vocabulary) and dimension \(dimension) must be positive")
        }
        self.name = name
        self.inputShape = inputShape
        self.vocabulary = vocabulary
        self.dimension = dimension
        outputShape = [inputShape[0], dimension]
    }

    public var parameterSpecs: [ParameterSpec] {
        [ParameterSpec(name: "\(name).weight", shape: [vocabulary, dimension], role: .embedding, outputAxis: 0)]
    }

    public func bind(_ store: ParameterStore) { table = BoundParameter(store, "\(name).weight") }

    @inline(__always) private func row(_ token: Float) -> Int { tokenRow(token, vocabulary: vocabulary, layer: name) }

    public func forward(_ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, batch: Int,
                        context: PassContext) {
        let table = table.bound(name).value
        for t in 0..<(batch * inputShape[0]) {
            (output + t * dimension).update(from: table + row(input[t]) * dimension, count: dimension)
        }
    }

    public func backward(input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                         inputGradient: UnsafeMutablePointer<Float>?, batch: Int, context: PassContext) {
        let gradient = table.bound(name).gradient
        for t in 0..<(batch * inputShape[0]) {
            let destination = gradient + row(input[t]) * dimension
            let source = outputGradient + t * dimension
            for d in 0..<dimension { destination[d] += source[d] }
        }
        inputGradient?.update(repeating: 0, count: batch * inputCount)
    }

    public func flops(inputGradient: Bool) -> (forward: Double, backward: Double) { (0, Double(outputCount)) }
}

/// The table row of a token id that arrives as a Float. An id that is not a whole number in
/// `0..<vocabulary` is a data error the loader must rule out, and stops the program.
@inline(__always) func tokenRow(_ token: Float, vocabulary: Int, layer: String) -> Int {
    let id = Int(token)
    precondition(Float(id) == token && id >= 0 && id < vocabulary,
                 "\(layer): token id \(token) outside the vocabulary of \(vocabulary)")
    return id
}
