import Configuration
import Foundation

/// The learning rate per step, read from the `schedule` section.
///
/// Linear warm-up from 0 over `warmup_steps`, then `constant`, `cosine` (to min_lr_ratio·peak),
/// `linear`, or `wsd` (warmup–stable–decay: constant, then linear decay over the last
/// `decay_fraction` of the run; Hu et al., arXiv 2404.06395). The peak is the base rate scaled for
/// the global batch: `linear` (Goyal et al., arXiv 1706.02677) or `sqrt` (Krizhevsky, arXiv 1404.5997)
/// relative to `base_batch`.
public struct Schedule: Sendable {
    public enum Decay: String, CaseIterable, Sendable { case constant, cosine, linear, wsd }
    public enum ScaleRule: String, CaseIterable, Sendable { case none, linear, sqrt }

    public let peak: Double
    public let warmupSteps: Int
    public let decay: Decay
    public let minimumRatio: Double
    public let decayFraction: Double
    public let totalSteps: Int

    public init(section: ConfigSection, baseLearningRate: Double, globalBatch: Int, totalSteps: Int) throws(ConfigError) {
        warmupSteps = try section.int("warmup_steps", default: 0, range: 0...Int.max)
        decay = Decay(rawValue: try section.choice("decay", default: "constant", from: Decay.allCases.map(\.rawValue))) ?? .constant
        minimumRatio = try section.double("min_lr_ratio", default: 0, range: 0...1)
        decayFraction = try section.double("decay_fraction", default: 0.1, range: 0...1, openLower: true)
        let rule = ScaleRule(rawValue: try section.choice("scale_rule", default: "none", from: ScaleRule.allCases.map(\.rawValue))) ?? .none
        let baseBatch = try section.int("base_batch", default: max(globalBatch, 1), range: 1...Int.max)
        // Read by the trainer, which owns the noise statistics AdaScale needs (Training/AdaScale.swift).
        _ = section.value("adascale")
        try section.finish()
        guard baseLearningRate >= 0 else {
            throw .outOfRange(key: "optimizer.lr", value: "\(baseLearningRate)", allowed: "≥ 0")
        }
        let ratio = Double(max(globalBatch, 1)) / Double(baseBatch)
        switch rule {
        case .none: peak = baseLearningRate
        case .linear: peak = baseLearningRate * ratio
        case .sqrt: peak = baseLearningRate * ratio.squareRoot()
        }
        self.totalSteps = max(totalSteps, 1)
    }

    /// The rate for 1-based `step`.
    public func learningRate(step: Int) -> Float { learningRate(at: Double(step)) }

    /// The rate at a fractional 1-based position: AdaScale follows the schedule in base steps of
    /// progress, which need not be whole. For a whole `step` the same bits as `learningRate(step:)`.
    public func learningRate(at step: Double) -> Float {
        let warmup = Double(warmupSteps), total = Double(totalSteps)
        if step <= warmup { return Float(peak * step / max(warmup, 1)) }
        let floor = peak * minimumRatio
        switch decay {
        case .constant:
            return Float(peak)
        case .cosine:
            let progress = min(1, (step - warmup) / max(total - warmup, 1))
            return Float(floor + (peak - floor) * 0.5 * (1 + cos(Double.pi * progress)))
        case .linear:
            let progress = min(1, (step - warmup) / max(total - warmup, 1))
            return Float(peak - (peak - floor) * progress)
        case .wsd:
            let decaySteps = max(1, Int((decayFraction * total).rounded()))
            let start = Double(max(warmupSteps, totalSteps - decaySteps))
            if step <= start { return Float(peak) }
            let progress = min(1, (step - start) / max(total - start, 1))
            return Float(peak - (peak - floor) * progress)
        }
    }
}
