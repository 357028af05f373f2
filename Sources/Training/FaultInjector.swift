import Layers
import Tensors

/// The `debug` section at work: failures injected on one rank, and the deliberately wrong
/// accumulation that the equivalence tests must catch. Kept apart from the step so that the step
/// reads as what training does. With nothing configured each hook is one branch.
final class FaultInjector {
    let faults: TrainingConfiguration.FaultInjection
    let rank: Int
    /// The gradient buffer before the current micro-step, for the naive accumulation.
    private let previous: FloatBuffer?

    init(_ faults: TrainingConfiguration.FaultInjection, rank: Int, gradientCount: Int) {
        self.faults = faults
        self.rank = rank
        previous = faults.naiveAccumulation ? FloatBuffer(count: gradientCount) : nil
    }

    private var isTarget: Bool { faults.rank == rank }

    /// `debug.fail_at_step`: this rank fails before computing the step.
    func beforeStep(_ step: Int) throws {
        if let failAt = faults.failAtStep, failAt == step, isTarget {
            throw TrainingError.injectedFailure(rank: rank, step: step)
        }
    }

    /// `debug.nonfinite_steps`: whether this rank's gradient turns NaN at `step`.
    func corruptsGradient(atStep step: Int) -> Bool { isTarget && faults.nonFiniteSteps.contains(step) }

    /// `debug.nonfinite_steps`: this rank's gradient turns NaN after its micro-steps.
    func afterMicroSteps(_ step: Int, gradients: FloatBuffer) {
        if corruptsGradient(atStep: step) { gradients[0] = .nan }
    }

    /// Remembers the gradients before a micro-step (naive accumulation only).
    func beforeMicroStep(gradients: FloatBuffer) { previous?.copy(from: gradients) }

    /// What a micro-step adds to the step's loss sum and item count. The exact way: its loss sum and
    /// its items. The naive way: the gradient buffer becomes previous + (this micro-batch's sum) / its
    /// count and the micro-batch counts as one item, so the final division averages micro-batch means.
    func accumulate(_ loss: LossSum, gradients: FloatBuffer) -> (sum: Double, items: Int) {
        guard let previous else { return (loss.sum, loss.items) }
        let g = gradients.baseAddress, p = previous.baseAddress
        let factor = 1 / Float(loss.items)
        for i in 0..<previous.count { g[i] = p[i] + (g[i] - p[i]) * factor }
        return (loss.sum / Double(loss.items), 1)
    }
}
