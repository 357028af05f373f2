import Checkpoints
import Configuration
import Data
import Distributed
import Foundation
import Layers
import Optimizers
import Reporting
import Tensors

/// One optimizer step at a time: R ranks × micro-batch b × k accumulation steps train exactly like
/// one batch of R·b·k.
///
/// `step(from:)` is the whole of it:
/// 1. k micro-steps: forward, *summed* loss and item count, backward accumulating into the flat
///    gradient buffer (zeroed once per optimizer step).
/// 2. One reduction over the gradient sums and the `StepScalars`.
/// 3. Divide once by the global item count; everything after that (clipping, the loss handed to
///    loss-aware optimizers, schedules, weight decay) sees the global values, identical on every rank.
/// 4. A non-finite gradient on any rank makes every rank skip the step together.
///
/// In the reproducible mode (`distributed.reproducible`) steps 1–2 work on whole chunks instead:
/// each chunk's gradient is computed on its own and added in 64-bit fixed point
/// (`FixedPointGradientSum`), loss sums likewise, and the integers are reduced — so the sum, and
/// everything after it, has the same bits for every decomposition.
///
/// The trainer owns the model, optimizer, schedule and batch plan and lets none of them out: the run
/// loop (`TrainingSession`) asks it for steps, evaluations, checks and checkpoints.
public final class Trainer {
    public let configuration: TrainingConfiguration
    public let world: any Communicator
    public let totalSteps: Int
    public var stepsPerEpoch: Int { plan.stepsPerEpoch }
    /// The schedule's peak learning rate (the base rate scaled for the global batch).
    public var peakLearningRate: Double { schedule.peak }
    public var optimizerName: String { optimizer.name }
    /// Whether steps are summed exactly (`distributed.reproducible`).
    public var isReproducible: Bool { exactSum != nil }

    let model: Model
    let optimizer: any Optimizer
    let schedule: Schedule
    let plan: BatchPlan
    let trainSet: Dataset
    let testSet: Dataset
    let preprocessing: Preprocessing
    let reducer: GradientReducer
    /// `distributed.shard_optimizer`: this rank's part of the optimizer (then `optimizer` is that part).
    let sharding: ShardedOptimizer?
    /// `distributed.overlap` on several ranks: the buckets reduced during the last micro-step's backward.
    let overlap: OverlappedReduction?
    let faults: FaultInjector
    /// The reproducible mode's exact sum and its copy of the step's micro-batches (nil otherwise).
    let exactSum: FixedPointGradientSum?
    /// The step's micro-batches, kept where they are needed twice (nil otherwise): the reproducible
    /// mode's recomputation, the soft median's two passes.
    private let stepBatches: StepBatches?

    /// Optimizer steps completed (applied or skipped).
    public private(set) var step = 0
    /// Steps skipped because some rank saw a non-finite gradient.
    public private(set) var skippedSteps = 0
    /// Updates actually applied (the optimizer's own step counter).
    public private(set) var appliedSteps = 0
    /// The online gradient noise scale, updated by every applied step whose parts can estimate it.
    public private(set) var noiseScale: GradientNoiseScale
    /// `schedule.adascale`: the learning rate scaled by the gain, the base schedule followed in progress.
    public private(set) var adascale: AdaScale?
    /// Whether training is complete: every step taken, or AdaScale's progress through the base schedule.
    public var isFinished: Bool { step >= totalSteps || adascale?.isFinished == true }
    /// Shown the mean gradient of each applied step (its number, counted from 1) before the update,
    /// which may overwrite the buffer: the one moment the gradient itself can be seen.
    var gradientInspector: ((_ step: Int, _ gradients: FloatBuffer) -> Void)?

    /// Builds everything a run needs and agrees across ranks that it worked; rank 0's initial
    /// parameters are broadcast to all.
    public init(configuration: TrainingConfiguration, world: any Communicator) throws {
        self.configuration = configuration
        self.world = world
        noiseScale = GradientNoiseScale(beta: configuration.noiseBeta)

        // Every rank must run the same configuration.
        let fingerprint = Int64(bitPattern: configuration.fingerprint)
        let low = try world.allReduce(fingerprint, .min), high = try world.allReduce(fingerprint, .max)
        if low != high {
            throw CollectiveFailure(message: "error: \(TrainingError.configurationMismatch(localFingerprint: configuration.fingerprint))",
                                    failingRank: 0)
        }

        typealias Shards = (full: [(name: String, shape: [Int])], plan: ShardPlan, shard: any Optimizer)
        let built = try agree(world) { () throws -> (Dataset, Dataset, Model, any Optimizer, Schedule, BatchPlan, Preprocessing, Int, Shards?) in
            let trainSet = try DatasetLoader.load(configuration.data, split: .train)
            let testSet = try DatasetLoader.load(configuration.data, split: .test)
            guard trainSet.count > 0 else { throw TrainingError.emptyTrainingSet }
            let model = try Model(spec: configuration.model, inputShape: trainSet.sampleShape,
                                  targetsPerSample: trainSet.targetsPerSample, classes: trainSet.classes)
            guard model.targetsPerSample == trainSet.targetsPerSample else {
                throw TrainingError.targetsMismatch(model: model.targetsPerSample, data: trainSet.targetsPerSample)
            }
            // The reproducible mode's passes are chunks, which may be larger than the micro-batch.
            try Trainer.checkMemory(model, batches: [("batch.micro", configuration.microBatch),
                                                     ("train.eval_batch", configuration.evalBatch)]
                                        + (configuration.reproducible ? [("distributed.chunk", configuration.chunk)] : []))
            var shards: Shards?
            let optimizer: any Optimizer
            if configuration.shardsOptimizer {
                shards = try ShardedOptimizer.build(optimizer: configuration.optimizerTree, store: model.store,
                                                    ranks: world.size, rank: world.rank)
                optimizer = shards!.shard
            } else {
                optimizer = try OptimizerCatalog.make(
                    section: ConfigSection(configuration.optimizerTree, path: "optimizer"), layout: model.layout)
            }
            let plan = try configuration.batchPlan(sampleCount: trainSet.count, worldSize: world.size)
            // With AdaScale the run takes at most the base schedule's steps (every gain 1), fewer as gains exceed 1.
            let baseSteps = configuration.adascaleBaseSteps(sampleCount: trainSet.count)
            let totalSteps = baseSteps ?? configuration.totalSteps(stepsPerEpoch: plan.stepsPerEpoch)
            let schedule = try configuration.makeSchedule(totalSteps: totalSteps)
            if baseSteps != nil && world.size == 1 && plan.microSteps == 1 && !configuration.reproducible
                && configuration.adascaleBaseBatch != configuration.globalBatch {
                throw ConfigError.invalid(key: "schedule.adascale", reason: "needs the gradient noise statistics, which one "
                                          + "rank with one micro-batch per step does not have: set batch.micro below "
                                          + "batch.global (\(configuration.globalBatch)) or run on more ranks")
            }
            let preprocessing = try Preprocessing(config: configuration.data, trainingSet: trainSet)
            return (trainSet, testSet, model, optimizer, schedule, plan, preprocessing, totalSteps, shards)
        }
        let shards: Shards?
        (trainSet, testSet, model, optimizer, schedule, plan, preprocessing, totalSteps, shards) = built
        let store = built.2.store
        sharding = try shards.map { try ShardedOptimizer(built: $0, store: store, world: world) }
        let baseSteps = totalSteps
        adascale = configuration.adascaleBaseBatch.map {
            AdaScale(baseBatch: $0, globalBatch: configuration.globalBatch, baseSteps: baseSteps)
        }
        reducer = GradientReducer(communicator: world, bucketBytes: configuration.bucketBytes,
                                  compressesToBFloat16: configuration.compressesGradients)
        if configuration.overlapsReduction && !world.allowsCollectivesFromAnotherThread {
            throw CollectiveFailure(message: "error: \(ConfigError.invalid(key: "distributed.overlap", reason: "needs an MPI library that lets another thread call it (MPI_THREAD_SERIALIZED); \(world.libraryVersion) does not"))",
                                    failingRank: 0)
        }
        overlap = configuration.overlapsReduction && world.size > 1
            ? OverlappedReduction(communicator: world, gradients: built.2.store.gradients,
                                  bucketElements: configuration.bucketBytes / MemoryLayout<Float>.stride)
            : nil
        world.watchdog?.arm(timeout: configuration.timeoutSeconds)
        faults = FaultInjector(configuration.faults, rank: world.rank, gradientCount: model.store.gradients.count)
        exactSum = configuration.reproducible
            ? FixedPointGradientSum(layout: model.layout, terms: configuration.chunksPerGlobalBatch,
                                    scalarCount: ExactScalars.count)
            : nil
        // The soft median weights a step's samples only once all of them have been seen: keep them.
        stepBatches = configuration.reproducible || configuration.lossAggregation != .mean ? StepBatches() : nil

        // Identical initial parameters everywhere: rank 0's, whatever the others computed.
        model.initializeParameters(seed: configuration.seed)
        try world.broadcast(model.store.parameters.pointer, root: 0)
    }

    /// Refuses a batch whose pass cannot fit in memory before its buffers are allocated, naming the setting.
    static func checkMemory(_ model: Model, batches: [(setting: String, size: Int)]) throws(TrainingError) {
        let available = SystemMemory.availableBytes
        for (setting, size) in batches {
            let needed = model.size.bytes(batch: size, replicas: model.threads)
            if needed.map({ $0 > available }) ?? true {
                throw .insufficientMemory(setting: "\(setting) = \(size)", needed: needed, available: available)
            }
        }
    }

    /// A loader for this rank's micro-batches from the current step to the end of the run.
    public func makeLoader() -> BatchLoader {
        BatchLoader(dataset: trainSet, preprocessing: preprocessing, plan: plan, rank: world.rank,
                    seed: configuration.seed, firstStep: step, lastStep: totalSteps)
    }

    /// One optimizer step on every rank: micro-steps, one reduction, divide once, update.
    /// `stopRequested` rides along in the reduction, so that every rank learns that some rank was asked to stop.
    public func step(from loader: BatchLoader, stopRequested: Bool = false) throws -> StepResult {
        world.watchdog?.setStep(step)
        let stepStart = monotonicSeconds()
        try faults.beforeStep(step)
        let gradients = model.store.gradients

        // 1–2. Micro-steps (summed losses, gradients accumulated) and one reduction.
        let summed = exactSum != nil ? try sumExactly(from: loader, stopRequested: stopRequested)
                                     : try sumInFloat(from: loader, stopRequested: stopRequested)
        let scalars = summed.scalars
        let optimizerStart = monotonicSeconds()
        let skip = scalars.nonFiniteRanks > 0 || !scalars.lossSum.isFinite || scalars.items == 0

        // 3. Divide once by the global count; update with global values.
        var gradientNorm = Double.nan
        var noiseEstimate: GradientNoiseEstimate?
        var learningRate = adascale.map { schedule.learningRate(at: $0.scheduleStep) } ?? schedule.learningRate(step: step + 1)
        var gain: Double?
        if skip {
            skippedSteps += 1
        } else {
            if let sharding {
                // Only this rank's range holds reduced sums; the norm is the root of the ranges' squares.
                let range = sharding.range
                VectorMath.scale(gradients.baseAddress + range.lowerBound, range.count, by: Float(1.0 / scalars.items))
                gradientNorm = try world.allReduce(VectorMath.sumOfSquares(gradients.baseAddress + range.lowerBound, range.count),
                                                   .sum).squareRoot()
                if configuration.logging.recordsHistograms(atStep: step + 1) { try sharding.gatherGradients() }
            } else {
                VectorMath.scale(gradients.baseAddress, gradients.count, by: Float(1.0 / scalars.items))
                gradientNorm = VectorMath.norm(gradients.baseAddress, gradients.count)
            }
            let batchSquaredNorm = (gradientNorm * scalars.items) * (gradientNorm * scalars.items)
            noiseEstimate = scalars.noise.estimate(batchSquaredNorm: batchSquaredNorm, batchItems: scalars.items)
            if let noiseEstimate { noiseScale.add(noiseEstimate) }
            if var scaled = adascale {
                let ratio = scaled.gain(noiseScale.smoothed, items: scalars.items)
                learningRate = Float(ratio * Double(learningRate))
                scaled.advance(by: ratio)
                adascale = scaled
                gain = ratio
            }
            gradientInspector?(step + 1, gradients)
            appliedSteps += 1
            let context = StepContext(step: appliedSteps, learningRate: learningRate, loss: Float(scalars.lossSum / scalars.items))
            if let sharding {
                try sharding.step(context: context)
            } else {
                optimizer.step(parameters: model.store.parameters, gradients: gradients, context: context)
            }
        }
        // Parameters that became non-finite never recover: every later step would be skipped. The
        // ranks agree through a reduction, so that all of them stop after the same step.
        let parameters = model.store.parameters
        let locallyNonFinite: Int64 = skip || VectorMath.allFinite(parameters.baseAddress, parameters.count) ? 0 : 1
        let parametersFinite = try world.allReduce(locallyNonFinite, .max) == 0
        let end = monotonicSeconds()
        step += 1
        return StepResult(step: step, scalars: scalars, skipped: skip, learningRate: learningRate,
                          gradientNorm: gradientNorm, parametersFinite: parametersFinite,
                          timings: StepTimings(compute: summed.computeSeconds, communication: summed.communicationSeconds,
                                               exposed: summed.exposedSeconds,
                                               optimizer: end - optimizerStart, data: summed.dataSeconds),
                          seconds: end - stepStart, noiseEstimate: noiseEstimate, noiseScale: noiseScale,
                          gainRatio: gain, progress: adascale?.progress, recomputations: summed.recomputations)
    }

    /// What steps 1–2 leave behind: the reduced scalars, the gradient sums in the store, and where the time went.
    private struct Summed {
        var scalars: StepScalars
        var dataSeconds = 0.0, computeSeconds = 0.0, communicationSeconds = 0.0
        /// The part of `communicationSeconds` the step waited for after backward (all of it unless overlapped).
        var exposedSeconds: Double?
        var recomputations = 0
    }

    /// The default mode: micro-batches accumulate into the float gradient buffer, one float reduction.
    private func sumInFloat(from loader: BatchLoader, stopRequested: Bool) throws -> Summed {
        if let overlap, !faults.faults.naiveAccumulation { return try sumOverlapped(from: loader, stopRequested: stopRequested, overlap) }
        let gradients = model.store.gradients
        let local = try accumulateMicroBatches(from: loader)
        faults.afterMicroSteps(step, gradients: gradients)
        let locallyFinite = local.lossSum.isFinite && VectorMath.allFinite(gradients.baseAddress, gradients.count)
        // The noise scale's parts: on several ranks each rank's share, on one the first micro-batch.
        var noise = GradientNoiseStatistics()
        if world.size > 1 {
            if local.items > 0 { noise.add(squaredNorm: localSquaredNorm(gradients), items: local.items) }
        } else if let first = local.firstMicroBatch {
            noise.add(squaredNorm: first.squaredNorm, items: first.items)
        }
        let communicationStart = monotonicSeconds()
        var packed = StepScalars(lossSum: local.lossSum, items: Double(local.items),
                                 nonFiniteRanks: locallyFinite ? 0 : 1, stopRequests: stopRequested ? 1 : 0, noise: noise).packed
        if let sharding {
            try reducer.reduceScatter(gradients.pointer, blocks: sharding.parameterBlocks, scalars: &packed)
        } else {
            try reducer.reduce(gradients.pointer, scalars: &packed)
        }
        return Summed(scalars: StepScalars(packed: packed), dataSeconds: local.dataSeconds,
                      computeSeconds: local.computeSeconds, communicationSeconds: monotonicSeconds() - communicationStart)
    }

    /// This rank's squared gradient norm, summed bucket by bucket in the order `OverlappedReduction`
    /// hands them over, so that the noise scale (and AdaScale's rate) has the same bits with and
    /// without overlap.
    private func localSquaredNorm(_ gradients: FloatBuffer) -> Double {
        OverlappedReduction.buckets(count: gradients.count, elements: configuration.bucketBytes / MemoryLayout<Float>.stride)
            .reduce(0) { $0 + VectorMath.sumOfSquares(gradients.baseAddress + $1.lowerBound, $1.count) }
    }

    /// `distributed.overlap`: as `sumInFloat`, with the buckets reduced on the communication thread as
    /// the last micro-step's backward finishes them; `exposed` is how long the step then still waited.
    private func sumOverlapped(from loader: BatchLoader, stopRequested: Bool, _ overlap: OverlappedReduction) throws -> Summed {
        overlap.begin()
        let local = try accumulateMicroBatches(from: loader, lastGradientsFinal: overlap.gradientsFinal)
        faults.afterMicroSteps(step, gradients: model.store.gradients)
        overlap.enqueueRemaining()
        let locallyFinite = local.lossSum.isFinite && overlap.locallyFinite
        var noise = GradientNoiseStatistics()
        if local.items > 0 { noise.add(squaredNorm: overlap.localSquaredNorm, items: local.items) }
        var packed = StepScalars(lossSum: local.lossSum, items: Double(local.items),
                                 nonFiniteRanks: locallyFinite ? 0 : 1, stopRequests: stopRequested ? 1 : 0, noise: noise).packed
        let seconds = try overlap.wait(scalars: &packed)
        return Summed(scalars: StepScalars(packed: packed), dataSeconds: local.dataSeconds,
                      computeSeconds: local.computeSeconds, communicationSeconds: seconds.communication,
                      exposedSeconds: seconds.exposed)
    }

    /// This rank's share of one optimizer step: its k micro-batches, forward and backward, with the
    /// summed loss and the number of counted items (gradients accumulate in the store). On a single
    /// rank with k > 1, the first micro-batch's squared gradient norm too: the buffer holds exactly
    /// its sum until the second micro-step adds to it.
    private func accumulateMicroBatches(from loader: BatchLoader, lastGradientsFinal: ((Int) -> Void)? = nil) throws
        -> (lossSum: Double, items: Int, dataSeconds: Double, computeSeconds: Double,
            firstMicroBatch: (squaredNorm: Double, items: Int)?)
    {
        model.store.zeroGradients()
        var lossSum = 0.0, items = 0, dataSeconds = 0.0, computeSeconds = 0.0
        var firstMicroBatch: (squaredNorm: Double, items: Int)?
        let measuresFirst = world.size == 1 && plan.microSteps > 1
        func microStep(_ microStep: Int, _ inputs: UnsafeBufferPointer<Float>, _ targets: UnsafeBufferPointer<Int32>,
                       _ indices: UnsafeBufferPointer<Int>, _ count: Int, _ weights: UnsafePointer<Float>?) {
            guard count > 0 else { return }
            faults.beforeMicroStep(gradients: model.store.gradients)
            let loss = model.forwardBackward(inputs: inputs, targets: targets, sampleIndices: indices, count: count,
                                             seed: configuration.seed, step: step, sampleWeights: weights,
                                             gradientsFinal: microStep == plan.microSteps - 1 ? lastGradientsFinal : nil)
            let added = faults.accumulate(loss, gradients: model.store.gradients)
            if measuresFirst && items == 0 && added.items > 0 {
                let gradients = model.store.gradients
                firstMicroBatch = (VectorMath.sumOfSquares(gradients.baseAddress, gradients.count), added.items)
            }
            lossSum += added.sum
            items += added.items
        }
        if configuration.lossAggregation != .mean, let batches = stepBatches {
            dataSeconds = try collect(from: loader, into: batches)
            let computeStart = monotonicSeconds()
            let weights = FloatBuffer(try sampleWeights(batches))
            var offset = 0
            for index in batches.indicesRange {
                batches.withBatch(index) { inputs, targets, indices, count in
                    microStep(index, inputs, targets, indices, count, weights.baseAddress + offset)
                    offset += count
                }
            }
            computeSeconds = monotonicSeconds() - computeStart
            return (lossSum, items, dataSeconds, computeSeconds, firstMicroBatch)
        }
        for index in 0..<plan.microSteps {
            let waitStart = monotonicSeconds()
            guard let batch = try loader.next() else { break }
            let computeStart = monotonicSeconds()
            dataSeconds += computeStart - waitStart
            microStep(index, batch.inputs, batch.targets, batch.indices, batch.count, nil)
            computeSeconds += monotonicSeconds() - computeStart
        }
        return (lossSum, items, dataSeconds, computeSeconds, firstMicroBatch)
    }

    /// The reproducible mode: every chunk's gradient and loss added in fixed point, the integers
    /// reduced, the exact sum written to the store once. When some chunk value reached its tensor's
    /// bound (all ranks see it in the reduced exponents), the step is computed again from its saved
    /// micro-batches with wider bounds: the same bits as if the bounds had been wide enough at once.
    private func sumExactly(from loader: BatchLoader, stopRequested: Bool) throws -> Summed {
        guard let exact = exactSum, let batches = stepBatches else { preconditionFailure("not in the reproducible mode") }
        var summed = Summed(scalars: StepScalars())
        summed.dataSeconds = try collect(from: loader, into: batches)
        let weightStart = monotonicSeconds()
        let weights = configuration.lossAggregation == .mean ? nil : FloatBuffer(try sampleWeights(batches))
        summed.computeSeconds += monotonicSeconds() - weightStart
        while true {
            let computeStart = monotonicSeconds()
            exact.reset()
            var loss = ExactScalars()
            var offset = 0
            for index in batches.indicesRange where batches.count(index) > 0 {
                batches.withBatch(index) { inputs, targets, indices, count in
                    defer { offset += count }
                    let batchWeights = weights.map { UnsafePointer($0.baseAddress + offset) }
                    model.forwardBackwardChunks(inputs: inputs, targets: targets, sampleIndices: indices, count: count,
                                                chunk: plan.chunk, seed: configuration.seed, step: step,
                                                sampleWeights: batchWeights) { gradients, chunkLoss in
                        // Before `take`, which empties the buffer as it reads it.
                        loss.addNoisePart(squaredNorm: VectorMath.sumOfSquares(gradients, model.layout.totalCount), items: chunkLoss.items)
                        exact.take(gradients)
                        loss.add(chunkLoss)
                    }
                }
            }
            loss.nonFinite = loss.nonFinite || exact.sawNonFinite || faults.corruptsGradient(atStep: step)
            loss.stopRequested = stopRequested
            loss.write(to: exact.scalars)
            let communicationStart = monotonicSeconds()
            summed.computeSeconds += communicationStart - computeStart
            try reducer.reduce(exact)
            summed.communicationSeconds += monotonicSeconds() - communicationStart
            summed.scalars = ExactScalars.reduced(exact.scalars)
            if summed.scalars.nonFiniteRanks > 0 { return summed }  // skipped: the bounds stay as they were
            if !exact.overflowed { break }
            exact.widenBounds()
            summed.recomputations += 1
        }
        exact.write(into: model.store.gradients.baseAddress)
        exact.followObserved()
        return summed
    }

    /// Copies this rank's micro-batches of the step into `batches`; returns the seconds spent waiting for data.
    private func collect(from loader: BatchLoader, into batches: StepBatches) throws -> Double {
        batches.removeAll()
        var seconds = 0.0
        for _ in 0..<plan.microSteps {
            let waitStart = monotonicSeconds()
            guard let batch = try loader.next() else { break }
            batches.append(batch)
            seconds += monotonicSeconds() - waitStart
        }
        return seconds
    }

    /// `loss.aggregation: soft_median`: this rank's samples' weights (in the order of `batches`),
    /// computed from every rank's per-sample losses of the step, which a first forward pass measures
    /// (in the reproducible mode in its chunks, so they have the same bits on every decomposition)
    /// and the ranks all-gather: every rank computes the same weights (`LossAggregation`).
    private func sampleWeights(_ batches: StepBatches) throws -> [Float] {
        guard case .softMedian(let temperature) = configuration.lossAggregation else { preconditionFailure("not weighted") }
        var local: [LossAggregation.SampleLoss] = []
        for index in batches.indicesRange where batches.count(index) > 0 {
            batches.withBatch(index) { inputs, targets, indices, count in
                withUnsafeTemporaryAllocation(of: LossSum.self, capacity: count) { losses in
                    losses.initialize(repeating: LossSum())
                    model.sampleLosses(inputs: inputs, targets: targets, sampleIndices: indices, count: count,
                                       chunk: isReproducible ? plan.chunk : nil, seed: configuration.seed, step: step,
                                       into: losses.baseAddress!)
                    for b in 0..<count { local.append(.init(index: indices[b], loss: losses[b])) }
                }
            }
        }
        if faults.faults.localLossWeights { return LossAggregation.softMedianWeights(local, temperature: temperature) }
        // Every rank's count, then every sample as (index, loss sum, items), in rank order.
        var counts = [Int64](repeating: 0, count: world.size)
        counts[world.rank] = Int64(local.count)
        try counts.withUnsafeMutableBufferPointer { buffer throws(CommunicationError) in
            try world.allGather(buffer, blocks: Array(repeating: 1, count: world.size))
        }
        let sizes = counts.map { Int($0) }, offset = sizes[..<world.rank].reduce(0, +)
        var packed = [Double](repeating: 0, count: 3 * sizes.reduce(0, +))
        for (i, sample) in local.enumerated() {
            packed[3 * (offset + i)] = Double(sample.index)
            packed[3 * (offset + i) + 1] = sample.loss.sum
            packed[3 * (offset + i) + 2] = Double(sample.loss.items)
        }
        try packed.withUnsafeMutableBufferPointer { buffer throws(CommunicationError) in
            try world.allGather(buffer, blocks: sizes.map { 3 * $0 })
        }
        let all = (0..<(packed.count / 3)).map {
            LossAggregation.SampleLoss(index: Int(packed[3 * $0]), loss: LossSum(sum: packed[3 * $0 + 1], items: Int(packed[3 * $0 + 2])))
        }
        return Array(LossAggregation.softMedianWeights(all, temperature: temperature)[offset..<(offset + local.count)])
    }

    /// Test loss and the task's metrics over the whole test set, each rank evaluating its shard.
    public func evaluate() throws -> EvaluationResult {
        try CheckpointEvaluation.evaluate(model: model, testSet: testSet, preprocessing: preprocessing,
                                          batch: configuration.evalBatch, world: world)
    }

    /// Fails loudly if any rank's parameters differ from the others'.
    public func verifyParametersAgree() throws {
        let checksum = parameterChecksum(model.store.parameters)
        let low = try world.allReduce(checksum, .min), high = try world.allReduce(checksum, .max)
        if low != high { throw TrainingError.parameterDivergence(step: step, minimum: low, maximum: high) }
    }

    // MARK: Checkpoints

    static let optimizerPrefix = "optimizer."
    /// The reproducible mode's per-tensor bounds (`FixedPointGradientSum.exponents`): a resumed run
    /// must continue on the same fixed-point grids to stay bit-identical.
    static let exponentsTensor = "reproducible.exponents"

    /// Every tensor of the training state by its checkpoint name: parameters (`param.`) and optimizer
    /// state (`optimizer.`, under the unsharded optimizer's names and shapes). With a sharded optimizer
    /// this is a collective that gathers the state to rank 0; the other ranks get the parameters only.
    public func stateTensors() throws -> [(name: String, shape: [Int], values: [Float])] {
        let parameters = model.store.parameters
        let state = try sharding?.gatheredState()
            ?? optimizer.state.map { ($0.name, $0.shape, $0.storage.array) }
        return model.layout.slots.map { (Checkpoint.parameterPrefix + $0.name, $0.shape, Array(parameters.slice($0.offset, $0.count))) }
            + state.map { (Self.optimizerPrefix + $0.name, $0.shape, $0.values) }
    }

    /// Parameters, optimizer state and the position in training, under stable names, on rank 0 (nil on
    /// the others). Every rank must call it: with a sharded optimizer it gathers the state.
    /// The resolved configuration rides along, so that the file alone can be evaluated or compared.
    public func snapshot(elapsed: Double, runID: String? = nil) throws -> Checkpoint? {
        guard world.isRoot || sharding != nil else { return nil }
        let tensors = try stateTensors()
        guard world.isRoot else { return nil }
        let metadata = CheckpointMetadata(
            step: step, appliedSteps: appliedSteps, skippedSteps: skippedSteps, epoch: plan.epoch(ofStep: step),
            position: step % plan.stepsPerEpoch, seed: configuration.seed, globalBatch: configuration.globalBatch,
            worldSize: world.size, configurationHash: String(configuration.trajectoryFingerprint, radix: 16),
            optimizer: optimizer.name, learningRate: learningRate(afterStep: step),
            version: TrainingSession.version, elapsed: elapsed, runID: runID,
            configuration: configuration.tree.yaml(),
            normalization: InputNormalization(mean: preprocessing.mean, std: preprocessing.std))
        var checkpoint = Checkpoint(metadata: metadata.strings.merging(noiseScale.strings) { $1 }
                                        .merging(adascale?.strings ?? [:]) { $1 })
        for tensor in tensors {
            tensor.values.withUnsafeBufferPointer { checkpoint.append(tensor.name, shape: tensor.shape, floats: $0) }
        }
        if let exact = exactSum {
            let exponents = exact.exponents.map(Float.init)
            exponents.withUnsafeBufferPointer {
                checkpoint.append(Self.exponentsTensor, shape: [exponents.count], floats: $0)
            }
        }
        return checkpoint
    }

    /// Puts parameters, optimizer state and counters back, after checking the checkpoint fits this run.
    @discardableResult
    public func restore(from checkpoint: Checkpoint) throws -> CheckpointMetadata {
        let file = checkpoint.source
        let metadata = try CheckpointMetadata(reading: checkpoint)
        let fingerprint = String(configuration.trajectoryFingerprint, radix: 16)
        if metadata.configurationHash != fingerprint || metadata.globalBatch != configuration.globalBatch {
            throw ResumeError.mismatch(file: file, what: trajectoryDifferences(from: metadata).joined(separator: "; "))
        }
        if metadata.optimizer != optimizer.name {
            throw ResumeError.mismatch(file: file, what: "optimizer \(metadata.optimizer) in the checkpoint, \(optimizer.name) configured")
        }
        guard metadata.step <= totalSteps else {
            throw ResumeError.mismatch(file: file, what: "checkpoint step \(metadata.step) is beyond the run's \(totalSteps) steps")
        }
        try checkpoint.restore(into: model.store.parameters, layout: model.layout, prefix: Checkpoint.parameterPrefix)
        let stateNames = sharding?.fullState.map(\.name) ?? optimizer.state.map(\.name)
        let expected = Set(stateNames.map { Self.optimizerPrefix + $0 })
        if let extra = checkpoint.tensors.map(\.name).first(where: { $0.hasPrefix(Self.optimizerPrefix) && !expected.contains($0) }) {
            throw CheckpointError.unexpectedTensor(path: file, name: extra)
        }
        if let sharding {
            try sharding.restore { name, shape, values in
                try checkpoint.load(Self.optimizerPrefix + name, shape: shape, into: values)
            }
        } else {
            for tensor in optimizer.state {
                try checkpoint.load(Self.optimizerPrefix + tensor.name, shape: tensor.shape, into: tensor.storage)
            }
        }
        if let exact = exactSum, checkpoint.tensors.contains(where: { $0.name == Self.exponentsTensor }) {
            var exponents = [Float](repeating: 0, count: exact.exponents.count)
            try exponents.withUnsafeMutableBufferPointer { buffer in
                try checkpoint.load(Self.exponentsTensor, shape: [buffer.count], into: buffer)
            }
            guard exponents.allSatisfy({ $0 == $0.rounded() && abs($0) <= 1024 }) else {
                throw ResumeError.mismatch(file: file, what: "tensor '\(Self.exponentsTensor)' must hold integers of at most "
                                           + "1024 in magnitude (the fixed-point exponents)")
            }
            exact.setExponents(exponents.map { Int($0) })
        }
        try noiseScale.restore(from: checkpoint.metadata, file: file)
        try adascale?.restore(from: checkpoint.metadata, file: file)
        step = metadata.step
        appliedSteps = metadata.appliedSteps
        skippedSteps = metadata.skippedSteps
        return metadata
    }

    /// What differs between the checkpoint's model, data, batch and seed and this run's, each with
    /// both values. A checkpoint that carries its configuration is compared key by key; an older one
    /// only by the values its metadata holds, then by its hash.
    func trajectoryDifferences(from metadata: CheckpointMetadata) -> [String] {
        var differences: [String] = []
        if let text = metadata.configuration, let stored = try? ConfigValue.parse(yaml: text, source: "checkpoint") {
            differences = ConfigurationDifference.describe(from: stored, to: configuration.tree,
                                                           sections: ["model", "data", "batch"],
                                                           oldLabel: "in the checkpoint", newLabel: "configured")
        } else if metadata.globalBatch != configuration.globalBatch {
            differences.append("batch.global: \(metadata.globalBatch) in the checkpoint, \(configuration.globalBatch) configured")
        }
        if metadata.seed != configuration.seed {
            differences.append("train.seed: \(metadata.seed) in the checkpoint, \(configuration.seed) configured")
        }
        if differences.isEmpty {
            differences.append("model, data, batch or seed differ from the configuration (hash "
                               + "\(metadata.configurationHash) in the checkpoint, \(String(configuration.trajectoryFingerprint, radix: 16)) configured)")
        }
        return differences
    }

    /// The learning rate of the step after `step` completed steps (what a resume continues with).
    public func learningRate(afterStep step: Int) -> Float {
        adascale.map { schedule.learningRate(at: max($0.progress, 1)) } ?? schedule.learningRate(step: max(step, 1))
    }
}

/// A position-weighted sum, so that swapped or shifted values change it too.
func parameterChecksum(_ buffer: FloatBuffer) -> Double {
    var sum = 0.0
    for i in 0..<buffer.count { sum += Double(buffer[i]) * Double(i % 251 + 1) }
    return sum
}

/// The step's scalars as the reproducible mode carries them: the loss sum in `FixedPointScalar`
/// limbs and the counts as integers, all summed exactly after the gradient sums.
///
/// The noise scale's parts are the chunks, so that its statistics too have the same bits for every
/// decomposition: each chunk's squared gradient norm is computed from the same bits wherever the
/// chunk runs and added in the same limbs (rounded to a whole number beyond 2⁴⁰, still the same for
/// every decomposition); one beyond 2⁶² leaves the step without a noise estimate.
struct ExactScalars {
    static let count = 9
    var whole: Int64 = 0, fraction: Int64 = 0
    var items = 0
    var nonFinite = false
    var stopRequested = false
    var noiseWhole: Int64 = 0, noiseFraction: Int64 = 0
    var noiseSquaredCounts: Int64 = 0
    var noiseOutOfRange = false

    mutating func addNoisePart(squaredNorm: Double, items: Int) {
        guard items > 0 else { return }
        noiseSquaredCounts += Int64(items) * Int64(items)
        if let limbs = FixedPointScalar.limbs(squaredNorm) {
            noiseWhole += limbs.whole
            noiseFraction += limbs.fraction
        } else if squaredNorm < 0x1p62 {
            noiseWhole += Int64(squaredNorm.rounded())
        } else {
            noiseOutOfRange = true
        }
    }

    mutating func add(_ loss: LossSum) {
        items += loss.items
        if let limbs = FixedPointScalar.limbs(loss.sum) {
            whole += limbs.whole
            fraction += limbs.fraction
        } else {
            nonFinite = true
        }
    }

    func write(to scalars: UnsafeMutableBufferPointer<Int64>) {
        scalars[0] = whole
        scalars[1] = fraction
        scalars[2] = Int64(items)
        scalars[3] = nonFinite ? 1 : 0
        scalars[4] = stopRequested ? 1 : 0
        scalars[5] = noiseWhole
        scalars[6] = noiseFraction
        scalars[7] = noiseSquaredCounts
        scalars[8] = noiseOutOfRange ? 1 : 0
    }

    /// The reduced integers as the step's scalars.
    static func reduced(_ scalars: UnsafeMutableBufferPointer<Int64>) -> StepScalars {
        let noise = scalars[8] > 0 ? GradientNoiseStatistics()
            : GradientNoiseStatistics(partSquaredNorms: FixedPointScalar.value(whole: scalars[5], fraction: scalars[6]),
                                      partSquaredCounts: Double(scalars[7]), partCounts: Double(scalars[2]))
        return StepScalars(lossSum: FixedPointScalar.value(whole: scalars[0], fraction: scalars[1]), items: Double(scalars[2]),
                           nonFiniteRanks: Double(scalars[3]), stopRequests: Double(scalars[4]), noise: noise)
    }
}

/// Copies of one step's micro-batches, kept so that the reproducible mode can compute the step again
/// (the loader's buffers are reused as soon as the next micro-batch is asked for). The arrays keep
/// their capacity from step to step.
private final class StepBatches {
    private var inputs: [[Float]] = [], targets: [[Int32]] = [], indices: [[Int]] = [], counts: [Int] = []
    private(set) var used = 0

    var indicesRange: Range<Int> { 0..<used }

    func removeAll() { used = 0 }

    func append(_ batch: MicroBatch) {
        if used == counts.count {
            inputs.append([]); targets.append([]); indices.append([]); counts.append(0)
        }
        inputs[used].removeAll(keepingCapacity: true)
        inputs[used].append(contentsOf: batch.inputs)
        targets[used].removeAll(keepingCapacity: true)
        targets[used].append(contentsOf: batch.targets)
        indices[used].removeAll(keepingCapacity: true)
        indices[used].append(contentsOf: batch.indices)
        counts[used] = batch.count
        used += 1
    }

    func count(_ index: Int) -> Int { counts[index] }

    func withBatch(_ index: Int, _ body: (UnsafeBufferPointer<Float>, UnsafeBufferPointer<Int32>, UnsafeBufferPointer<Int>, Int) -> Void) {
        inputs[index].withUnsafeBufferPointer { i in
            targets[index].withUnsafeBufferPointer { t in
                indices[index].withUnsafeBufferPointer { x in body(i, t, x, counts[index]) }
            }
        }
    }
}
