import Tensors

/// The global batch schedule: which samples every optimizer step uses and which rank computes which.
///
/// Epoch e visits the training set in the order `KeyedRandom(seed, e).permutation(N)`; step s of
/// the epoch takes positions [s·G, s·G + G) of that order. The plan is a pure function of
/// (seed, epoch, G), not of the number of ranks, so R ranks × k micro-steps × b samples see exactly
/// the batches one process would, and a run can resume at any step.
///
/// Split of one global batch of S samples (S = G, or less for a kept last batch) into R·k blocks:
/// block q = j·R + r belongs to rank r, micro-step j. Blocks are contiguous and in order; each has
/// ⌊S/(R·k)⌋ samples, the first S mod (R·k) blocks one more. For a full batch that is exactly b
/// per block; a short batch is spread evenly, and blocks may be empty, but every rank still has k
/// micro-steps so that it joins every collective.
public struct BatchPlan: Sendable {
    public let sampleCount: Int
    public let globalBatch: Int
    public let microBatch: Int
    public let worldSize: Int
    public let lastBatch: LastBatchPolicy
    public let seed: UInt64
    /// k: micro-steps per optimizer step on every rank.
    public let microSteps: Int
    public let stepsPerEpoch: Int
    private let orders = EpochOrderCache()

    public init(sampleCount: Int, globalBatch: Int, microBatch: Int, worldSize: Int, lastBatch: LastBatchPolicy,
                seed: UInt64) throws(BatchPlanError) {
        for (name, value) in [("sample count", sampleCount), ("global batch", globalBatch),
                              ("micro batch", microBatch), ("world size", worldSize)] where value <= 0 {
            throw .notPositive(name: name, value: value)
        }
        let unit = worldSize * microBatch
        guard globalBatch % unit == 0 else {
            throw .notDivisible(globalBatch: globalBatch, microBatch: microBatch, worldSize: worldSize,
                                validMicroBatches: BatchPlan.microBatches(dividing: globalBatch, worldSize: worldSize, near: microBatch),
                                nearestGlobalBatches: BatchPlan.globalBatches(near: globalBatch, unit: unit))
        }
        if lastBatch == .drop && sampleCount < globalBatch {
            throw .noFullBatch(sampleCount: sampleCount, globalBatch: globalBatch)
        }
        self.sampleCount = sampleCount
        self.globalBatch = globalBatch
        self.microBatch = microBatch
        self.worldSize = worldSize
        self.lastBatch = lastBatch
        self.seed = seed
        microSteps = globalBatch / unit
        stepsPerEpoch = lastBatch == .drop ? sampleCount / globalBatch : (sampleCount + globalBatch - 1) / globalBatch
    }

    /// Up to four micro batch sizes closest to `micro` that divide G/R, ascending.
    static func microBatches(dividing global: Int, worldSize: Int, near micro: Int) -> [Int] {
        guard global % worldSize == 0 else { return [] }
        let perRank = global / worldSize
        var divisors: [Int] = []
        var d = 1
        while d * d <= perRank {
            if perRank % d == 0 {
                divisors.append(d)
                if d != perRank / d { divisors.append(perRank / d) }
            }
            d += 1
        }
        return Array(divisors.sorted { abs($0 - micro) < abs($1 - micro) || (abs($0 - micro) == abs($1 - micro) && $0 < $1) }
            .prefix(4)).sorted()
    }

    /// The multiples of R·b just below and just above G.
    static func globalBatches(near global: Int, unit: Int) -> [Int] {
        let below = global / unit * unit
        return below > 0 ? [below, below + unit] : [unit]
    }

    public func epoch(ofStep step: Int) -> Int {
        precondition(step >= 0, "negative step \(step)")
        return step / stepsPerEpoch
    }

    public func stepInEpoch(_ step: Int) -> Int {
        precondition(step >= 0, "negative step \(step)")
        return step % stepsPerEpoch
    }

    /// The first optimizer step of `epoch`.
    public func firstStep(ofEpoch epoch: Int) -> Int { epoch * stepsPerEpoch }

    /// Samples in the global batch of `step`: G, or fewer for a kept last batch.
    public func batchSize(step: Int) -> Int {
        let start = stepInEpoch(step) * globalBatch
        return min(globalBatch, sampleCount - start)
    }

    /// Epoch `epoch`'s visiting order of the whole training set.
    public func order(epoch: Int) -> [Int] {
        orders.order(seed: seed, epoch: epoch, count: sampleCount)
    }

    /// All indices of the step, in plan order.
    public func globalBatch(step: Int) -> [Int] {
        let start = stepInEpoch(step) * globalBatch
        return Array(order(epoch: epoch(ofStep: step))[start..<(start + batchSize(step: step))])
    }

    /// Positions, within the global batch of `step`, that rank `rank` computes at micro-step `microStep`.
    public func positions(step: Int, rank: Int, microStep: Int) -> Range<Int> {
        precondition(rank >= 0 && rank < worldSize, "rank \(rank) outside 0..<\(worldSize)")
        precondition(microStep >= 0 && microStep < microSteps, "micro-step \(microStep) outside 0..<\(microSteps)")
        let size = batchSize(step: step)
        let blocks = worldSize * microSteps
        let block = microStep * worldSize + rank
        let base = size / blocks, extra = size % blocks
        let start = block * base + min(block, extra)
        return start..<(start + base + (block < extra ? 1 : 0))
    }

    /// Positions of the step's global batch in its epoch's order.
    public func orderRange(step: Int) -> Range<Int> {
        let start = stepInEpoch(step) * globalBatch
        return start..<(start + batchSize(step: step))
    }

    /// This rank's k micro-batches (global dataset indices, each ≤ microBatch long, possibly empty)
    /// for optimizer step `step` (0-based, global over epochs).
    public func microBatches(step: Int, rank: Int) -> [[Int]] {
        let order = order(epoch: epoch(ofStep: step))
        let offset = orderRange(step: step).lowerBound
        return (0..<microSteps).map { j in
            let range = positions(step: step, rank: rank, microStep: j)
            return Array(order[(offset + range.lowerBound)..<(offset + range.upperBound)])
        }
    }
}

/// Remembers the two most recent epochs' orders: every step of an epoch needs its order, a
/// permutation of 60 000 samples costs about a millisecond, and a prefetching loader may already
/// be in epoch e + 1 while the trainer still asks about epoch e.
final class EpochOrderCache: @unchecked Sendable {
    private let lock = ConditionLock()
    private var entries: [(epoch: Int, order: [Int])] = []

    func order(seed: UInt64, epoch: Int, count: Int) -> [Int] {
        precondition(epoch >= 0, "negative epoch \(epoch)")
        if let hit = lock.withLock({ entries.first { $0.epoch == epoch }?.order }) { return hit }
        let fresh = BatchPlan.drawOrder(seed: seed, epoch: epoch, count: count)
        lock.withLock {
            if !entries.contains(where: { $0.epoch == epoch }) {
                entries.append((epoch, fresh))
                if entries.count > 2 { entries.removeFirst() }
            }
        }
        return fresh
    }
}

extension BatchPlan {
    /// The order of epoch `epoch`: a pure function of (seed, epoch, count).
    public static func drawOrder(seed: UInt64, epoch: Int, count: Int) -> [Int] {
        KeyedRandom(seed, UInt64(epoch)).permutation(count)
    }
}
