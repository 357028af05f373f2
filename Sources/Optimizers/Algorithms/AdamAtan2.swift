import Foundation
import Tensors

/// Adam-atan2 (Everett et al., arXiv 2407.05872): u = a·atan2(m̂, b·√v̂), which is scale-invariant and
/// needs no ε. Defaults a = 1.27, b = 1.
public final class ScaleByAdamAtan2: GradientTransform {
    public let name = "adam_atan2"
    public let scope = TransformScope.elementwise
    public let beta1: Float, beta2: Float, a: Float, b: Float
    let m: FloatBuffer, v: FloatBuffer
    public let state: [StateTensor]
    private var c1: Float = 1, c2: Float = 1

    public init(layout: ParameterLayout, beta1: Float, beta2: Float, a: Float, b: Float) {
        self.beta1 = beta1; self.beta2 = beta2; self.a = a; self.b = b
        let allocator = StateAllocator(prefix: "adam_atan2")
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
            let g = u[i]
            m[i] = beta1 * m[i] + (1 - beta1) * g
            v[i] = beta2 * v[i] + (1 - beta2) * g * g
            u[i] = a * Float(atan2(Double(m[i] / c1), Double(b * (v[i] / c2).squareRoot())))
        }
    }
}
