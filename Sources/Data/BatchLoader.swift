#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// A failure while assembling micro-batches, reported by `BatchLoader.next()`.
public enum BatchLoaderError: Error, Equatable, CustomStringConvertible {
    /// The plan names a sample the data set does not have (plan and data set disagree on N).
    case sampleOutOfRange(index: Int, datasetCount: Int, step: Int)
    case threadStartFailed(code: Int32)

    public var description: String {
        switch self {
        case .sampleOutOfRange(let index, let count, let step):
            return "batch plan step \(step) names sample \(index), but the data set has \(count) samples"
        case .threadStartFailed(let code):
            return "cannot start the batch loading thread (error \(code))"
        }
    }
}

/// Prefetching micro-batch loader: a background thread gathers and preprocesses the next
/// micro-batches into a fixed ring of reused buffers while the current one computes.
///
/// Micro-batches come in plan order: step by step over `firstStep..<lastStep` (lastStep
/// exclusive), micro-step by micro-step, this rank's blocks only. Empty micro-steps of a short
/// last batch are delivered too (count 0), so every rank joins every collective. With `depth`
/// buffers the producer runs at most `depth - 1` micro-batches ahead of the one the caller holds;
/// after the first epoch's order is drawn nothing is allocated per micro-batch.
public final class BatchLoader {
    private let state: LoaderState
    private var thread: pthread_t?
    private var startFailure: Int32 = 0

    public init(dataset: Dataset, preprocessing: Preprocessing, plan: BatchPlan, rank: Int, seed: UInt64,
                firstStep: Int, lastStep: Int, depth: Int = 2) {
        precondition(rank >= 0 && rank < plan.worldSize, "rank \(rank) outside 0..<\(plan.worldSize)")
        precondition(firstStep >= 0 && firstStep <= lastStep, "steps \(firstStep)..<\(lastStep)")
        precondition(depth >= 2, "prefetch depth \(depth) must be at least 2")
        precondition(dataset.sampleShape == preprocessing.sampleShape,
                     "data set samples \(dataset.sampleShape) differ from preprocessing \(preprocessing.sampleShape)")
        state = LoaderState(dataset: dataset, preprocessing: preprocessing, plan: plan, rank: rank, seed: seed,
                            steps: firstStep..<lastStep, depth: depth)
        let context = Unmanaged.passRetained(state).toOpaque()
        var handle = pthread_t()
        let code = pthread_create(&handle, nil, { context in
            let state = Unmanaged<LoaderState>.fromOpaque(context!).takeRetainedValue()
            state.produce()
            return nil
        }, context)
        if code == 0 {
            thread = handle
        } else {
            Unmanaged<LoaderState>.fromOpaque(context).release()
            startFailure = code
        }
    }

    deinit { stop() }

    /// Blocks until the next micro-batch is ready; nil after the last one or after `stop()`.
    /// Errors of the loading thread are thrown here, after the micro-batches assembled before them.
    public func next() throws -> MicroBatch? {
        if startFailure != 0 { throw BatchLoaderError.threadStartFailed(code: startFailure) }
        return try state.take()
    }

    /// Stops the loading thread and waits for it; safe to call early, twice, or from `deinit`.
    public func stop() {
        guard let handle = thread else { return }
        state.requestStop()
        pthread_join(handle, nil)
        thread = nil
    }
}

/// Everything the loading thread touches. The ring counters are guarded by `lock`; a slot's buffers
/// are written only by the producer between `produced` increments and read only by the consumer
/// while it holds the slot, so the lock's hand-over orders every access.
final class LoaderState: @unchecked Sendable {
    final class Slot {
        let inputs: UnsafeMutablePointer<Float>
        let targets: UnsafeMutablePointer<Int32>
        let indices: UnsafeMutablePointer<Int>
        var count = 0, step = 0, epoch = 0, microStep = 0, globalBatchSize = 0

        init(samples: Int, sampleSize: Int, targetsPerSample: Int) {
            let capacity = max(samples, 1)
            let raw = UnsafeMutableRawPointer.allocate(byteCount: capacity * sampleSize * MemoryLayout<Float>.stride, alignment: 64)
            inputs = raw.bindMemory(to: Float.self, capacity: capacity * sampleSize)
            targets = .allocate(capacity: capacity * targetsPerSample)
            indices = .allocate(capacity: capacity)
        }

        deinit {
            UnsafeMutableRawPointer(inputs).deallocate()
            targets.deallocate()
            indices.deallocate()
        }
    }

    let dataset: Dataset
    let preprocessing: Preprocessing
    let plan: BatchPlan
    let rank: Int
    let seed: UInt64
    let steps: Range<Int>
    let slots: [Slot]

    private let lock = ConditionLock()
    private var produced = 0      // micro-batches finished by the producer
    private var taken = 0         // micro-batches handed to the consumer
    private var released = 0      // micro-batches the consumer is done with
    private var finished = false
    private var stopping = false
    private var failure: BatchLoaderError?

    init(dataset: Dataset, preprocessing: Preprocessing, plan: BatchPlan, rank: Int, seed: UInt64,
         steps: Range<Int>, depth: Int) {
        self.dataset = dataset
        self.preprocessing = preprocessing
        self.plan = plan
        self.rank = rank
        self.seed = seed
        self.steps = steps
        slots = (0..<depth).map { _ in
            Slot(samples: plan.microBatch, sampleSize: preprocessing.sampleSize, targetsPerSample: dataset.targetsPerSample)
        }
    }

    /// The producer's loop, on the loading thread.
    func produce() {
        let augmenting = preprocessing.augmentation.isEnabled
        var epoch = -1
        var order: [Int] = []
        var written = 0
        outer: for step in steps {
            let stepEpoch = plan.epoch(ofStep: step)
            if stepEpoch != epoch {
                order = plan.order(epoch: stepEpoch)
                epoch = stepEpoch
            }
            let offset = plan.orderRange(step: step).lowerBound
            let globalSize = plan.batchSize(step: step)
            for microStep in 0..<plan.microSteps {
                let free = lock.withLock { () -> Bool in
                    while written - released >= slots.count && !stopping { lock.wait() }
                    return !stopping
                }
                if !free { break outer }
                let slot = slots[written % slots.count]
                let range = plan.positions(step: step, rank: rank, microStep: microStep)
                for (i, position) in range.enumerated() {
                    let index = order[offset + position]
                    if index >= dataset.count {
                        lock.withLock {
                            failure = .sampleOutOfRange(index: index, datasetCount: dataset.count, step: step)
                            finished = true
                            lock.broadcast()
                        }
                        return
                    }
                    slot.indices[i] = index
                }
                let indices = UnsafeBufferPointer(start: slot.indices, count: range.count)
                preprocessing.fill(from: dataset, indices: indices, augmentationKey: augmenting ? (seed, epoch) : nil,
                                   into: slot.inputs)
                Preprocessing.fillTargets(from: dataset, indices: indices, into: slot.targets)
                slot.count = range.count
                slot.step = step
                slot.epoch = epoch
                slot.microStep = microStep
                slot.globalBatchSize = globalSize
                written += 1
                lock.withLock {
                    produced = written
                    lock.broadcast()
                }
            }
        }
        lock.withLock {
            finished = true
            lock.broadcast()
        }
    }

    /// The consumer's side of `next()`: releases the slot it held, waits for the following one.
    func take() throws(BatchLoaderError) -> MicroBatch? {
        let outcome: Result<Slot?, BatchLoaderError> = lock.withLock {
            if released < taken {
                released = taken
                lock.broadcast()
            }
            while taken == produced && !finished && !stopping { lock.wait() }
            if stopping { return .success(nil) }
            if taken < produced {
                let slot = slots[taken % slots.count]
                taken += 1
                return .success(slot)
            }
            if let failure { return .failure(failure) }
            return .success(nil)
        }
        guard let slot = try outcome.get() else { return nil }
        let size = preprocessing.sampleSize
        return MicroBatch(inputs: UnsafeBufferPointer(start: slot.inputs, count: slot.count * size),
                          targets: UnsafeBufferPointer(start: slot.targets, count: slot.count * dataset.targetsPerSample),
                          indices: UnsafeBufferPointer(start: slot.indices, count: slot.count),
                          count: slot.count, step: slot.step, epoch: slot.epoch, microStep: slot.microStep,
                          globalBatchSize: slot.globalBatchSize, isLastMicroStep: slot.microStep == plan.microSteps - 1)
    }

    func requestStop() {
        lock.withLock {
            stopping = true
            lock.broadcast()
        }
    }
}
