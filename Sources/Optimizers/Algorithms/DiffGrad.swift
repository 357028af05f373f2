import Foundation
import Tensors

/// diffGrad (Dubey et al., arXiv 1909.11015): Adam whose step is damped by the friction
/// ξ = sigmoid(|g_{t−1} − g_t|) ∈ [½, 1): u = ξ·m̂/(√v̂ + ε). (pytorch_optimizer's non-rectified
/// path drops ξ; this follows the paper.)
public final class ScaleByDiffGrad: GradientTransform {
    public let name = "diffgrad"
    public let scope = TransformScope.elementwise
    public let epsilon: Float
    public var beta1: Float { moments.beta1 }
    public var beta2: Float { moments.beta2 }
    private var moments: AdamMoments
    let previous: FloatBuffer
    public let state: [StateTensor]

    public init(layout: ParameterLayout, beta1: Float, beta2: Float, epsilon: Float) {
        self.epsilon = epsilon
        let allocator = StateAllocator(prefix: "diffgrad")
        moments = AdamMoments(layout: layout, beta1: beta1, beta2: beta2, allocator: allocator)
        previous = allocator.like(layout, "previous_gradient")
        state = allocator.tensors
    }

    public func prepare(context: StepContext) { moments.prepare(step: context.step) }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        let u = buffers.updates, previous = previous.baseAddress
        for i in range {
            let g = u[i]
            let (mHat, vHat) = moments.update(i, gradient: g)
            let friction = 1 / (1 + exp(-abs(previous[i] - g)))
            previous[i] = g
            u[i] = friction * mHat / (vHat.squareRoot() + epsilon)
        }
    }
}
