import Tensors

/// AdaMomentum (Wang et al., arXiv 2106.11514): the second moment tracks the momentum instead of
/// the gradient, v ← β₂v + (1−β₂)m² + ε, and u = m̂/√v̂ (ε inside v, as in the paper).
public final class ScaleByAdaMomentum: GradientTransform {
    public let name = "adamomentum"
    public let scope = TransformScope.elementwise
    public let beta1: Float, beta2: Float, epsilon: Float
    let m: FloatBuffer, v: FloatBuffer
    public let state: [StateTensor]
    private var c1: Float = 1, c2: Float = 1

    public init(layout: ParameterLayout, beta1: Float, beta2: Float, epsilon: Float) {
        self.beta1 = beta1; self.beta2 = beta2; self.epsilon = epsilon
        let allocator = StateAllocator(prefix: "adamomentum")
        m = allocator.like(layout, "m")
        v = allocator.like(layout, "v")
        state = allocator.tensors
    }

    public func prepare(context: StepContext) {
        c1 = biasCorrection(beta1, context.step)
        c2 = biasCorrection(beta2, context.step)
    }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        let u = buffers.updates, m = m.baseAddress, v = v.baseAddress
        for i in range {
            let mi = Moments.average(m[i], u[i], beta: beta1, weight: 1 - beta1)
            m[i] = mi
            v[i] = Moments.averageOfSquares(v[i], mi, beta: beta2, weight: 1 - beta2) + epsilon
            u[i] = (mi / c1) / (v[i] / c2).squareRoot()
        }
    }
}
