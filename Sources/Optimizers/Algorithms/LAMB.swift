import Foundation
import Tensors

/// LAMB as pytorch_optimizer.Lamb 4.1.0 computes it (You et al., arXiv 1904.00962): m ← β₁m + β₃g (β₃ = 1−β₁ with grad_averaging, else 1), v ← β₂v + (1−β₂)g²;
/// p ← p(1 − lr·λ) decoupled; r = m/(√v + ε), plus λp when the decay is coupled (the library adds it to
/// the update, not the gradient, so the moments never see it and the trust ratio does);
/// trust = min(‖p‖, 10)/(‖r‖ + ε) per tensor
/// (1 if either norm is 0, or with `adam`); p ← p − lr/(1−β₁ᵗ)·trust·r — only the step size is
/// bias-corrected, the trust ratio sees the uncorrected r (matches the reference trajectory).
public final class LAMB: GradientTransform {
    public let name = "lamb"
    public let scope = TransformScope.whole
    public struct Settings: Sendable {
        public var beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-6, weightDecay: Float = 0
        public var weightDecouple = true, fixedDecay = false, gradAveraging = true, adam = false
        public init() {}
    }
    /// Upper bound on the weight norm in the trust ratio (pytorch_optimizer's `clamp`).
    public static let weightNormClamp: Float = 10
    public let settings: Settings
    let layout: ParameterLayout
    let m: FloatBuffer, v: FloatBuffer
    public let state: [StateTensor]

    public init(layout: ParameterLayout, settings: Settings) {
        self.layout = layout
        self.settings = settings
        let allocator = StateAllocator(prefix: "lamb")
        m = allocator.like(layout, "m")
        v = allocator.like(layout, "v")
        state = allocator.tensors
    }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        let s = settings, lr = context.learningRate
        let correction1 = Float(1 - pow(Double(s.beta1), Double(context.step)))
        let b3 = s.gradAveraging ? 1 - s.beta1 : 1
        let decayFactor: Float = s.weightDecouple ? 1 - s.weightDecay * (s.fixedDecay ? 1 : lr) : 1
        for slot in layout.slots {
            let g = buffers.updates + slot.offset, p = buffers.parameters + slot.offset
            let ms = m.baseAddress + slot.offset, vs = v.baseAddress + slot.offset, n = slot.count
            // Four lanes at a time: a scalar square root keeps its errno branch and never vectorizes.
            let beta1 = SIMD4<Float>(repeating: s.beta1), beta3 = SIMD4<Float>(repeating: b3)
            let beta2 = SIMD4<Float>(repeating: s.beta2), keep2 = SIMD4<Float>(repeating: 1 - s.beta2)
            let epsilon = SIMD4<Float>(repeating: s.epsilon)
            var i = 0
            while i + 4 <= n {
                let gi = VectorMath.load4(g + i)
                let mi = beta1 * VectorMath.load4(ms + i) + beta3 * gi
                let vi = beta2 * VectorMath.load4(vs + i) + keep2 * gi * gi
                VectorMath.store4(mi, ms + i)
                VectorMath.store4(vi, vs + i)
                VectorMath.store4(mi / (VectorMath.squareRoot(vi) + epsilon), g + i)
                i += 4
            }
            while i < n {
                let gi = g[i]
                ms[i] = s.beta1 * ms[i] + b3 * gi
                vs[i] = s.beta2 * vs[i] + (1 - s.beta2) * gi * gi
                g[i] = ms[i] / (vs[i].squareRoot() + s.epsilon)
                i += 1
            }
            if !s.weightDecouple && s.weightDecay > 0 { for i in 0..<n { g[i] += s.weightDecay * p[i] } }
            let weightNorm = min(Float(VectorMath.sumOfSquares(p, n).squareRoot()) * decayFactor, LAMB.weightNormClamp)
            let updateNorm = Float(VectorMath.sumOfSquares(g, n).squareRoot())
            var trust: Float = weightNorm == 0 || updateNorm == 0 ? 1 : weightNorm / (updateNorm + s.epsilon)
            if s.adam { trust = 1 }
            let step = lr * trust / correction1, shrink = 1 - decayFactor
            for i in 0..<n { g[i] = -shrink * p[i] - step * g[i] }
        }
    }
}
