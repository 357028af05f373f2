import Tensors

/// GPT's input: token embedding plus learned position embedding, `[T]` token ids → `[T, C]`.
///
/// Tables `\(name).wte.weight` `[vocabulary, C]` and `\(name).wpe.weight` `[blockSize, C]`, named as
/// nanoGPT names them under `transformer`. Token ids arrive as Floats (exact up to 2²⁴) and are not
/// differentiable: the input gradient is zero. Backward scatters each position's gradient into its
/// token's row and its position's row; a token repeated in a batch accumulates, in batch order.
public final class TokenPositionEmbedding: Layer {
    public let name: String
    public let inputShape: [Int]
    public let outputShape: [Int]
    public let vocabulary: Int
    public let width: Int
    public let blockSize: Int
    private var tokens: BoundParameter?
    private var positionTable: BoundParameter?

    public init(name: String, inputShape: [Int], vocabulary: Int, width: Int, blockSize: Int) throws(ModelError) {
        let label = "\(name) (TokenPositionEmbedding)"
        guard inputShape.count == 1, inputShape[0] > 0 else {
            throw .inputShape(layer: label, expected: "[T] token ids", found: inputShape)
        }
        guard vocabulary > 0, width > 0, blockSize > 0 else {
            throw .invalidArgument(layer: label, reason: "vocabulary \(vocabulary), width \(width) and block size "
                                   + "\(blockSize) must be positive")
        }
        guard inputShape[0] <= blockSize else {
            throw .invalidArgument(layer: label, reason: "sequences of \(inputShape[0]) tokens exceed the block size \(blockSize)")
        }
        self.name = name
        self.inputShape = inputShape
        self.vocabulary = vocabulary
        self.width = width
        self.blockSize = blockSize
        outputShape = [inputShape[0], width]
    }

    public var tokenTableName: String { "\(name).wte.weight" }
    public var positionTableName: String { "\(name).wpe.weight" }

    public var parameterSpecs: [ParameterSpec] {
        [ParameterSpec(name: tokenTableName, shape: [vocabulary, width], role: .embedding, outputAxis: 0),
         ParameterSpec(name: positionTableName, shape: [blockSize, width], role: .embedding, outputAxis: 0)]
    }

    public func bind(_ store: ParameterStore) {
        tokens = BoundParameter(store, tokenTableName)
        positionTable = BoundParameter(store, positionTableName)
    }

    @inline(__always) private func row(_ token: Float) -> Int { tokenRow(token, vocabulary: vocabulary, layer: name) }

    public func forward(_ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, batch: Int,
                        context: PassContext) {
        let wte = tokens.bound(name).value, wpe = positionTable.bound(name).value
        let t = inputShape[0], c = width
        for b in 0..<batch {
            for position in 0..<t {
                let y = output + (b * t + position) * c
                let token = wte + row(input[b * t + position]) * c, place = wpe + position * c
                for i in 0..<c { y[i] = token[i] + place[i] }
            }
        }
    }

    public func backward(input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                         inputGradient: UnsafeMutablePointer<Float>?, batch: Int, context: PassContext) {
        let dwte = tokens.bound(name).gradient, dwpe = positionTable.bound(name).gradient
        let t = inputShape[0], c = width
        for b in 0..<batch {
            for position in 0..<t {
                let dy = outputGradient + (b * t + position) * c
                let token = dwte + row(input[b * t + position]) * c, place = dwpe + position * c
                for i in 0..<c {
                    token[i] += dy[i]
                    place[i] += dy[i]
                }
            }
        }
        inputGradient?.update(repeating: 0, count: batch * inputCount)
    }

    public func flops(inputGradient: Bool) -> (forward: Double, backward: Double) {
        (Double(outputCount), 2 * Double(outputCount))
    }
}

/// GPT's output head, tied to the token embedding: logits `[T, vocabulary]` = x·Wᵀ for the table W
/// `[vocabulary, C]` another layer declares (nanoGPT's `lm_head.weight` is `transformer.wte.weight`).
///
/// It declares no parameter of its own, so the table is stored, checkpointed and optimized once;
/// its gradient gets this layer's dW = dYᵀ·x added to the embedding's scatter, in the same buffer.
public final class TiedOutputHead: Layer {
    public let name: String
    public let inputShape: [Int]
    public let outputShape: [Int]
    public let vocabulary: Int
    public let width: Int
    /// The name of the tied table (`transformer.wte.weight`).
    public let tableName: String
    private var table: BoundParameter?

    public init(name: String, inputShape: [Int], vocabulary: Int, tableName: String) throws(ModelError) {
        let label = "\(name) (TiedOutputHead)"
        guard inputShape.count == 2, inputShape.allSatisfy({ $0 > 0 }) else {
            throw .inputShape(layer: label, expected: "[T, C]", found: inputShape)
        }
        guard vocabulary > 0 else {
            throw .invalidArgument(layer: label, reason: "vocabulary must be positive, got \(vocabulary)")
        }
        self.name = name
        self.inputShape = inputShape
        self.vocabulary = vocabulary
        width = inputShape[1]
        self.tableName = tableName
        outputShape = [inputShape[0], vocabulary]
    }

    public func bind(_ store: ParameterStore) { table = BoundParameter(store, tableName) }

    public func forward(_ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, batch: Int,
                        context: PassContext) {
        let rows = batch * inputShape[0]
        BLAS.gemm(transposeB: true, m: rows, n: vocabulary, k: width, a: input, b: table.bound(name).value, c: output)
    }

    public func backward(input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                         inputGradient: UnsafeMutablePointer<Float>?, batch: Int, context: PassContext) {
        let table = table.bound(name), rows = batch * inputShape[0]
        BLAS.gemm(transposeA: true, m: vocabulary, n: width, k: rows, a: outputGradient, b: input, beta: 1,
                  c: table.gradient)
        if let inputGradient {
            BLAS.gemm(m: rows, n: width, k: vocabulary, a: outputGradient, b: table.value, c: inputGradient)
        }
    }

    public func flops(inputGradient: Bool) -> (forward: Double, backward: Double) {
        let product = 2 * Double(inputShape[0] * width * vocabulary)
        return (product, product * (inputGradient ? 2 : 1))
    }
}
