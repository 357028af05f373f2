import Tensors

/// Inverted dropout: kept units are scaled by 1/(1−p) in training, so evaluation is the identity.
///
/// The mask of a sample comes from `KeyedRandom(seed, step, globalSampleIndex, layerIndex)`,
/// element `j` kept when `uniform(j) ≥ p`. It depends on nothing about the batch the sample
/// sits in, so any split into ranks and micro-batches draws the same masks.
public final class Dropout: Layer {
    public let name: String
    public let inputShape: [Int]
    public var outputShape: [Int] { inputShape }
    public let probability: Float
    /// The layer's part of the dropout key: its position in the model.
    public let layerIndex: Int
    private let mask = Workspace()
    private var masked = false

    public init(name: String, inputShape: [Int], probability: Double, layerIndex: Int) throws(ModelError) {
        guard probability >= 0, probability < 1 else {
            throw .invalidArgument(layer: "\(name) (Dropout)", reason: "probability must be in [0, 1), got \(probability)")
        }
        self.name = name
        self.inputShape = inputShape
        self.probability = Float(probability)
        self.layerIndex = layerIndex
    }

    public func reserve(batch: Int) {
        if probability > 0 { mask.reserve(batch * inputCount) }
    }

    /// The multiplier (0 or 1/(1−p)) of every element of one sample.
    public static func fillMask(_ mask: UnsafeMutablePointer<Float>, count: Int, probability: Float,
                                seed: UInt64, step: Int, sampleIndex: Int, layerIndex: Int) {
        let random = KeyedRandom(seed, UInt64(bitPattern: Int64(step)), UInt64(bitPattern: Int64(sampleIndex)),
                                 UInt64(bitPattern: Int64(layerIndex)))
        let scale = 1 / (1 - probability)
        // Same numbers as `random.uniform(j)`, one Philox block per four elements.
        let threshold = UInt32(min(Double(probability) * 16_777_216.0, 16_777_216.0).rounded(.up))
        var j = 0
        while j < count {
            let w = random.block(UInt64(j >> 2))
            let words = (w.0 >> 8, w.1 >> 8, w.2 >> 8, w.3 >> 8)
            mask[j] = words.0 >= threshold ? scale : 0
            if j + 1 < count { mask[j + 1] = words.1 >= threshold ? scale : 0 }
            if j + 2 < count { mask[j + 2] = words.2 >= threshold ? scale : 0 }
            if j + 3 < count { mask[j + 3] = words.3 >= threshold ? scale : 0 }
            j += 4
        }
    }

    public func forward(_ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, batch: Int,
                        context: PassContext) {
        let n = inputCount
        masked = context.training && probability > 0
        guard masked else {
            output.update(from: input, count: batch * n)
            return
        }
        guard let indices = context.sampleIndices else {
            preconditionFailure("\(name): training with dropout needs the global sample indices")
        }
        let mask = mask.pointer
        for b in 0..<batch {
            Self.fillMask(mask + b * n, count: n, probability: probability, seed: context.seed, step: context.step,
                          sampleIndex: indices[b], layerIndex: layerIndex)
        }
        for i in 0..<(batch * n) { output[i] = input[i] * mask[i] }
    }

    public func backward(input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                         inputGradient: UnsafeMutablePointer<Float>?, batch: Int, context: PassContext) {
        guard let inputGradient else { return }
        let count = batch * inputCount
        guard masked else {
            inputGradient.update(from: outputGradient, count: count)
            return
        }
        let mask = mask.pointer
        for i in 0..<count { inputGradient[i] = outputGradient[i] * mask[i] }
    }

    public func flops(inputGradient: Bool) -> (forward: Double, backward: Double) {
        (Double(inputCount), inputGradient ? Double(inputCount) : 0)
    }
}
