import Tensors

/// AdaPNM (Xie et al., arXiv 2103.17182) as pytorch_optimizer.AdaPNM: positive–negative momentum
/// preconditioned by Adam's second moment, u = pn/(√v/√(1−β₂ᵗ) + ε) with pn the PNM combination
/// (no first-moment bias correction, as the reference without adam_debias).
public final class ScaleByAdaPNM: GradientTransform {
    public let name = "adapnm"
    public let scope = TransformScope.elementwise
    public let beta1: Float, beta2: Float, beta0: Float, epsilon: Float
    let positive: FloatBuffer, negative: FloatBuffer, v: FloatBuffer
    public let state: [StateTensor]
    private var rootC2: Float = 1

    public init(layout: ParameterLayout, beta1: Float, beta2: Float, beta0: Float, epsilon: Float) {
        self.beta1 = beta1; self.beta2 = beta2; self.beta0 = beta0; self.epsilon = epsilon
        let allocator = StateAllocator(prefix: "adapnm")
        positive = allocator.like(layout, "exp_avg")
        negative = allocator.like(layout, "neg_exp_avg")
        v = allocator.like(layout, "exp_avg_sq")
        state = allocator.tensors
    }

    public func prepare(context: StepContext) { rootC2 = biasCorrection(beta2, context.step).squareRoot() }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        let odd = context.step % 2 == 1
        let current = (odd ? positive : negative).baseAddress, other = (odd ? negative : positive).baseAddress
        let u = buffers.updates, v = v.baseAddress, b = beta1 * beta1
        let norm = 1 / ((1 + beta0) * (1 + beta0) + beta0 * beta0).squareRoot()
        for i in range {
            let g = u[i]
            current[i] = b * current[i] + (1 - b) * g
            v[i] = beta2 * v[i] + (1 - beta2) * g * g
            let pn = ((1 + beta0) * current[i] - beta0 * other[i]) * norm
            u[i] = pn / ((v[i].squareRoot() + epsilon) / rootC2)
        }
    }
}
