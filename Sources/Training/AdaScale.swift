import Configuration

/// AdaScale (Johnson, Agrawal, Gu, Guestrin 2020, *AdaScale SGD: A User-Friendly Algorithm for
/// Distributed Training*): a batch S = B / B_base times the base batch runs the base batch's
/// learning-rate schedule without retuning.
///
/// In the paper's notation, σ²(w) = E‖g(w) − ∇F(w)‖² is the variance of a base batch's stochastic
/// gradient and μ²(w) = ‖∇F(w)‖² the squared norm of the true one; a batch S times larger has
/// variance σ²/S, and one of its steps is worth
///
///     r_t = (σ²_t + μ²_t) / (σ²_t / S + μ²_t)   ∈ [1, S]
///
/// base steps: S in the noise-dominated regime, 1 where the gradient is nearly exact. Step t takes the
/// learning rate r_t · lr_base(τ_t), where τ_t, the scale-invariant progress, is the sum of the gains
/// of the steps before it, and training ends when τ reaches the base schedule's length.
///
/// σ² and μ² come from the online noise scale's smoothed estimates (`GradientNoiseScale`), which
/// are per item: σ² = tr Σ / b_base with b_base = (items of the step) / S, μ² = |G|². FairScale's
/// implementation clamps each step's estimates before averaging them; here the unbiased averages
/// are kept and only the ratio is clamped into [1, S] (S when the smoothed μ² is not positive).
/// With S = 1 the gain is exactly 1 and the run is the unscaled one, bit for bit.
public struct AdaScale: Equatable, Sendable {
    /// The batch the base schedule was written for (`schedule.adascale.base_batch`).
    public let baseBatch: Int
    /// S = global batch / base batch.
    public let scale: Double
    /// The base schedule's length, in base steps: where τ ends training.
    public let baseSteps: Int
    /// τ: base steps' worth of progress completed.
    public private(set) var progress = 0.0

    public init(baseBatch: Int, globalBatch: Int, baseSteps: Int) {
        precondition(baseBatch >= 1 && baseBatch <= globalBatch, "base batch \(baseBatch) outside 1...\(globalBatch)")
        self.baseBatch = baseBatch
        scale = Double(globalBatch) / Double(baseBatch)
        self.baseSteps = baseSteps
    }

    public var isFinished: Bool { progress >= Double(baseSteps) }

    /// r_t from the smoothed estimates after this step's (nil before any: gain 1), for a step that
    /// counted `items` items.
    public func gain(_ smoothed: GradientNoiseEstimate?, items: Double) -> Double {
        guard scale > 1, let smoothed, items > 0 else { return 1 }
        guard smoothed.gradientSquared > 0 else { return scale }
        let baseVariance = max(smoothed.trace, 0) * scale / items
        let gain = (baseVariance + smoothed.gradientSquared) / (baseVariance / scale + smoothed.gradientSquared)
        return gain.isFinite ? min(max(gain, 1), scale) : 1
    }

    /// The base schedule's position for the step about to be taken (1-based, in base steps).
    public var scheduleStep: Double { progress + 1 }

    /// Counts an applied step of gain `gain`.
    public mutating func advance(by gain: Double) { progress += gain }

    static let progressKey = "adascale_progress"

    var strings: [String: String] { [Self.progressKey: "\(progress)"] }

    /// τ from checkpoint metadata: required, since without it the run's remaining length is unknown.
    mutating func restore(from strings: [String: String], file: String) throws(ResumeError) {
        guard let text = strings[Self.progressKey], let value = Double(text), value.isFinite, value >= 0 else {
            throw .mismatch(file: file, what: "metadata '\(Self.progressKey)' is missing or malformed "
                            + "(schedule.adascale needs the checkpoint's progress)")
        }
        progress = value
    }

    /// `schedule.adascale: {base_batch: B}`, or nil without the key; refused with a scale rule (AdaScale
    /// replaces it) or a base batch larger than the global batch.
    static func read(from schedule: ConfigValue, globalBatch: Int) throws(ConfigError) -> Int? {
        let section = try ConfigSection(schedule, path: "schedule")
        guard section.value("adascale") != nil else { return nil }
        let settings = try section.section("adascale")
        let base = try settings.requiredInt("base_batch", range: 1...Int.max)
        try settings.finish()
        guard base <= globalBatch else {
            throw .outOfRange(key: "schedule.adascale.base_batch", value: "\(base)",
                              allowed: "at most batch.global = \(globalBatch) (AdaScale scales up, S = global / base ≥ 1)")
        }
        if let rule = section.value("scale_rule"), rule != .string("none") {
            throw .invalid(key: "schedule.scale_rule", reason: "schedule.adascale scales the learning rate itself; "
                           + "leave scale_rule at none")
        }
        return base
    }
}
