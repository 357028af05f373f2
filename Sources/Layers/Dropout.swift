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

    public func isIdentity(in context: PassContext) -> Bool { !(context.training && probability > 0) }

    public func reserve(batch: Int) {
        if probability > 0 { mask.reserve(batch * inputCount) }
    }

    /// The multiplier (0 or 1/(1−p)) of every element of one sample.
    public static func fillMask(_ mask: UnsafeMutablePointer<Float>, count: Int, probability: Float,
                                seed: UInt64, step: Int, sampleIndex: Int, layerIndex: Int) {
        fillMask(mask, applyingTo: nil, into: nil, count: count, probability: probability, seed: seed, step: step,
                 sampleIndex: sampleIndex, layerIndex: layerIndex)
    }

    /// Writes the mask of one sample and, when `input` and `output` are given, `output = input · mask`
    /// in the same pass while both are in cache.
    ///
    /// Element `j` is kept when `uniform(j) ≥ p`: the same numbers as `KeyedRandom.uniform(j)`, with
    /// eight Philox blocks (32 elements) computed side by side in SIMD lanes.
    static func fillMask(_ mask: UnsafeMutablePointer<Float>, applyingTo input: UnsafePointer<Float>?,
                         into output: UnsafeMutablePointer<Float>?, count: Int, probability: Float,
                         seed: UInt64, step: Int, sampleIndex: Int, layerIndex: Int) {
        let random = KeyedRandom(seed, UInt64(bitPattern: Int64(step)), UInt64(bitPattern: Int64(sampleIndex)),
                                 UInt64(bitPattern: Int64(layerIndex)))
        let scale = 1 / (1 - probability)
        // uniform(j) = (word >> 8) / 2²⁴ ≥ p  ⇔  word >> 8 ≥ ⌈p·2²⁴⌉.
        let threshold = UInt32(min(Double(probability) * 16_777_216.0, 16_777_216.0).rounded(.up))
        let lanes = SIMD8<UInt32>.scalarCount
        let groupElements = 4 * lanes
        var j = 0
        while j + groupElements <= count {
            let words = random.eightBlocks(from: UInt64(j >> 2))
            // Selects, not branches: which units survive is random, so branches would mispredict.
            let zero = SIMD8<Float>(repeating: 0), t = SIMD8<UInt32>(repeating: threshold)
            let kept = (zero.replacing(with: scale, where: words.0 &>> 8 .>= t),
                        zero.replacing(with: scale, where: words.1 &>> 8 .>= t),
                        zero.replacing(with: scale, where: words.2 &>> 8 .>= t),
                        zero.replacing(with: scale, where: words.3 &>> 8 .>= t))
            let m = mask + j
            for lane in 0..<lanes {
                Elementwise.store(SIMD4(kept.0[lane], kept.1[lane], kept.2[lane], kept.3[lane]), m + 4 * lane)
            }
            j += groupElements
        }
        while j < count {
            let w = random.block(UInt64(j >> 2))
            let words = (w.0 >> 8, w.1 >> 8, w.2 >> 8, w.3 >> 8)
            mask[j] = words.0 >= threshold ? scale : 0
            if j + 1 < count { mask[j + 1] = words.1 >= threshold ? scale : 0 }
            if j + 2 < count { mask[j + 2] = words.2 >= threshold ? scale : 0 }
            if j + 3 < count { mask[j + 3] = words.3 >= threshold ? scale : 0 }
            j += 4
        }
        if let input, let output {
            Elementwise.multiply(input, UnsafePointer(mask), into: output, range: 0..<count)
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
        let mask = mask.pointer, probability = probability, layerIndex = layerIndex
        // Mask generation costs several times a plain pass, so split the samples over the BLAS threads.
        Parallel.forEachRange(batch, work: 8 * batch * n) { samples in
            for b in samples {
                Self.fillMask(mask + b * n, applyingTo: input + b * n, into: output + b * n, count: n,
                              probability: probability, seed: context.seed, step: context.step,
                              sampleIndex: indices[b], layerIndex: layerIndex)
            }
        }
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
        Parallel.forEachRange(count, work: count) { range in
            Elementwise.multiply(outputGradient, mask, into: inputGradient, range: range)
        }
    }

    public func flops(inputGradient: Bool) -> (forward: Double, backward: Double) {
        (Double(inputCount), inputGradient ? Double(inputCount) : 0)
    }
}
