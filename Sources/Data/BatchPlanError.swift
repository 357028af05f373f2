/// A batch configuration that cannot be split evenly, carrying the numbers and workable alternatives.
public enum BatchPlanError: Error, Equatable, CustomStringConvertible {
    case notPositive(name: String, value: Int)
    /// G is not a multiple of R·b; `validMicroBatches` divide G/R, `nearestGlobalBatches` are multiples of R·b.
    case notDivisible(globalBatch: Int, microBatch: Int, worldSize: Int, validMicroBatches: [Int], nearestGlobalBatches: [Int])
    /// With `last_batch: drop`, a training set smaller than one global batch gives no steps at all.
    case noFullBatch(sampleCount: Int, globalBatch: Int)

    public var description: String {
        switch self {
        case .notPositive(let name, let value):
            return "\(name) must be positive, got \(value)"
        case .notDivisible(let global, let micro, let ranks, let micros, let globals):
            let unit = ranks * micro
            let microText = micros.isEmpty
                ? "no micro batch size works (\(global) is not a multiple of \(ranks) ranks)"
                : "micro batch sizes that work with global batch \(global) on \(ranks) ranks: \(micros.map(String.init).joined(separator: ", "))"
            return "global batch \(global) cannot be split into \(ranks) ranks × micro batch \(micro) × k micro-steps "
                + "(\(global) is not a multiple of \(ranks) × \(micro) = \(unit)); \(microText); "
                + "global batch sizes that work with micro batch \(micro) on \(ranks) ranks: "
                + globals.map(String.init).joined(separator: " or ")
        case .noFullBatch(let count, let global):
            return "the training set has \(count) samples, fewer than one global batch of \(global); "
                + "use last_batch: keep or a global batch ≤ \(count)"
        }
    }
}
