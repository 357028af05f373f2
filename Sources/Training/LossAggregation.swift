import Configuration
import Foundation
import Layers

/// How a step combines its samples' losses (`loss.aggregation`).
///
/// `mean` is the summed loss divided once by the global count of items. `soft_median` is the
/// survey's answer to long-tailed losses (SURVEY-NOTES §5.3: "a soft median of the per-sample losses
/// instead of their mean"): averages let the few hardest samples — mislabelled, or simply rare —
/// dominate the gradient, a median ignores all but one, and a soft median weights each sample by
/// how close its loss is to the batch's median. Sample i, of rank rᵢ among the N samples of the
/// global batch that count any item (by loss per counted item; ties by data set index), gets
///
///     wᵢ = N · exp(−|rᵢ − m| / T) / Σⱼ exp(−|rⱼ − m| / T),   m = (N − 1)/2,   T = τ·N,
///
/// and the step's loss is Σ wᵢ·ℓᵢ over the same counted items, divided once by their global count.
/// The weights average 1, so the loss keeps the mean's scale and learning rates carry over; T
/// grows with N, so a weight depends on where a sample stands in the batch (its quantile), not on
/// the batch size; τ = `temperature` (default 0.25: the extremes weigh e^{−2} of the median). The
/// survey names the idea without a rule for the temperature, so this rule and its default are ours.
///
/// The weights come from the whole global batch, never from one rank's share: a first forward pass
/// (dropout keyed as in training, so these are the losses the second pass weights) collects each
/// sample's loss, the ranks all-gather them, every rank computes all weights identically, and the
/// forward/backward pass weights its own samples — so every decomposition of the batch trains alike
/// (bit for bit in the reproducible mode, whose first pass runs in its chunks). The price is one
/// more forward pass per step.
public enum LossAggregation: Equatable, Sendable {
    case mean
    case softMedian(temperature: Double)

    public static let defaultTemperature = 0.25

    /// Reads the `loss` section.
    public static func read(from section: ConfigSection) throws(ConfigError) -> LossAggregation {
        let name = try section.choice("aggregation", default: "mean", from: ["mean", "soft_median"])
        if name == "mean" {
            if section.value("temperature") != nil {
                throw .invalid(key: section.qualified("temperature"), reason: "applies only with loss.aggregation: soft_median")
            }
            try section.finish()
            return .mean
        }
        let temperature = try section.double("temperature", default: defaultTemperature, range: 0...1e6, openLower: true)
        try section.finish()
        return .softMedian(temperature: temperature)
    }

    /// One sample's loss as the ranks exchange it.
    public struct SampleLoss: Equatable, Sendable {
        /// Its global data set index: the tie-breaker, the same on every decomposition.
        public var index: Int
        public var loss: LossSum

        public init(index: Int, loss: LossSum) {
            self.index = index
            self.loss = loss
        }
    }

    /// The soft median's weight of every sample of the global batch, in the order given; samples
    /// that count no item weigh 0 (they add nothing either way). A non-finite loss sorts last: the
    /// step that holds it is skipped anyway.
    public static func softMedianWeights(_ samples: [SampleLoss], temperature: Double) -> [Float] {
        precondition(temperature > 0, "temperature \(temperature) must be positive")
        let counted = samples.indices.filter { samples[$0].loss.items > 0 }
        func key(_ i: Int) -> Double {
            let mean = samples[i].loss.sum / Double(samples[i].loss.items)
            return mean.isNaN ? .infinity : mean
        }
        let order = counted.sorted { a, b in
            let ka = key(a), kb = key(b)
            return ka != kb ? ka < kb : samples[a].index < samples[b].index
        }
        var weights = [Float](repeating: 0, count: samples.count)
        let n = Double(order.count)
        guard n > 0 else { return weights }
        let median = (n - 1) / 2, scale = temperature * n
        let raw = order.indices.map { exp(-abs(Double($0) - median) / scale) }
        let total = raw.reduce(0, +)
        for (rank, sample) in order.enumerated() { weights[sample] = Float(n * raw[rank] / total) }
        return weights
    }
}
