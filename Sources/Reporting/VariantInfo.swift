import Foundation

/// The description of one sweep variant, as the trainer writes it to `variant.json`.
public struct VariantInfo: Codable, Sendable, Equatable {
    public var name: String
    /// Samples per optimizer step: `ranks × micro × accumulation`.
    public var effectiveBatch: Int
    public var ranks: Int
    /// Micro-batch size per rank and forward/backward pass.
    public var micro: Int
    /// Micro-batches accumulated per rank before each optimizer step.
    public var accumulation: Int
    public var optimizer: String
    /// The peak (post-scaling, post-warm-up) learning rate.
    public var learningRate: Double
    /// Planned optimizer steps.
    public var steps: Int
    /// Whether the run finished all planned steps and its final evaluation.
    public var complete: Bool
    /// A fingerprint of the resolved configuration and rank count the variant was trained with, and
    /// that configuration (YAML): a sweep whose variant now resolves differently re-trains it rather
    /// than reporting the old results as if they were the new. Absent in older files.
    public var fingerprint: String?
    public var configuration: String?
    /// The recipe the variant belongs to (`group` in the sweep file): the report fits steps to target
    /// against the batch per group. Absent when the sweep has none.
    public var group: String?

    public init(
        name: String, effectiveBatch: Int, ranks: Int, micro: Int, accumulation: Int, optimizer: String,
        learningRate: Double, steps: Int, complete: Bool
    ) {
        self.name = name
        self.effectiveBatch = effectiveBatch
        self.ranks = ranks
        self.micro = micro
        self.accumulation = accumulation
        self.optimizer = optimizer
        self.learningRate = learningRate
        self.steps = steps
        self.complete = complete
    }

    enum CodingKeys: String, CodingKey {
        case name
        case effectiveBatch = "effective_batch"
        case ranks, micro, accumulation, optimizer
        case learningRate = "learning_rate"
        case steps, complete, fingerprint, configuration, group
    }

    /// Reads and checks `variant.json`: the batch arithmetic must hold, since the report's whole point is comparing
    /// effective batches.
    public static func read(from url: URL) throws(ReportError) -> VariantInfo {
        let data = try ReportError.contents(of: url)
        let info: VariantInfo
        do {
            info = try JSONDecoder().decode(VariantInfo.self, from: data)
        } catch let error as DecodingError {
            throw .malformedVariant(path: url.path, reason: error.conciseDescription)
        } catch {
            throw .malformedVariant(path: url.path, reason: "\(error)")
        }
        if let problem = info.inconsistency {
            throw .malformedVariant(path: url.path, reason: problem)
        }
        return info
    }

    /// What is wrong with these values, or nil when they are consistent.
    public var inconsistency: String? {
        if ranks < 1 || micro < 1 || accumulation < 1 {
            return "ranks (\(ranks)), micro (\(micro)) and accumulation (\(accumulation)) must be at least 1"
        }
        // Shares may be uneven: the ranks × accumulation blocks hold at most `micro` samples each.
        let capacity = ranks * micro * accumulation
        if effectiveBatch > capacity || effectiveBatch < ranks {
            return "effective_batch \(effectiveBatch) does not fit ranks × micro × accumulation = "
                + "\(ranks) × \(micro) × \(accumulation) = \(capacity)"
        }
        if !(learningRate.isFinite && learningRate > 0) { return "learning_rate \(learningRate) must be positive" }
        if steps < 0 { return "steps \(steps) must not be negative" }
        return nil
    }
}
