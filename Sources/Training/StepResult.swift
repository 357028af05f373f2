import Reporting

/// The scalars of one optimizer step that ride along with its gradient reduction, summed over ranks
/// in double precision (so that item counts stay exact up to 2⁵³).
public struct StepScalars: Equatable, Sendable {
    /// Σ of the per-item losses, over every rank's micro-batches.
    public var lossSum: Double
    /// Items the loss counted (samples, or targets that are not ignored).
    public var items: Double
    /// Ranks that saw a non-finite gradient or loss; any makes every rank skip the step.
    public var nonFiniteRanks: Double
    /// Ranks asked to stop (a signal); any makes every rank stop after this step.
    public var stopRequests: Double
    /// The sums over the parts of the batch that the gradient noise scale is estimated from.
    public var noise: GradientNoiseStatistics

    public init(lossSum: Double = 0, items: Double = 0, nonFiniteRanks: Double = 0, stopRequests: Double = 0,
                noise: GradientNoiseStatistics = GradientNoiseStatistics()) {
        self.lossSum = lossSum
        self.items = items
        self.nonFiniteRanks = nonFiniteRanks
        self.stopRequests = stopRequests
        self.noise = noise
    }

    /// The order in which the reduction carries them.
    var packed: [Double] {
        [lossSum, items, nonFiniteRanks, stopRequests, noise.partSquaredNorms, noise.partSquaredCounts, noise.partCounts]
    }

    init(packed: [Double]) {
        precondition(packed.count == 7, "step scalars are 7 values, got \(packed.count)")
        self.init(lossSum: packed[0], items: packed[1], nonFiniteRanks: packed[2], stopRequests: packed[3],
                  noise: GradientNoiseStatistics(partSquaredNorms: packed[4], partSquaredCounts: packed[5],
                                                 partCounts: packed[6]))
    }
}

/// What one optimizer step did, identical on every rank: the reduced scalars and what followed
/// from them.
public struct StepResult: Sendable {
    /// Optimizer steps completed (applied or skipped), this one included.
    public var step: Int
    /// The reduced scalars of the step.
    public var scalars: StepScalars
    /// Whether the update was skipped: a non-finite gradient or loss on some rank, or nothing counted.
    public var skipped: Bool
    public var learningRate: Float
    /// The norm of the mean gradient; NaN when the step was skipped.
    public var gradientNorm: Double
    /// Whether every parameter is finite after the update, agreed by all ranks.
    public var parametersFinite: Bool
    /// Where the step's wall time went.
    public var timings: StepTimings
    /// The step's wall time.
    public var seconds: Double
    /// This step's unbiased estimates of |G|² and tr Σ (nil when the step was skipped or its parts
    /// cannot tell them apart), and the run's smoothed noise scale after it.
    public var noiseEstimate: GradientNoiseEstimate?
    public var noiseScale: GradientNoiseScale
    /// AdaScale's gain r_t (nil on a skipped step, which makes no progress) and its progress τ after
    /// this step (both nil without `schedule.adascale`).
    public var gainRatio: Double?
    public var progress: Double?
    /// The reproducible mode's recomputations of this step (a gradient outgrew its fixed-point bound).
    public var recomputations = 0

    /// The global mean loss (NaN when nothing was counted).
    public var meanLoss: Double { scalars.items > 0 ? scalars.lossSum / scalars.items : .nan }
    public var items: Int { Int(scalars.items) }
    public var stopRequested: Bool { scalars.stopRequests > 0 }
}
