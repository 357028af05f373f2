import Tensors

/// Positive–negative momentum (Xie et al., arXiv 2103.17182) as pytorch_optimizer.PNM: two
/// momenta alternate by step parity; the current one m ← m + (1−β₁²)(g − m) and
/// u = ((1+β₀)m − β₀m_other)/√((1+β₀)² + β₀²), with β₀ = betas[1] (default 1).
public final class ScaleByPNM: GradientTransform {
    public let name = "pnm"
    public let scope = TransformScope.elementwise
    public let beta1: Float, beta0: Float
    let positive: FloatBuffer, negative: FloatBuffer
    public let state: [StateTensor]

    public init(layout: ParameterLayout, beta1: Float, beta0: Float) {
        self.beta1 = beta1; self.beta0 = beta0
        let allocator = StateAllocator(prefix: "pnm")
        positive = allocator.like(layout, "pos_momentum")
        negative = allocator.like(layout, "neg_momentum")
        state = allocator.tensors
    }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        let odd = context.step % 2 == 1
        let current = (odd ? positive : negative).baseAddress, other = (odd ? negative : positive).baseAddress
        let u = buffers.updates, b = beta1 * beta1
        let norm = 1 / ((1 + beta0) * (1 + beta0) + beta0 * beta0).squareRoot()
        for i in range {
            current[i] = Moments.interpolate(current[i], toward: u[i], weight: 1 - b)
            u[i] = ((1 + beta0) * current[i] - beta0 * other[i]) * norm
        }
    }
}
