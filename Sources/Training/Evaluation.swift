import Checkpoints
import Distributed
import Foundation
import Layers

/// Test loss and accuracy of a saved model.
public enum CheckpointEvaluation {
    /// Builds the configured model, loads the checkpoint's parameters and evaluates the test set,
    /// each rank on its shard.
    public static func run(checkpoint url: URL, configuration: TrainingConfiguration, world: any Communicator)
        throws -> (loss: Double, accuracy: Double)
    {
        let (model, testSet, preprocessing) = try agree(world) { () throws -> (Model, Dataset, Preprocessing) in
            let checkpoint = try Checkpoint.read(from: try TrainingSession.checkpointFile(for: url))
            let trainSet = try DatasetLoader.load(configuration.data, split: .train)
            let testSet = try DatasetLoader.load(configuration.data, split: .test)
            let model = try Model(spec: configuration.model, inputShape: testSet.sampleShape, classes: testSet.classes)
            try checkpoint.restore(into: model.store.parameters, layout: model.layout, prefix: Checkpoint.parameterPrefix)
            return (model, testSet, Preprocessing(config: configuration.data, training: trainSet))
        }
        return try evaluate(model: model, testSet: testSet, preprocessing: preprocessing,
                            batch: configuration.evalBatch, world: world)
    }

    /// Summed test loss, correct predictions and items over every rank's shard.
    static func evaluate(model: Model, testSet: Dataset, preprocessing: Preprocessing, batch: Int,
                         world: any Communicator) throws -> (loss: Double, accuracy: Double) {
        let shard = EvaluationShard.range(count: testSet.count, rank: world.rank, worldSize: world.size)
        let inputs = FloatBuffer(count: batch * testSet.sampleSize)
        var labels = [Int32](repeating: 0, count: batch)
        var totals = [0.0, 0.0, 0.0]
        var start = shard.lowerBound
        while start < shard.upperBound {
            let indices = Array(start..<min(start + batch, shard.upperBound))
            preprocessing.fill(dataset: testSet, indices: indices, inputs: inputs.pointer, labels: &labels)
            let result = labels.withUnsafeBufferPointer { labelPointer in
                model.evaluate(inputs: UnsafeBufferPointer(inputs.pointer), labels: labelPointer, count: indices.count)
            }
            totals[0] += result.lossSum
            totals[1] += Double(result.correct)
            totals[2] += Double(result.items)
            start += batch
        }
        try totals.withUnsafeMutableBufferPointer { try world.allReduce($0, .sum) }
        return (totals[0] / max(totals[2], 1), totals[1] / max(totals[2], 1))
    }
}
