import Checkpoints
import Configuration
import Distributed
import Foundation
import Data
import Layers
import Tensors

/// The mean test loss and the task's metrics (for classification, `accuracy`), each a sum over
/// every rank's shard divided once by the items counted.
public struct EvaluationResult: Sendable {
    public var loss: Double
    /// In the task's order (`Task.metricNames`).
    public var metrics: [(name: String, value: Double)]

    /// The task's first metric: what the metrics log and reports record as the test accuracy.
    public var headline: Double { metrics.first?.value ?? .nan }

    /// The loss in bits per byte when each token is one byte (`data.dataset: text`), else nil.
    public func bitsPerByte(_ data: DataConfig) -> Double? { data.kind == .text ? loss / log(2) : nil }
}

/// Why a checkpoint cannot be evaluated.
public enum EvaluationError: Error, CustomStringConvertible, Equatable {
    case noConfiguration(checkpoint: String, looked: String)

    public var description: String {
        switch self {
        case .noConfiguration(let checkpoint, let looked):
            "\(checkpoint) carries no configuration (written before checkpoints stored theirs) and there is no "
                + "\(looked); give the configuration it was trained with: --config FILE"
        }
    }
}

/// Test loss and metrics of a saved model.
public enum CheckpointEvaluation {
    /// Builds the configured model, loads the checkpoint's parameters and evaluates the test set,
    /// each rank on its shard. Inputs are normalised as the checkpoint records they were in training,
    /// whatever the configuration says; only a checkpoint that predates the record has them measured
    /// again from the configured training set.
    public static func run(checkpoint: Checkpoint, configuration: TrainingConfiguration, world: any Communicator)
        throws -> EvaluationResult
    {
        let (model, testSet, preprocessing) = try agree(world) { () throws -> (Model, Dataset, Preprocessing) in
            let testSet = try DatasetLoader.load(configuration.data, split: .test)
            let model = try Model(spec: configuration.model, inputShape: testSet.sampleShape,
                                  targetsPerSample: testSet.targetsPerSample, classes: testSet.classes)
            try checkpoint.restore(into: model.store.parameters, layout: model.layout, prefix: Checkpoint.parameterPrefix)
            return (model, testSet, try Self.preprocessing(recordedIn: checkpoint, for: testSet, configuration: configuration))
        }
        return try evaluate(model: model, testSet: testSet, preprocessing: preprocessing,
                            batch: configuration.evalBatch, world: world)
    }

    /// The input normalisation `checkpoint` records it was trained with, for samples like `dataset`'s;
    /// only a checkpoint that predates the record has it measured again from the configured training set.
    static func preprocessing(recordedIn checkpoint: Checkpoint, for dataset: Dataset,
                              configuration: TrainingConfiguration) throws -> Preprocessing {
        guard let recorded = try InputNormalization(reading: checkpoint) else {
            let trainSet = try DatasetLoader.load(configuration.data, split: .train)
            return try Preprocessing(config: configuration.data, trainingSet: trainSet)
        }
        guard recorded.mean.count == 1 || recorded.mean.count == dataset.channels else {
            throw ResumeError.mismatch(file: checkpoint.source, what: "normalisation recorded for \(recorded.mean.count) "
                                       + "channels, but the data set has \(dataset.channels)")
        }
        return Preprocessing(sampleShape: dataset.sampleShape, mean: recorded.mean, std: recorded.std)
    }

    /// The checkpoint at `path` (a file, or a run directory's latest) and the configuration to use it with
    /// (`configuration(for:explicit:overrides:)`): what `eval`, `generate` and `noise-scale` start from.
    public static func open(_ path: String, explicit: String?, overrides: [String]) throws
        -> (checkpoint: Checkpoint, configuration: TrainingConfiguration)
    {
        let file = try TrainingSession.readCheckpoint(URL(fileURLWithPath: path))
        return (file, try configuration(for: file, explicit: explicit, overrides: overrides))
    }

    /// The configuration to evaluate `checkpoint` with: `explicit` if given, else the resolved
    /// configuration stored in the checkpoint, else the `config.yaml` of the run directory it lies in;
    /// `overrides` apply to whichever is used.
    public static func configuration(for checkpoint: Checkpoint, explicit: String?, overrides: [String]) throws
        -> TrainingConfiguration
    {
        if let explicit { return try TrainingConfiguration.load(path: explicit, overrides: overrides) }
        if let text = checkpoint.metadata[CheckpointMetadata.Key.configuration] {
            return try TrainingConfiguration.resolve(ConfigValue.parse(yaml: text, source: checkpoint.source),
                                                     source: checkpoint.source, overrides: overrides)
        }
        let beside = URL(fileURLWithPath: checkpoint.source).deletingLastPathComponent().appendingPathComponent("config.yaml")
        guard FileManager.default.fileExists(atPath: beside.path) else {
            throw EvaluationError.noConfiguration(checkpoint: checkpoint.source, looked: beside.path)
        }
        return try TrainingConfiguration.load(path: beside.path, overrides: overrides)
    }

    /// The mean test loss and the task's metrics over every rank's shard: the sums and counts are
    /// reduced once and divided once, as in training.
    static func evaluate(model: Model, testSet: Dataset, preprocessing: Preprocessing, batch: Int,
                         world: any Communicator) throws -> EvaluationResult {
        let shard = EvaluationShard.range(count: testSet.count, rank: world.rank, worldSize: world.size)
        let inputs = FloatBuffer(count: batch * testSet.sampleSize)
        let perSample = model.targetsPerSample
        // Loss sum, items, then one sum per metric.
        var totals = [Double](repeating: 0, count: 2 + model.task.metricNames.count)
        var start = shard.lowerBound
        while start < shard.upperBound {
            let range = start..<min(start + batch, shard.upperBound)
            preprocessing.fill(from: testSet, range: range, into: inputs.pointer)
            let result = testSet.targets.withUnsafeBufferPointer { targets in
                model.evaluate(inputs: UnsafeBufferPointer(inputs.pointer),
                               targets: UnsafeBufferPointer(rebasing: targets[(range.lowerBound * perSample)..<(range.upperBound * perSample)]),
                               count: range.count)
            }
            totals[0] += result.lossSum
            totals[1] += Double(result.items)
            for (i, sum) in result.metricSums.enumerated() { totals[2 + i] += sum }
            start = range.upperBound
        }
        try totals.withUnsafeMutableBufferPointer { try world.allReduce($0, .sum) }
        let items = max(totals[1], 1)
        return EvaluationResult(loss: totals[0] / items,
                                metrics: model.task.metricNames.enumerated().map { ($1, totals[2 + $0] / items) })
    }
}
