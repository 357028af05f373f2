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
    public func learningRate(step: Int) -> Float {
        if step <= warmupSteps { return Float(peak * Double(step) / Double(max(warmupSteps, 1))) }
        let floor = peak * minimumRatio
        switch decay {
        case .constant:
            return Float(peak)
        case .cosine:
            let progress = min(1, Double(step - warmupSteps) / Double(max(totalSteps - warmupSteps, 1)))
            return Float(floor + (peak - floor) * 0.5 * (1 + cos(Double.pi * progress)))
        case .linear:
            let progress = min(1, Double(step - warmupSteps) / Double(max(totalSteps - warmupSteps, 1)))
            return Float(peak - (peak - floor) * progress)
        case .wsd:
            let decaySteps = max(1, Int((decayFraction * Double(totalSteps)).rounded()))
            let start = max(warmupSteps, totalSteps - decaySteps)
            if step <= start { return Float(peak) }
            let progress = min(1, Double(step - start) / Double(max(totalSteps - start, 1)))
            return Float(peak - (peak - floor) * progress)
        }
    }
}
