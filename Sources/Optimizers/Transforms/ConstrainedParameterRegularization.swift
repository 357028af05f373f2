import Tensors

/// Constrained parameter regularization (Franke et al., arXiv 2311.09058) with R(θ) = ‖θ‖² per
/// tensor of rank ≥ 2: κ is R at step `warm_start` (the norm is then held there), the multiplier
/// λ ← max(0, λ + μ·(R(θ) − κ)), and u ← u − λθ (decoupled, after the optimizer's update).
public final class ConstrainedParameterRegularization: GradientTransform {
    public let name = "cpr"
    public let scope = TransformScope.whole
    public let mu: Float
    public let warmStart: Int
    let layout: ParameterLayout
    let multipliers: FloatBuffer, bounds: FloatBuffer
    public let state: [StateTensor]

    public init(layout: ParameterLayout, mu: Float, warmStart: Int) {
        self.layout = layout
        self.mu = mu
        self.warmStart = warmStart
        let allocator = StateAllocator(prefix: "cpr")
        multipliers = allocator.buffer("lambda", count: layout.slots.count)
        bounds = allocator.buffer("kappa", count: layout.slots.count)
        state = allocator.tensors
    }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        for (index, slot) in layout.slots.enumerated() where slot.shape.count >= 2 {
            let p = buffers.parameters + slot.offset, u = buffers.updates + slot.offset
            let r = Float(VectorMath.sumOfSquares(p, slot.count))
            if context.step <= warmStart { bounds[index] = r }
            if context.step < warmStart { continue }
            let lambda = max(0, multipliers[index] + mu * (r - bounds[index]))
            multipliers[index] = lambda
            for e in 0..<slot.count { u[e] -= lambda * p[e] }
        }
    }
}
