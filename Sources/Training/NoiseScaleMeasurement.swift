import Checkpoints
import Data
import Distributed
import Foundation
import Layers
import Tensors

/// The gradient noise scale measured directly at fixed parameters (`bigbatch noise-scale`): the
/// mean squared norm of the mean gradient over `batches` independent batches of each of two sizes,
/// put through McCandlish et al.'s two-size estimates (`GradientNoiseEstimate.twoBatchSizes`). An
/// independent check of the online figure, which reuses the parts of each training step instead.
///
/// Each batch draws its samples independently and uniformly from the training set (with
/// replacement, so the items are independent as the estimates assume), keyed by (seed, size,
/// batch): the same batches on any number of ranks. The ranks share the batches and sum their
/// squared norms once at the end.
public struct NoiseScaleMeasurement: Sendable {
    public var smallBatch: Int
    public var bigBatch: Int
    public var batches: Int
    /// Mean over the batches of |g/n|², and of the items n counted, at each size.
    public var smallSquaredNorm: Double
    public var bigSquaredNorm: Double
    public var smallItems: Double
    public var bigItems: Double

    /// The two-size estimates, with the batch sizes in counted items (tokens for a language model).
    public var estimate: GradientNoiseEstimate {
        .twoBatchSizes(small: smallSquaredNorm, smallBatch: smallItems, big: bigSquaredNorm, bigBatch: bigItems)
    }

    /// Why a measurement was refused.
    public enum Error: Swift.Error, CustomStringConvertible, Equatable {
        case sizes(small: Int, big: Int)
        case batches(Int)

        public var description: String {
            switch self {
            case .sizes(let small, let big):
                "--small \(small) must be positive and smaller than --big \(big): the estimates need two different batch sizes"
            case .batches(let count):
                "--batches \(count) must be at least 2"
            }
        }
    }

    /// Loads the checkpoint's parameters into the configured model and measures.
    public static func run(checkpoint: Checkpoint, configuration: TrainingConfiguration, small: Int, big: Int,
                           batches: Int, world: any Communicator) throws -> NoiseScaleMeasurement {
        guard small > 0, big > small else { throw Error.sizes(small: small, big: big) }
        guard batches >= 2 else { throw Error.batches(batches) }
        let (model, trainSet, preprocessing) = try agree(world) { () throws -> (Model, Dataset, Preprocessing) in
            let trainSet = try DatasetLoader.load(configuration.data, split: .train)
            let model = try Model(spec: configuration.model, inputShape: trainSet.sampleShape,
                                  targetsPerSample: trainSet.targetsPerSample, classes: trainSet.classes)
            try Trainer.checkMemory(model, batches: [("batch.micro", configuration.microBatch)])
            try checkpoint.restore(into: model.store.parameters, layout: model.layout, prefix: Checkpoint.parameterPrefix)
            // Normalisation and augmentation as in training: the noise is the training gradient's.
            return (model, trainSet, try Preprocessing(config: configuration.data, trainingSet: trainSet))
        }
        let sampler = GradientSampler(model: model, dataset: trainSet, preprocessing: preprocessing,
                                      micro: configuration.microBatch, seed: configuration.seed)
        // Per size: Σ |g/n|² and Σ n over this rank's batches.
        var totals = [Double](repeating: 0, count: 4)
        for batch in stride(from: world.rank, to: batches, by: world.size) {
            for (slot, size) in [small, big].enumerated() {
                let (squaredNorm, items) = sampler.gradientSquaredNorm(batch: batch, size: size)
                guard items > 0 else { continue }
                totals[2 * slot] += squaredNorm / (Double(items) * Double(items))
                totals[2 * slot + 1] += Double(items)
            }
        }
        try totals.withUnsafeMutableBufferPointer { try world.allReduce($0, .sum) }
        let count = Double(batches)
        return NoiseScaleMeasurement(smallBatch: small, bigBatch: big, batches: batches,
                                     smallSquaredNorm: totals[0] / count, bigSquaredNorm: totals[2] / count,
                                     smallItems: totals[1] / count, bigItems: totals[3] / count)
    }
}

/// Gradient sums of independently drawn training batches at the model's current parameters.
private final class GradientSampler {
    let model: Model
    let dataset: Dataset
    let preprocessing: Preprocessing
    let micro: Int
    let seed: UInt64
    /// One micro-batch's inputs and targets, reused by every batch.
    private let inputs: FloatBuffer
    private var targets: [Int32]

    init(model: Model, dataset: Dataset, preprocessing: Preprocessing, micro: Int, seed: UInt64) {
        self.model = model
        self.dataset = dataset
        self.preprocessing = preprocessing
        self.micro = micro
        self.seed = seed
        inputs = FloatBuffer(count: micro * dataset.sampleSize)
        targets = [Int32](repeating: 0, count: micro * dataset.targetsPerSample)
    }
    /// Keys the draws apart from every other use of the seed.
    static let stream: UInt64 = 0x6e6f_6973_6573_6361  // "noisesca"

    /// |Σ gradients|² over one batch of `size` samples, and the items its loss counted.
    func gradientSquaredNorm(batch: Int, size: Int) -> (squaredNorm: Double, items: Int) {
        let random = KeyedRandom(seed, Self.stream, UInt64(size), UInt64(batch))
        let count = UInt64(dataset.count)
        let indices = (0..<size).map { i -> Int in
            let word = random.block(UInt64(i))
            return Int(((UInt64(word.0) << 32 | UInt64(word.1)) % count))
        }
        model.store.zeroGradients()
        let inputs = inputs, dataset = dataset, preprocessing = preprocessing, model = model, seed = seed
        var items = 0
        var start = 0
        while start < size {
            let part = Array(indices[start..<min(start + micro, size)])
            part.withUnsafeBufferPointer { part in
                preprocessing.fill(from: dataset, indices: part, augmentationKey: (seed, batch), into: inputs.baseAddress)
                targets.withUnsafeMutableBufferPointer { targets in
                    Preprocessing.fillTargets(from: dataset, indices: part, into: targets.baseAddress!)
                    // Dropout keyed by (seed, batch, sample) as training keys it by (seed, step, sample).
                    let loss = model.forwardBackward(inputs: UnsafeBufferPointer(inputs.pointer),
                                                     targets: UnsafeBufferPointer(rebasing: targets[..<(part.count * dataset.targetsPerSample)]),
                                                     sampleIndices: part, count: part.count, seed: seed, step: batch)
                    items += loss.items
                }
            }
            start += micro
        }
        let gradients = model.store.gradients
        return (VectorMath.sumOfSquares(gradients.baseAddress, gradients.count), items)
    }
}
