import Tensors

/// The global batch schedule: which samples every optimizer step uses and which rank computes which.
///
/// Epoch e visits the training set in the order `KeyedRandom(seed, e).permutation(N)`; step s of
/// the epoch takes positions [s·G, s·G + G) of that order. The plan is a pure function of
/// (seed, epoch, G), not of the number of ranks, so R ranks × k micro-steps × b samples see exactly
/// the batches one process would, and a run can resume at any step — on any number of ranks.
///
/// **Shares.** A global batch of S samples (S = G, or less for a kept last batch) is cut into
/// U = ⌈S/c⌉ units of c consecutive samples (c = `chunk`: 1 normally, `distributed.chunk` in the
/// reproducible mode, where a unit is computed whole; the last unit may be shorter). A micro-step
/// holds u = max(1, ⌊b/c⌋) units: b must be a whole number of chunks, or smaller than one chunk, which
/// then makes a micro-step of one chunk (the reproducible mode computes chunk by chunk, so the chunk,
/// not b, sizes its passes; this lets a chunk larger than some decomposition's micro-batch serve every
/// decomposition). Each rank runs k = ⌈⌈G/c⌉ / (R·u)⌉ micro-steps, which gives R·k blocks; block
/// q = j·R + r belongs to rank r, micro-step j. Blocks are contiguous and in order; each has ⌊U/(R·k)⌋
/// units, the first U mod (R·k) blocks one more. So no block exceeds `microBatch` (u·c); blocks differ
/// by at most one unit; and because the longer blocks come first in block order, which cycles through
/// the ranks, **the ranks' shares differ by at most one unit** (one sample, or one chunk). When R·u·c
/// divides G this is exactly u·c per block. Blocks may be empty (a short last batch), but every rank
/// has k micro-steps and so joins every collective.
public struct BatchPlan: Sendable {
    public let sampleCount: Int
    public let globalBatch: Int
    /// The most samples of one micro-step: `batch.micro`, or one chunk where the chunk is larger.
    public let microBatch: Int
    public let worldSize: Int
    public let lastBatch: LastBatchPolicy
    public let seed: UInt64
    /// c: samples that always stay together in one block (1, or the reproducible mode's chunk).
    public let chunk: Int
    /// k: micro-steps per optimizer step on every rank.
    public let microSteps: Int
    public let stepsPerEpoch: Int
    private let orders = EpochOrderCache()

    public init(sampleCount: Int, globalBatch: Int, microBatch: Int, worldSize: Int, lastBatch: LastBatchPolicy,
                seed: UInt64, chunk: Int = 1) throws(BatchPlanError) {
        for (name, value) in [("sample count", sampleCount), ("global batch", globalBatch),
                              ("micro batch", microBatch), ("world size", worldSize), ("chunk", chunk)] where value <= 0 {
            throw .notPositive(name: name, value: value)
        }
        guard microBatch % chunk == 0 || microBatch < chunk else {
            throw .microBatchNotMultipleOfChunk(microBatch: microBatch, chunk: chunk)
        }
        let units = (globalBatch + chunk - 1) / chunk
        guard units >= worldSize else {
            throw .fewerUnitsThanRanks(globalBatch: globalBatch, chunk: chunk, worldSize: worldSize)
        }
        if lastBatch == .drop && sampleCount < globalBatch {
            throw .noFullBatch(sampleCount: sampleCount, globalBatch: globalBatch)
        }
        self.sampleCount = sampleCount
        self.globalBatch = globalBatch
        let unitsPerBlock = max(1, microBatch / chunk)
        self.microBatch = unitsPerBlock * chunk
        self.worldSize = worldSize
        self.lastBatch = lastBatch
        self.seed = seed
        self.chunk = chunk
        microSteps = (units + worldSize * unitsPerBlock - 1) / (worldSize * unitsPerBlock)
        stepsPerEpoch = lastBatch == .drop ? sampleCount / globalBatch : (sampleCount + globalBatch - 1) / globalBatch
    }

    /// Samples of the global batch rank `rank` computes in step `step`: equal across ranks to within one unit.
    public func share(step: Int, rank: Int) -> Int {
        (0..<microSteps).reduce(0) { $0 + positions(step: step, rank: rank, microStep: $1).count }
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
        let units = (size + chunk - 1) / chunk
        let blocks = worldSize * microSteps
        let block = microStep * worldSize + rank
        let base = units / blocks, extra = units % blocks
        let first = block * base + min(block, extra)
        let last = first + base + (block < extra ? 1 : 0)
        return min(first * chunk, size)..<min(last * chunk, size)
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
