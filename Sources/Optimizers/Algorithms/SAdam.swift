import Foundation
import Tensors

/// Softplus-calibrated Adam (Tong et al., arXiv 1908.00700): u = m̂ / softplus_β(√v̂) with
/// softplus_β(x) = log(1 + exp(βx))/β, which floors the denominator smoothly instead of adding ε.
public final class ScaleBySAdam: GradientTransform {
    public let name = "sadam"
    public let scope = TransformScope.elementwise
    public let softplusBeta: Float
    public var beta1: Float { moments.beta1 }
    public var beta2: Float { moments.beta2 }
    private var moments: AdamMoments
    public let state: [StateTensor]

    public init(layout: ParameterLayout, beta1: Float, beta2: Float, softplusBeta: Float) {
        self.softplusBeta = softplusBeta
        let allocator = StateAllocator(prefix: "sadam")
        moments = AdamMoments(layout: layout, beta1: beta1, beta2: beta2, allocator: allocator)
        state = allocator.tensors
    }

    public func prepare(context: StepContext) { moments.prepare(step: context.step) }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        let u = buffers.updates, k = softplusBeta
        for i in range {
            let (mHat, vHat) = moments.update(i, gradient: u[i])
            let x = k * vHat.squareRoot()
            let softplus = (x > 20 ? x : log1p(exp(x))) / k
            u[i] = mHat / softplus
        }
    }
}
