import Foundation
import Tensors

/// Adam-atan2 (Everett et al., arXiv 2407.05872): u = a·atan2(m̂, b·√v̂), which is scale-invariant and
/// needs no ε. Defaults a = 1.27, b = 1.
public final class ScaleByAdamAtan2: GradientTransform {
    public let name = "adam_atan2"
    public let scope = TransformScope.elementwise
    public let a: Float, b: Float
    public var beta1: Float { moments.beta1 }
    public var beta2: Float { moments.beta2 }
    private var moments: AdamMoments
    public let state: [StateTensor]

    public init(layout: ParameterLayout, beta1: Float, beta2: Float, a: Float, b: Float) {
        self.a = a; self.b = b
        let allocator = StateAllocator(prefix: "adam_atan2")
        moments = AdamMoments(layout: layout, beta1: beta1, beta2: beta2, allocator: allocator)
        state = allocator.tensors
    }

    public func prepare(context: StepContext) { moments.prepare(step: context.step) }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        let u = buffers.updates
        for i in range {
            let (mHat, vHat) = moments.update(i, gradient: u[i])
            u[i] = a * Float(atan2(Double(mHat), Double(b * vHat.squareRoot())))
        }
    }
}
