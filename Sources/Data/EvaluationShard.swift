/// The contiguous part of the evaluation set a rank evaluates; the trainer sums results over ranks.
public enum EvaluationShard {
    /// Rank r gets [r·N/R, (r+1)·N/R): shards differ in size by at most one and cover 0..<N exactly.
    public static func range(count: Int, rank: Int, worldSize: Int) -> Range<Int> {
        precondition(count >= 0 && worldSize > 0 && rank >= 0 && rank < worldSize,
                     "shard \(rank) of \(worldSize) over \(count) samples")
        return (rank * count / worldSize)..<((rank + 1) * count / worldSize)
    }
}
