import Foundation
import Tensors

/// Softplus-calibrated Adam (Tong et al., arXiv 1908.00700): u = m̂ / softplus_β(√v̂) with
/// softplus_β(x) = log(1 + exp(βx))/β, which floors the denominator smoothly instead of adding ε.
public final class ScaleBySAdam: GradientTransform {
    public let name = "sadam"
    public let scope = TransformScope.elementwise
    public let beta1: Float, beta2: Float, softplusBeta: Float
    let m: FloatBuffer, v: FloatBuffer
    public let state: [StateTensor]
    private var c1: Float = 1, c2: Float = 1

    public init(layout: ParameterLayout, beta1: Float, beta2: Float, softplusBeta: Float) {
        self.beta1 = beta1; self.beta2 = beta2; self.softplusBeta = softplusBeta
        let allocator = StateAllocator(prefix: "sadam")
        m = allocator.like(layout, "m")
        v = allocator.like(layout, "v")
        state = allocator.tensors
    }

    public func prepare(context: StepContext) {
        c1 = biasCorrection(beta1, context.step)
        c2 = biasCorrection(beta2, context.step)
    }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        let u = buffers.updates, m = m.baseAddress, v = v.baseAddress, k = softplusBeta
        for i in range {
            let g = u[i]
            m[i] = beta1 * m[i] + (1 - beta1) * g
            v[i] = beta2 * v[i] + (1 - beta2) * g * g
            let x = k * (v[i] / c2).squareRoot()
            let softplus = (x > 20 ? x : log1p(exp(x))) / k
            u[i] = (m[i] / c1) / softplus
        }
    }
}
