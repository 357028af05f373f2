import Foundation

/// Steps and examples to a target accuracy against the effective batch, and the critical batch size
/// they imply (McCandlish, Kaplan, Amodei et al. 2018, §2.3): training to a fixed target trades steps S
/// for examples E = B·S along
///
///     S / S_min − 1 = (E / E_min − 1)⁻¹,   B_crit = E_min / S_min,
///
/// which is S(B) = S_min · (1 + B_crit / B): perfect scaling (S ∝ 1/B) well below B_crit, no gain
/// from a larger batch well above it. S_min and E_min = S_min·B_crit are fitted to the measured points by
/// least squares in relative error (S = S_min + E_min / B is linear in both).
///
/// A batch with several variants (several learning rates, as Shallue et al. 2018 tune each batch size)
/// is represented by the one that reached the target in the fewest steps: the curve shows what each
/// batch can do, not one guess. Beside each point, the variant's mean measured gradient noise scale
/// B_simple: the prediction beside the outcome.
public struct CriticalBatchAnalysis: Sendable, Equatable {
    /// One effective batch.
    public struct Point: Sendable, Equatable {
        public var effectiveBatch: Int
        /// The fastest variant to the target at this batch, or the first one when none reached it.
        public var variant: String
        public var variants: Int
        public var learningRate: Double
        /// Optimizer steps and training examples up to the first evaluation at or above the target; nil
        /// when no variant of this batch reached it.
        public var stepsToTarget: Int?
        public var examplesToTarget: Double?
        /// The variant's noise scale B_simple over its run up to the target (all of it when not reached):
        /// the mean of its recorded tr Σ estimates over the mean of its |G|² estimates — not the mean of
        /// per-step ratios, which late steps with |G|² near zero would dominate. nil when it recorded none.
        public var meanNoiseScale: Double?
    }

    /// The fitted curve; nil with fewer than two batch sizes at the target or a fit without positive values.
    public struct Fit: Sendable, Equatable {
        public var minimumSteps: Double
        public var minimumExamples: Double
        public var criticalBatch: Double { minimumExamples / minimumSteps }

        public func steps(atBatch batch: Double) -> Double { minimumSteps + minimumExamples / batch }
    }

    /// The variants of one recipe (`group` in the sweep file): its own points and fit.
    public struct Group: Sendable, Equatable {
        /// nil for a sweep without groups.
        public var name: String?
        /// In increasing effective batch.
        public var points: [Point]
        public var fit: Fit?
    }

    public var target: Double
    /// In the order of their first variant in the sweep.
    public var groups: [Group]

    public init(_ variants: [SweepVariant], target: Double) {
        self.target = target
        var names: [String?] = []
        for variant in variants where !names.contains(variant.info.group) { names.append(variant.info.group) }
        groups = names.map { name in Self.group(name, variants.filter { $0.info.group == name }, target: target) }
    }

    static func group(_ name: String?, _ variants: [SweepVariant], target: Double) -> Group {
        var byBatch: [Int: [SweepVariant]] = [:]
        for variant in variants { byBatch[variant.info.effectiveBatch, default: []].append(variant) }
        let points = byBatch.keys.sorted().map { batch in
            let candidates = byBatch[batch]!.map { ($0, Self.reach($0, target: target)) }
            let best = candidates.filter { $0.1 != nil }.min { $0.1!.steps < $1.1!.steps } ?? candidates[0]
            let until = best.1?.steps ?? Int.max
            let estimates = best.0.metrics.steps.filter { $0.step <= until }.compactMap { record -> (Double, Double)? in
                guard let trace = record.noiseTrace, let signal = record.noiseGradientSquared, trace.isFinite, signal.isFinite
                else { return nil }
                return (trace, signal)
            }
            let trace = estimates.reduce(0) { $0 + $1.0 }, signal = estimates.reduce(0) { $0 + $1.1 }
            return Point(effectiveBatch: batch, variant: best.0.name, variants: candidates.count,
                         learningRate: best.0.info.learningRate, stepsToTarget: best.1?.steps,
                         examplesToTarget: best.1?.examples,
                         meanNoiseScale: signal > 0 ? trace / signal : nil)
        }
        let fit = Self.fit(points.compactMap { point in point.stepsToTarget.map { (Double(point.effectiveBatch), Double($0)) } })
        return Group(name: name, points: points, fit: fit)
    }

    /// The step of the first evaluation at or above the target and the examples trained until then.
    static func reach(_ variant: SweepVariant, target: Double) -> (steps: Int, examples: Double)? {
        guard let evaluation = variant.metrics.evaluations.first(where: { $0.testAccuracy >= target }) else { return nil }
        let examples = variant.metrics.steps.prefix { $0.step <= evaluation.step }.reduce(0.0) { $0 + Double($1.items) }
        return (evaluation.step, examples > 0 ? examples : Double(evaluation.step * variant.info.effectiveBatch))
    }

    /// Weighted least squares of S = a + c·(1/B) with weights 1/S² (relative error).
    static func fit(_ points: [(batch: Double, steps: Double)]) -> Fit? {
        guard Set(points.map(\.batch)).count >= 2 else { return nil }
        var sw = 0.0, sx = 0.0, sy = 0.0, sxx = 0.0, sxy = 0.0
        for (batch, steps) in points {
            let w = 1 / (steps * steps), x = 1 / batch
            sw += w; sx += w * x; sy += w * steps; sxx += w * x * x; sxy += w * x * steps
        }
        let determinant = sw * sxx - sx * sx
        guard determinant > 0 else { return nil }
        let c = (sw * sxy - sx * sy) / determinant, a = (sy - c * sx) / sw
        guard a > 0, c > 0, a.isFinite, c.isFinite else { return nil }
        return Fit(minimumSteps: a, minimumExamples: c)
    }

    /// A sentence per group on its fit and on where perfect scaling ends, for the report.
    public var summary: String {
        let label = String(format: "%g%%", target * 100)
        return groups.map { $0.summary(target: label) }.joined(separator: " ")
    }
}

extension CriticalBatchAnalysis.Group {
    /// One sentence on the fit and where perfect scaling ends; `label` names the target ("90%").
    func summary(target label: String) -> String {
        let prefix = name.map { "\($0): " } ?? ""
        let reached = points.filter { $0.stepsToTarget != nil }
        guard let fit else {
            if Set(reached.map(\.effectiveBatch)).count >= 2 {
                return prefix + "\(reached.count) of \(points.count) batch sizes reached \(label), but S = S_min (1 + B_crit / B) "
                    + "fits them only with S_min or B_crit ≤ 0 (at least perfect scaling between them): no critical batch size."
            }
            return prefix + "\(reached.count) of \(points.count) batch sizes reached \(label): too few for a fit of the critical batch size."
        }
        var text = prefix + String(format: (prefix.isEmpty ? "Fitted" : "fitted") + " to %d batch sizes at %@: S_min = %.0f steps, E_min = %.3g examples, B_crit = E_min / S_min = %.0f.",
                                   reached.count, label, fit.minimumSteps, fit.minimumExamples, fit.criticalBatch)
        let noise = points.compactMap(\.meanNoiseScale)
        if !noise.isEmpty {
            text += String(format: " The measured noise scale B_simple ranges over %.0f–%.0f (mean per variant).",
                           noise.min()!, noise.max()!)
        }
        if let smallest = reached.first, let steps = smallest.stepsToTarget {
            // Where the measured points fall below half of perfect scaling from the smallest batch.
            let falling = reached.first { point in
                Double(point.stepsToTarget!) > 2 * Double(steps) * Double(smallest.effectiveBatch) / Double(point.effectiveBatch)
            }
            if let falling {
                text += " Perfect scaling from batch \(smallest.effectiveBatch) ends by batch \(falling.effectiveBatch), "
                    + "which takes more than twice the steps it would."
            } else {
                text += " Every batch that reached the target stays within a factor 2 of perfect scaling from batch \(smallest.effectiveBatch)."
            }
        }
        return text
    }
}
