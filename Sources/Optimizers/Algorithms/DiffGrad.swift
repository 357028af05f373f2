import Foundation
import Tensors

/// diffGrad (Dubey et al., arXiv 1909.11015): Adam whose step is damped by the friction
/// ξ = sigmoid(|g_{t−1} − g_t|) ∈ [½, 1): u = ξ·m̂/(√v̂ + ε). (pytorch_optimizer's non-rectified
/// path drops ξ; this follows the paper.)
public final class ScaleByDiffGrad: GradientTransform {
    public let name = "diffgrad"
    public let scope = TransformScope.elementwise
    public let beta1: Float, beta2: Float, epsilon: Float
    let m: FloatBuffer, v: FloatBuffer, previous: FloatBuffer
    public let state: [StateTensor]
    private var c1: Float = 1, c2: Float = 1

    public init(layout: ParameterLayout, beta1: Float, beta2: Float, epsilon: Float) {
        self.beta1 = beta1; self.beta2 = beta2; self.epsilon = epsilon
        let allocator = StateAllocator(prefix: "diffgrad")
        m = allocator.like(layout, "m")
        v = allocator.like(layout, "v")
        previous = allocator.like(layout, "previous_gradient")
        state = allocator.tensors
    }

    public func prepare(context: StepContext) {
        c1 = biasCorrection(beta1, context.step)
        c2 = biasCorrection(beta2, context.step)
    }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        let u = buffers.updates, m = m.baseAddress, v = v.baseAddress, previous = previous.baseAddress
        for i in range {
            let g = u[i]
            m[i] = beta1 * m[i] + (1 - beta1) * g
            v[i] = beta2 * v[i] + (1 - beta2) * g * g
            let friction = 1 / (1 + exp(-abs(previous[i] - g)))
            previous[i] = g
            u[i] = friction * (m[i] / c1) / ((v[i] / c2).squareRoot() + epsilon)
        }
    }
}
