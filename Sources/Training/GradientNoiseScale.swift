/// The gradient noise scale B_simple = tr Σ / |G|² of McCandlish, Kaplan, Amodei et al. 2018
/// (*An Empirical Model of Large-Batch Training*, arXiv 1812.06162): the batch size around which
/// a larger batch stops buying proportionally fewer steps. G is the true gradient of the mean loss
/// and Σ the covariance of one item's gradient, so a batch of B items has E|g_B/B − G|² = tr Σ / B.
///
/// Appendix A estimates both from the squared norm of the mean gradient at two batch sizes. Here
/// the "small" measurements are disjoint parts of the step's global batch whose gradient *sums* the
/// step already holds: each rank's share before the reduction, or — on one rank — the first
/// micro-batch. For independent items, a part of n items with gradient sum g has
/// E|g|² = n²|G|² + n tr Σ, and so the step's three sums over its parts,
///
///     A = Σ |g_part|²,   Q = Σ n_part²,   N = Σ n_part,
///
/// and the whole batch's C = |g_B|² (B items) satisfy E A = Q|G|² + N tr Σ and E C = B²|G|² + B tr Σ.
/// Solving the two equations gives estimates unbiased for |G|² and tr Σ with parts of any sizes —
/// uneven shares, a short last batch, ignored targets — and, for R equal parts of b items, exactly
/// the appendix's |𝒢|² = (B|G_B|² − b|G_b|²)/(B − b) and 𝒮 = (|G_b|² − |G_B|²)/(1/b − 1/B).
/// A, Q and N are sums over ranks, so they ride in the step's scalar reduction: no new collective.
///
/// For a language model the items are tokens, which are not independent within a sequence; the
/// figure is then in tokens and, like the paper's, an approximation.
public struct GradientNoiseStatistics: Equatable, Sendable {
    /// A: Σ over the parts of the squared norm of the part's gradient sum.
    public var partSquaredNorms = 0.0
    /// Q: Σ over the parts of the squared item count.
    public var partSquaredCounts = 0.0
    /// N: Σ over the parts of the item count.
    public var partCounts = 0.0

    public init(partSquaredNorms: Double = 0, partSquaredCounts: Double = 0, partCounts: Double = 0) {
        self.partSquaredNorms = partSquaredNorms
        self.partSquaredCounts = partSquaredCounts
        self.partCounts = partCounts
    }

    /// Adds one part: a gradient sum of squared norm `squaredNorm` over `items` items.
    public mutating func add(squaredNorm: Double, items: Int) {
        partSquaredNorms += squaredNorm
        partSquaredCounts += Double(items) * Double(items)
        partCounts += Double(items)
    }

    /// The unbiased estimates of |G|² and tr Σ, given the squared norm `batchSquaredNorm` of the whole
    /// batch's gradient sum over `batchItems` items; nil when the parts cannot tell signal from noise
    /// (no part, or one part that is the whole batch) or a value is not finite.
    public func estimate(batchSquaredNorm c: Double, batchItems b: Double) -> GradientNoiseEstimate? {
        let a = partSquaredNorms, q = partSquaredCounts, n = partCounts
        // Cramér's rule on  C = B²·G² + B·T  and  A = Q·G² + N·T.
        let determinant = b * (b * n - q)
        guard determinant > 0, a.isFinite, c.isFinite else { return nil }
        return GradientNoiseEstimate(gradientSquared: (c * n - b * a) / determinant,
                                     trace: (b * b * a - q * c) / determinant)
    }
}

/// Unbiased estimates of |G|² (the squared norm of the true mean gradient) and tr Σ (the trace of
/// one item's gradient covariance).
public struct GradientNoiseEstimate: Equatable, Sendable {
    public var gradientSquared: Double
    public var trace: Double

    public init(gradientSquared: Double, trace: Double) {
        self.gradientSquared = gradientSquared
        self.trace = trace
    }

    /// Appendix A's estimates from squared norms of mean gradients: `small` at batch `smallBatch`,
    /// `big` at `bigBatch` (each, ideally, averaged over many batches).
    public static func twoBatchSizes(small: Double, smallBatch: Double, big: Double, bigBatch: Double) -> GradientNoiseEstimate {
        GradientNoiseEstimate(gradientSquared: (bigBatch * big - smallBatch * small) / (bigBatch - smallBatch),
                              trace: (small - big) / (1 / smallBatch - 1 / bigBatch))
    }

    /// B_simple, or nil while the signal estimate is not positive.
    public var noiseScale: Double? { gradientSquared > 0 && trace.isFinite ? trace / gradientSquared : nil }
}

/// The online noise scale: |G|² and tr Σ each averaged with a bias-corrected exponential moving
/// average (β, `train.noise_beta`) and B_simple their ratio — never the average of per-step ratios,
/// whose noisy denominators would bias it.
public struct GradientNoiseScale: Equatable, Sendable {
    public let beta: Double
    public static let defaultBeta = 0.99
    /// The raw averages and the weight 1 − βᵗ of the bias correction, after t estimates.
    public private(set) var averagedGradientSquared = 0.0
    public private(set) var averagedTrace = 0.0
    public private(set) var weight = 0.0

    public init(beta: Double = GradientNoiseScale.defaultBeta) {
        precondition((0..<1).contains(beta), "β \(beta) must lie in [0, 1)")
        self.beta = beta
    }

    public mutating func add(_ estimate: GradientNoiseEstimate) {
        averagedGradientSquared = beta * averagedGradientSquared + (1 - beta) * estimate.gradientSquared
        averagedTrace = beta * averagedTrace + (1 - beta) * estimate.trace
        weight = beta * weight + (1 - beta)
    }

    /// The bias-corrected averages; nil before the first estimate.
    public var smoothed: GradientNoiseEstimate? {
        weight > 0 ? GradientNoiseEstimate(gradientSquared: averagedGradientSquared / weight, trace: averagedTrace / weight) : nil
    }

    /// B_simple: nil until the smoothed signal estimate is positive.
    public var noiseScale: Double? { smoothed?.noiseScale }

    /// The state as checkpoint metadata strings (Swift's shortest round-trip decimal, so a resume
    /// continues with the same bits).
    var strings: [String: String] {
        [Self.gradientSquaredKey: "\(averagedGradientSquared)", Self.traceKey: "\(averagedTrace)", Self.weightKey: "\(weight)"]
    }

    static let gradientSquaredKey = "noise_grad_sq_average", traceKey = "noise_trace_average", weightKey = "noise_weight"

    /// Restores the state from checkpoint metadata; a checkpoint written before the noise scale
    /// existed leaves it empty (the averages start again), a malformed one is an error.
    mutating func restore(from strings: [String: String], file: String) throws(ResumeError) {
        let keys = [Self.gradientSquaredKey, Self.traceKey, Self.weightKey]
        guard keys.contains(where: { strings[$0] != nil }) else { return }
        var values: [Double] = []
        for key in keys {
            guard let text = strings[key], let value = Double(text), value.isFinite else {
                throw .mismatch(file: file, what: "metadata '\(key)' is missing or malformed")
            }
            values.append(value)
        }
        guard (0...1).contains(values[2]) else {
            throw .mismatch(file: file, what: "metadata '\(Self.weightKey)' = \(values[2]) lies outside [0, 1]")
        }
        (averagedGradientSquared, averagedTrace, weight) = (values[0], values[1], values[2])
    }
}
