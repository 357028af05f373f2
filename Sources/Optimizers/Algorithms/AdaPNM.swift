import Tensors

/// AdaPNM (Xie et al., arXiv 2103.17182) as pytorch_optimizer.AdaPNM 4.1.0: positive–negative momentum
/// preconditioned by Adam's second moment. The two momenta alternate by step parity; the current one
/// m ← m + (1−β₁²)(g − m); pn = ((1+β₀)m − β₀m_other)/√((1+β₀)² + β₀²);
/// u = (pn/(1−β₁ᵗ)) / ((√(v + 1e-15) + ε)/√(1−β₂ᵗ)), with `ams_bound` (the library's default) the running
/// maximum of v in the denominator.
public final class ScaleByAdaPNM: GradientTransform {
    public let name = "adapnm"
    public let scope = TransformScope.elementwise
    public let beta1: Float, beta2: Float, beta0: Float, epsilon: Float
    public let amsBound: Bool
    let positive: FloatBuffer, negative: FloatBuffer, v: FloatBuffer, vMax: FloatBuffer?
    public let state: [StateTensor]
    private var rootC2: Float = 1, c1: Float = 1

    public init(layout: ParameterLayout, beta1: Float, beta2: Float, beta0: Float, epsilon: Float, amsBound: Bool = true) {
        self.beta1 = beta1; self.beta2 = beta2; self.beta0 = beta0; self.epsilon = epsilon; self.amsBound = amsBound
        let allocator = StateAllocator(prefix: "adapnm")
        positive = allocator.like(layout, "exp_avg")
        negative = allocator.like(layout, "neg_exp_avg")
        v = allocator.like(layout, "exp_avg_sq")
        vMax = amsBound ? allocator.like(layout, "max_exp_avg_sq") : nil
        state = allocator.tensors
    }

    public func prepare(context: StepContext) {
        rootC2 = biasCorrection(beta2, context.step).squareRoot()
        c1 = biasCorrection(beta1, context.step)
    }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        let odd = context.step % 2 == 1
        let current = (odd ? positive : negative).baseAddress, other = (odd ? negative : positive).baseAddress
        let u = buffers.updates, v = v.baseAddress, maxima = vMax?.baseAddress, weight = 1 - beta1 * beta1
        let norm = 1 / ((1 + beta0) * (1 + beta0) + beta0 * beta0).squareRoot()
        for i in range {
            let g = u[i]
            current[i] = Moments.interpolate(current[i], toward: g, weight: weight)
            v[i] = Moments.averageOfSquares(v[i], g, beta: beta2, weight: 1 - beta2)
            let pn = ((1 + beta0) * current[i] - beta0 * other[i]) * norm
            u[i] = pn / (amsBoundDenominator(v[i], maxima, i, epsilon: epsilon) / rootC2) / c1
        }
    }
}
