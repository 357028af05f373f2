import Configuration
import Data
import Distributed
import Foundation
import Layers
import Optimizers
import Reporting
import Tensors

/// What a finished (or stopped) run reports.
public struct TrainingSummary: Sendable {
    public var steps: Int
    public var skippedSteps: Int
    public var testLoss: Double
    public var testAccuracy: Double
    public var seconds: Double
    public var samplesPerSecond: Double
}

/// The training loop: R ranks × micro-batch b × k accumulation steps train exactly like one batch of R·b·k.
///
/// One optimizer step:
/// 1. k micro-steps: forward, *summed* loss and item count, backward accumulating into the flat
///    gradient buffer (zeroed once per optimizer step).
/// 2. One reduction over the gradient sums and the scalars (loss sum, item count, non-finite ranks).
/// 3. Divide once by the global item count; everything after that (clipping, the loss handed to
///    loss-aware optimizers, schedules, weight decay) sees the global values, identical on every rank.
/// 4. A non-finite gradient on any rank makes every rank skip the step together.
public final class Trainer {
    public let configuration: TrainingConfiguration
    public let world: any Communicator
    public let model: Model
    public let optimizer: any Optimizer
    public let schedule: Schedule
    public let plan: BatchPlan
    public let trainSet: Dataset
    public let testSet: Dataset
    public let totalSteps: Int
    let preprocessing: Preprocessing
    let reducer: GradientReducer
    let runDirectory: URL?
    let metrics: MetricsWriter?
    let progress: ProgressReporter?

    /// Optimizer steps completed (applied or skipped).
    public private(set) var step = 0
    /// Steps skipped because some rank saw a non-finite gradient.
    public private(set) var skippedSteps = 0
    /// Training seconds of the run before a resume, so that `elapsed` continues across it.
    public private(set) var elapsedBefore = 0.0
    /// Training seconds so far, including earlier sessions of a resumed run.
    public var elapsed: Double { elapsedBefore + (runStart.map { monotonicSeconds() - $0 } ?? 0) }
    private var runStart: Double?
    /// Updates actually applied (the optimizer's own step counter).
    public private(set) var appliedSteps = 0
    /// Polled once per step: true stops every rank after the same step (signals).
    public var stopRequested: () -> Bool = { false }
    /// Called on every rank after each completed step (checkpoints).
    public var onStepEnd: (Trainer) throws -> Void = { _ in }

    /// Builds everything a run needs and agrees across ranks that it worked.
    public init(configuration: TrainingConfiguration, world: any Communicator, runDirectory: URL?,
                quiet: Bool = false, appendMetrics: Bool = false) throws {
        self.configuration = configuration
        self.world = world
        self.runDirectory = runDirectory

        // Every rank must run the same configuration.
        let fingerprint = Int64(bitPattern: configuration.fingerprint)
        let low = try world.allReduce(fingerprint, .min), high = try world.allReduce(fingerprint, .max)
        if low != high {
            throw CollectiveFailure(message: "error: \(TrainingError.configurationMismatch(localFingerprint: configuration.fingerprint))",
                                    failingRank: 0)
        }

        let built = try agree(world) { () throws -> (Dataset, Dataset, Model, any Optimizer, Schedule, BatchPlan, Preprocessing, Int) in
            let trainSet = try DatasetLoader.load(configuration.data, split: .train)
            let testSet = try DatasetLoader.load(configuration.data, split: .test)
            guard trainSet.count > 0 else { throw TrainingError.emptyTrainingSet }
            let model = try Model(spec: configuration.model, inputShape: trainSet.sampleShape, classes: trainSet.classes)
            let optimizer = try OptimizerCatalog.make(
                section: ConfigSection(configuration.optimizerTree, path: "optimizer"), layout: model.layout)
            let plan = try BatchPlan(sampleCount: trainSet.count, globalBatch: configuration.globalBatch,
                                     microBatch: configuration.microBatch, worldSize: world.size,
                                     lastBatch: configuration.data.lastBatch, seed: configuration.seed)
            let totalSteps: Int
            switch configuration.duration {
            case .epochs(let epochs): totalSteps = epochs * plan.stepsPerEpoch
            case .steps(let steps): totalSteps = steps
            }
            let schedule = try Schedule(
                section: ConfigSection(configuration.scheduleTree, path: "schedule"),
                baseLearningRate: OptimizerCatalog.learningRate(
                    section: ConfigSection(configuration.optimizerTree, path: "optimizer")),
                globalBatch: configuration.globalBatch, totalSteps: totalSteps)
            let preprocessing = try Preprocessing(config: configuration.data, trainingSet: trainSet)
            if let runDirectory, world.isRoot { try Trainer.prepare(runDirectory: runDirectory, configuration: configuration) }
            return (trainSet, testSet, model, optimizer, schedule, plan, preprocessing, totalSteps)
        }
        (trainSet, testSet, model, optimizer, schedule, plan, preprocessing, totalSteps) = built
        reducer = GradientReducer(communicator: world, bucketBytes: configuration.bucketBytes)

        // Identical initial parameters everywhere: rank 0's, whatever the others computed.
        model.initializeParameters(seed: configuration.seed)
        try world.broadcast(model.store.parameters.pointer, root: 0)

        if let runDirectory, world.isRoot {
            let url = runDirectory.appendingPathComponent("metrics.jsonl")
            // A fresh run starts a fresh log; a resumed one appends (the reader replaces the steps it redoes).
            if !appendMetrics { try? FileManager.default.removeItem(at: url) }
            metrics = try MetricsWriter(url: url)
        } else {
            metrics = nil
        }
        progress = world.isRoot && !quiet ? ProgressReporter(totalSteps: totalSteps, logEvery: configuration.logEvery) : nil
    }

    static func prepare(runDirectory: URL, configuration: TrainingConfiguration) throws {
        do {
            try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
            try configuration.tree.yaml().write(to: runDirectory.appendingPathComponent("config.yaml"),
                                                atomically: true, encoding: .utf8)
        } catch {
            throw TrainingError.runDirectory(path: runDirectory.path, reason: error.localizedDescription)
        }
    }

    /// Trains until the configured number of steps, evaluating and checkpointing on the way.
    @discardableResult
    public func run() throws -> TrainingSummary {
        let startTime = monotonicSeconds()
        runStart = startTime
        let loader = BatchLoader(dataset: trainSet, preprocessing: preprocessing, plan: plan, rank: world.rank,
                                 seed: configuration.seed, firstStep: step, lastStep: totalSteps)
        defer { loader.stop() }
        var scalars = [Double](repeating: 0, count: 4)
        var lastEvaluation: (loss: Double, accuracy: Double) = (.nan, .nan)
        let evalEvery = configuration.evalEvery > 0 ? configuration.evalEvery : plan.stepsPerEpoch
        var samplesSeen = 0

        while step < totalSteps {
            let stepStart = monotonicSeconds()
            if let failAt = configuration.faults.failAtStep, failAt == step, configuration.faults.rank == world.rank {
                throw TrainingError.injectedFailure(rank: world.rank, step: step)
            }

            // 1. Micro-steps: summed losses, gradients accumulated.
            let local = try accumulateMicroBatches(from: loader)
            if configuration.faults.nonFiniteSteps.contains(step), configuration.faults.rank == world.rank {
                model.store.gradients[0] = .nan
            }
            let locallyFinite = local.lossSum.isFinite && VectorMath.allFinite(model.store.gradients.baseAddress, model.store.gradients.count)

            // 2. One reduction of gradient sums and scalars.
            let communicationStart = monotonicSeconds()
            scalars[0] = local.lossSum
            scalars[1] = Double(local.items)
            scalars[2] = locallyFinite ? 0 : 1
            // A stop request (signal) rides along, so every rank stops after the same step.
            scalars[3] = stopRequested() ? 1 : 0
            try reducer.reduce(model.store.gradients.pointer, scalars: &scalars)
            let optimizerStart = monotonicSeconds()
            let globalItems = scalars[1]
            let skip = scalars[2] > 0 || !scalars[0].isFinite || globalItems == 0

            // 3. Divide once by the global count; update with global values.
            var gradientNorm = Double.nan
            let learningRate = schedule.learningRate(step: step + 1)
            let meanLoss = globalItems > 0 ? scalars[0] / globalItems : .nan
            if skip {
                skippedSteps += 1
            } else {
                VectorMath.scale(model.store.gradients.baseAddress, model.store.gradients.count, by: Float(1.0 / globalItems))
                gradientNorm = VectorMath.norm(model.store.gradients.baseAddress, model.store.gradients.count)
                appliedSteps += 1
                optimizer.step(parameters: model.store.parameters, gradients: model.store.gradients,
                               context: StepContext(step: appliedSteps, learningRate: learningRate,
                                                    loss: Float(meanLoss)))
            }
            let end = monotonicSeconds()
            step += 1
            samplesSeen += Int(globalItems)

            let record = StepRecord(
                step: step, epoch: Double(step) / Double(plan.stepsPerEpoch), loss: meanLoss,
                learningRate: Double(learningRate), gradientNorm: gradientNorm, items: Int(globalItems),
                samplesPerSecond: globalItems / max(end - stepStart, 1e-9),
                seconds: StepTimings(compute: local.computeSeconds, communication: optimizerStart - communicationStart,
                                     optimizer: end - optimizerStart, data: local.dataSeconds),
                elapsed: elapsedBefore + end - startTime, skipped: skip)
            try metrics?.write(record)
            progress?.update(record, epochs: plan.stepsPerEpoch)

            if configuration.checksumEvery > 0 && step % configuration.checksumEvery == 0 {
                try verifyParametersAgree()
            }
            if step % evalEvery == 0 || step == totalSteps {
                lastEvaluation = try evaluate()
                let evaluation = EvaluationRecord(step: step, epoch: Double(step) / Double(plan.stepsPerEpoch),
                                                  elapsed: elapsedBefore + monotonicSeconds() - startTime,
                                                  testLoss: lastEvaluation.loss, testAccuracy: lastEvaluation.accuracy)
                try metrics?.write(evaluation)
                progress?.report(evaluation)
            }
            try onStepEnd(self)
            if scalars[3] > 0 { break }
        }
        progress?.finish()
        let seconds = monotonicSeconds() - startTime
        return TrainingSummary(steps: step, skippedSteps: skippedSteps, testLoss: lastEvaluation.loss,
                               testAccuracy: lastEvaluation.accuracy, seconds: seconds,
                               samplesPerSecond: samplesSeen > 0 ? Double(samplesSeen) / seconds : 0)
    }

    /// This rank's share of one optimizer step: its k micro-batches, forward and backward, with the
    /// summed loss and the number of counted items (gradients accumulate in the store).
    private func accumulateMicroBatches(from loader: BatchLoader) throws
        -> (lossSum: Double, items: Int, dataSeconds: Double, computeSeconds: Double)
    {
        model.store.zeroGradients()
        var lossSum = 0.0, items = 0, dataSeconds = 0.0, computeSeconds = 0.0
        for _ in 0..<plan.microSteps {
            let waitStart = monotonicSeconds()
            guard let batch = try loader.next() else { break }
            let computeStart = monotonicSeconds()
            dataSeconds += computeStart - waitStart
            if batch.count > 0 {
                if let naive = naiveScratch { naive.copy(from: model.store.gradients) }
                let loss = model.forwardBackward(inputs: batch.inputs, labels: batch.labels,
                                                 sampleIndices: batch.indices, count: batch.count,
                                                 seed: configuration.seed, step: step)
                if let naive = naiveScratch {
                    averageIntoNaive(previous: naive, items: loss.items)
                    lossSum += loss.sum / Double(loss.items)
                    items += 1
                } else {
                    lossSum += loss.sum
                    items += loss.items
                }
            }
            computeSeconds += monotonicSeconds() - computeStart
        }
        return (lossSum, items, dataSeconds, computeSeconds)
    }

    /// The deliberately wrong accumulation of `debug.naive_accumulation`: the gradient buffer
    /// becomes previous + (this micro-batch's sum) / its count, and the "items" reduced are
    /// micro-batches, so the final division averages per-micro-batch means.
    private func averageIntoNaive(previous: FloatBuffer, items: Int) {
        let g = model.store.gradients.baseAddress, p = previous.baseAddress
        let factor = 1 / Float(items)
        for i in 0..<previous.count { g[i] = p[i] + (g[i] - p[i]) * factor }
    }

    private lazy var naiveScratch: FloatBuffer? =
        configuration.faults.naiveAccumulation ? FloatBuffer(count: model.store.gradients.count) : nil

    /// Continues a run from a checkpoint's counters.
    func restoreCounters(step: Int, appliedSteps: Int, skippedSteps: Int, elapsed: Double) {
        self.step = step
        self.elapsedBefore = elapsed
        self.appliedSteps = appliedSteps
        self.skippedSteps = skippedSteps
    }

    /// Test loss and accuracy over the whole test set, each rank evaluating its shard.
    public func evaluate() throws -> (loss: Double, accuracy: Double) {
        try CheckpointEvaluation.evaluate(model: model, testSet: testSet, preprocessing: preprocessing,
                                          batch: configuration.evalBatch, world: world)
    }

    /// Fails loudly if any rank's parameters differ from the others'.
    func verifyParametersAgree() throws {
        let checksum = parameterChecksum(model.store.parameters)
        let low = try world.allReduce(checksum, .min), high = try world.allReduce(checksum, .max)
        if low != high { throw TrainingError.parameterDivergence(step: step, minimum: low, maximum: high) }
    }
}

/// A position-weighted sum, so that swapped or shifted values change it too.
func parameterChecksum(_ buffer: FloatBuffer) -> Double {
    var sum = 0.0
    for i in 0..<buffer.count { sum += Double(buffer[i]) * Double(i % 251 + 1) }
    return sum
}
