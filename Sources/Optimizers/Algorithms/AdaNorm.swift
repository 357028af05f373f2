import Tensors

/// AdaNorm (Dubey et al., arXiv 2210.06364) as pytorch_optimizer.AdaNorm 4.1.0: per tensor,
/// e ← r·e + (1−r)‖g‖; the momentum input is s = (e/‖g‖)·g when ‖g‖ < e, else g;
/// m ← m + (1−β₁)(s − m), v ← β₂v + (1−β₂)g²; u = (m/(1−β₁ᵗ)) / ((√(v + 1e-15) + ε)/√(1−β₂ᵗ)),
/// with `ams_bound` the running maximum of v in the denominator (see `amsBoundDenominator`).
public final class ScaleByAdaNorm: GradientTransform {
    public let name = "adanorm"
    public let scope = TransformScope.whole
    public let beta1: Float, beta2: Float, r: Float, epsilon: Float
    public let amsBound: Bool
    let layout: ParameterLayout
    let m: FloatBuffer, v: FloatBuffer, gradientNorm: FloatBuffer, vMax: FloatBuffer?
    public let state: [StateTensor]

    public init(layout: ParameterLayout, beta1: Float, beta2: Float, r: Float, epsilon: Float, amsBound: Bool = false) {
        self.layout = layout
        self.beta1 = beta1; self.beta2 = beta2; self.r = r; self.epsilon = epsilon; self.amsBound = amsBound
        let allocator = StateAllocator(prefix: "adanorm")
        m = allocator.like(layout, "exp_avg")
        v = allocator.like(layout, "exp_avg_var")
        gradientNorm = allocator.buffer("exp_grad_norm", count: layout.slots.count)
        vMax = amsBound ? allocator.like(layout, "max_exp_avg_var") : nil
        state = allocator.tensors
    }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        let rootC2 = biasCorrection(beta2, context.step).squareRoot(), c1 = biasCorrection(beta1, context.step)
        for (index, slot) in layout.slots.enumerated() {
            let g = buffers.updates + slot.offset, ms = m.baseAddress + slot.offset, vs = v.baseAddress + slot.offset
            let maxima = vMax.map { $0.baseAddress + slot.offset }
            let norm = Float(VectorMath.sumOfSquares(g, slot.count).squareRoot())
            let e = r * gradientNorm[index] + (1 - r) * norm
            gradientNorm[index] = e
            let scale: Float = norm < e && norm > 0 ? e / norm : 1
            for i in 0..<slot.count {
                let gi = g[i]
                ms[i] = Moments.interpolate(ms[i], toward: gi * scale, weight: 1 - beta1)
                vs[i] = Moments.averageOfSquares(vs[i], gi, beta: beta2, weight: 1 - beta2)
                let denominator = amsBoundDenominator(vs[i], maxima, i, epsilon: epsilon) / rootC2
                g[i] = ms[i] / denominator / c1
            }
        }
    }
}
