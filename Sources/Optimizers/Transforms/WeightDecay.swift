/// Weight decay in all its forms, one transform; where it sits in a chain is what its form says.
///
/// - `.coupled` (L2): u ← u + λ·p on the gradient, before the optimizer's preconditioner, so the
///   moments see the decay (torch `Adam(weight_decay=)`, SGD, the `l2` transform).
/// - `.decoupled`: the same u ← u + λ·p on the optimizer's direction, after its preconditioner and
///   before the scale by −lr, so p ← p − lr·(d + λ·p) — AdamW's decay (Loshchilov & Hutter, arXiv
///   1711.05101), rounded as torch's `p.mul_(1 − lr·λ)` folded into the step.
/// - `.inUpdate(fixed:cautious:)`: in update space, after the scale by −lr (usable after any
///   optimizer): u ← u − c·λ·p with c = lr, or 1 with `fixed_decay`; cautious (Chen et al., arXiv
///   2510.12402) decays only coordinates where the parameter and the descent direction −u share a
///   sign, so the decay never fights the update.
///
/// `assembled` builds the usual chains around an optimizer core, so each algorithm states its form
/// instead of placing the decay by hand. Decay stays inside an algorithm's step only where its rate
/// is the step's own per-tensor or per-step size, which no transform before or after can see:
/// Adafactor's relative step, Muon's shape-scaled rate, AdaLo's loss-driven η, Amos's adaptive
/// decay; and `FusedAdamW` folds `.decoupled` into its single pass over memory.
public final class WeightDecay: GradientTransform {
    public enum Form: Equatable, Sendable {
        case coupled
        case decoupled
        case inUpdate(fixed: Bool, cautious: Bool)
    }

    public let name: String
    public let scope = TransformScope.elementwise
    public let state: [StateTensor] = []
    public let weightDecay: Float
    public let form: Form
    private var coefficient: Float = 0

    public init(_ form: Form, weightDecay: Float, name: String? = nil) {
        self.form = form
        self.weightDecay = weightDecay
        switch form {
        case .coupled: self.name = name ?? "l2"
        case .decoupled: self.name = name ?? "weight_decay"
        case .inUpdate: self.name = name ?? "decoupled_weight_decay"
        }
    }

    /// `core` with the scale by −lr and, when `weightDecay` > 0, the decay of `form` where it belongs.
    public static func assembled(_ core: [any GradientTransform], weightDecay: Float, form: Form) -> [any GradientTransform] {
        let rate = ScaleByLearningRate()
        guard weightDecay > 0 else { return core + [rate] }
        let decay = WeightDecay(form, weightDecay: weightDecay)
        switch form {
        case .coupled: return [decay] + core + [rate]
        case .decoupled: return core + [decay, rate]
        case .inUpdate: return core + [rate, decay]
        }
    }

    public func prepare(context: StepContext) {
        if case .inUpdate(let fixed, _) = form { coefficient = weightDecay * (fixed ? 1 : context.learningRate) }
    }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        let u = buffers.updates, p = buffers.parameters
        switch form {
        case .coupled, .decoupled:
            let wd = weightDecay
            for i in range { u[i] += wd * p[i] }
        case .inUpdate(_, let cautious):
            let c = coefficient
            if cautious {
                for i in range {
                    // descent direction is −u; decay where p·(−u) > 0
                    let agree: Float = p[i] * u[i] < 0 ? 1 : 0
                    u[i] -= c * agree * p[i]
                }
            } else {
                for i in range { u[i] -= c * p[i] }
            }
        }
    }
}
