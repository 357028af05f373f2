import Foundation
import Tensors

/// LAMB as pytorch_optimizer.Lamb 4.1.0 computes it (You et al., arXiv 1904.00962), assembled from
/// transforms: Adam's moments without bias correction, m ← β₁m + β₃g (β₃ = 1−β₁ with
/// `grad_averaging`, else 1), v ← β₂v + (1−β₂)g², r = m/(√v + ε) → λp added to r when the decay is
/// coupled (the library adds it to the update, not the gradient, so the moments never see it and the
/// trust ratio does) → the trust ratio, min(‖p‖, 10)/(‖r‖ + ε) per tensor with p already decayed
/// (1 if either norm is 0, or with `adam`), and the step size's bias correction 1/(1−β₁ᵗ) — only the
/// step size is corrected, the trust ratio sees the uncorrected r (matches the reference
/// trajectory) → scale by −lr → the decoupled decay p ← p(1 − lr·λ) (1 − λ with `fixed_decay`).
public enum LAMB {
    public struct Settings: Sendable {
        public var beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-6, weightDecay: Float = 0
        public var weightDecouple = true, fixedDecay = false, gradAveraging = true, adam = false
        public init() {}
    }
    /// Upper bound on the weight norm in the trust ratio (pytorch_optimizer's `clamp`).
    public static let weightNormClamp: Float = 10

    /// adam (uncorrected, β₃) → coupled decay → trust ratio → −lr → decoupled decay.
    public static func transforms(layout: ParameterLayout, settings s: Settings) -> [any GradientTransform] {
        let moments = ScaleByAdam(layout: layout, beta1: s.beta1, beta2: s.beta2, epsilon: s.epsilon,
                                  biasCorrection: false, gradientScale: s.gradAveraging ? 1 - s.beta1 : 1, prefix: "lamb")
        // The library adds a coupled decay to the update, after the moments: so it sits after them here.
        let form: WeightDecay.Form = s.weightDecouple ? .inUpdate(fixed: s.fixedDecay, cautious: false) : .coupled
        let decay: [any GradientTransform] = s.weightDecay > 0 ? [WeightDecay(form, weightDecay: s.weightDecay)] : []
        let trust: [any GradientTransform] = [LAMBTrustRatio(layout: layout, settings: s), ScaleByLearningRate()]
        return s.weightDecouple ? [moments] + trust + decay : [moments] + decay + trust
    }
}

/// LAMB's per-tensor trust ratio with its bias-corrected step size: u ← u·trust/(1−β₁ᵗ), trust =
/// min(‖p‖·(1 − c·λ), 10)/(‖u‖ + ε), the weight norm taken as after this step's decoupled decay
/// (c = lr, or 1 with `fixed_decay`); 1 where either norm is 0 or with `adam`.
public final class LAMBTrustRatio: GradientTransform {
    public let name = "lamb_trust_ratio"
    public let scope = TransformScope.whole
    public let state: [StateTensor] = []
    let layout: ParameterLayout
    let settings: LAMB.Settings

    init(layout: ParameterLayout, settings: LAMB.Settings) {
        self.layout = layout
        self.settings = settings
    }

    /// Per-tensor norms are summed over shards that cut a tensor: any cut will do.
    public var shardRequirement: ShardRequirement { .rows }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        let s = settings, lr = context.learningRate
        let correction1 = Float(1 - pow(Double(s.beta1), Double(context.step)))
        let decayFactor: Float = s.weightDecouple ? 1 - s.weightDecay * (s.fixedDecay ? 1 : lr) : 1
        let squares = context.statistics.perTensor(layout, count: 2) { slot in
            [VectorMath.sumOfSquares(buffers.parameters + slot.offset, slot.count),
             VectorMath.sumOfSquares(buffers.updates + slot.offset, slot.count)]
        }
        for (slot, sums) in zip(layout.slots, squares) {
            let u = buffers.updates + slot.offset, n = slot.count
            let weightNorm = min(Float(sums[0].squareRoot()) * decayFactor, LAMB.weightNormClamp)
            let updateNorm = Float(sums[1].squareRoot())
            var trust: Float = weightNorm == 0 || updateNorm == 0 ? 1 : weightNorm / (updateNorm + s.epsilon)
            if s.adam { trust = 1 }
            let scale = trust / correction1
            for i in 0..<n { u[i] *= scale }
        }
    }
}
