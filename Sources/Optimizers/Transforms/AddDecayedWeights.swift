/// u ← u + λ·p. Before a preconditioner it is coupled L2 (torch `Adam(weight_decay=)`, SGD);
/// after it and before the scale by −lr it is AdamW's decoupled decay (Loshchilov & Hutter,
/// arXiv 1711.05101): p ← p − lr·λ·p − lr·u.
public final class AddDecayedWeights: GradientTransform {
    public let name: String
    public let scope = TransformScope.elementwise
    public let state: [StateTensor] = []
    public let weightDecay: Float

    public init(name: String = "weight_decay", weightDecay: Float) {
        self.name = name
        self.weightDecay = weightDecay
    }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        let u = buffers.updates, p = buffers.parameters, wd = weightDecay
        for i in range { u[i] += wd * p[i] }
    }
}

/// Decoupled decay applied in update space, after the optimizer's scale by −lr:
/// u ← u − factor·λ·p with factor = lr (or 1 with `fixed_decay`). Usable after any optimizer.
public final class DecoupledWeightDecay: GradientTransform {
    public let name = "decoupled_weight_decay"
    public let scope = TransformScope.elementwise
    public let state: [StateTensor] = []
    public let weightDecay: Float
    public let fixedDecay: Bool
    /// Cautious weight decay (Chen et al., arXiv 2510.12402): decay only coordinates where the
    /// parameter and the optimizer's descent direction −u share a sign, so decay never fights the update.
    public let cautious: Bool
    private var coefficient: Float = 0

    public init(weightDecay: Float, fixedDecay: Bool = false, cautious: Bool = false) {
        self.weightDecay = weightDecay
        self.fixedDecay = fixedDecay
        self.cautious = cautious
    }

    public func prepare(context: StepContext) {
        coefficient = weightDecay * (fixedDecay ? 1 : context.learningRate)
    }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        let u = buffers.updates, p = buffers.parameters, c = coefficient
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
