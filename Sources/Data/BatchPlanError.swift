/// A batch configuration that cannot be split over the ranks, carrying the numbers and workable alternatives.
public enum BatchPlanError: Error, Equatable, CustomStringConvertible {
    case notPositive(name: String, value: Int)
    /// The reproducible mode computes whole chunks, so each micro-batch must hold whole chunks.
    case microBatchNotMultipleOfChunk(microBatch: Int, chunk: Int)
    /// Fewer samples (or chunks) in a global batch than ranks: some rank would never have work.
    case fewerUnitsThanRanks(globalBatch: Int, chunk: Int, worldSize: Int)
    /// With `last_batch: drop`, a training set smaller than one global batch gives no steps at all.
    case noFullBatch(sampleCount: Int, globalBatch: Int)

    public var description: String {
        switch self {
        case .notPositive(let name, let value):
            return "\(name) must be positive, got \(value)"
        case .microBatchNotMultipleOfChunk(let micro, let chunk):
            let below = micro / chunk * chunk
            return "batch.micro \(micro) is not a multiple of distributed.chunk \(chunk): the reproducible mode computes "
                + "whole chunks; use batch.micro " + (below > 0 ? "\(below) or \(below + chunk)" : "\(chunk)")
        case .fewerUnitsThanRanks(let global, let chunk, let ranks):
            if chunk == 1 {
                return "global batch \(global) is smaller than the \(ranks) ranks: every rank needs at least one sample per step"
            }
            return "global batch \(global) holds \((global + chunk - 1) / chunk) chunks of \(chunk), fewer than the \(ranks) ranks: "
                + "every rank needs at least one chunk per step; "
                + (global >= ranks ? "use distributed.chunk \(global / ranks) or less" : "use a global batch of at least \(ranks)")
        case .noFullBatch(let count, let global):
            return "the training set has \(count) samples, fewer than one global batch of \(global); "
                + "use last_batch: keep or a global batch ≤ \(count)"
        }
    }
}
