import Foundation
import Tensors

/// Adam's preconditioned direction with torch.optim's ε placement (Kingma & Ba, arXiv 1412.6980):
/// m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², u = (m/(1−β₁ᵗ)) / (√v/√(1−β₂ᵗ) + ε);
/// with `amsgrad`, v̂max ← max(v̂max, v) replaces v in the denominator.
public final class ScaleByAdam: GradientTransform {
    public let name = "adam"
    public let scope = TransformScope.elementwise
    public let beta1: Float, beta2: Float, epsilon: Float
    public let amsgrad: Bool
    let m: FloatBuffer, v: FloatBuffer, vMax: FloatBuffer?
    public let state: [StateTensor]
    private var correction1: Float = 1, rootCorrection2: Float = 1

    public init(layout: ParameterLayout, beta1: Float, beta2: Float, epsilon: Float, amsgrad: Bool = false,
                prefix: String = "adam") {
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.amsgrad = amsgrad
        let allocator = StateAllocator(prefix: prefix)
        m = allocator.like(layout, "m")
        v = allocator.like(layout, "v")
        vMax = amsgrad ? allocator.like(layout, "v_max") : nil
        state = allocator.tensors
    }

    public func prepare(context: StepContext) {
        let t = Double(context.step)
        correction1 = Float(1 - pow(Double(beta1), t))
        rootCorrection2 = Float((1 - pow(Double(beta2), t)).squareRoot())
    }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        let u = buffers.updates, m = m.baseAddress, v = v.baseAddress
        let b1 = beta1, b2 = beta2, c1 = 1 - beta1, c2 = 1 - beta2, eps = epsilon
        let inverseCorrection1 = 1 / correction1, inverseRoot2 = 1 / rootCorrection2
        if let vMax = vMax?.baseAddress {
            for i in range {
                let g = u[i]
                let mi = b1 * m[i] + c1 * g
                let vi = b2 * v[i] + c2 * g * g
                m[i] = mi; v[i] = vi
                let vm = max(vMax[i], vi)
                vMax[i] = vm
                u[i] = (mi * inverseCorrection1) / (vm.squareRoot() * inverseRoot2 + eps)
            }
        } else {
            for i in range {
                let g = u[i]
                let mi = b1 * m[i] + c1 * g
                let vi = b2 * v[i] + c2 * g * g
                m[i] = mi; v[i] = vi
                u[i] = (mi * inverseCorrection1) / (vi.squareRoot() * inverseRoot2 + eps)
            }
        }
    }

    /// The whole AdamW step in one pass over memory: m, v, the decoupled decay and the parameter
    /// write, p ← p − lr·(û + λp). Used by the chain for scale-by-Adam → decay → scale by −lr.
    func applyFused(_ buffers: TransformBuffers, range: Range<Int>, weightDecay: Float, learningRate: Float) {
        precondition(vMax == nil)
        let u = buffers.updates, p = buffers.parameters, m = m.baseAddress, v = v.baseAddress
        let b1 = beta1, b2 = beta2, c1 = 1 - beta1, c2 = 1 - beta2, eps = epsilon
        let stepSize = learningRate / correction1, inverseRoot2 = 1 / rootCorrection2
        let decay = 1 - learningRate * weightDecay
        var i = range.lowerBound
        let end = range.upperBound
        // Explicit 8-wide vectors: the compiler cannot prove the four buffers disjoint, so it
        // would not vectorize the scalar loop by itself.
        typealias V = SIMD8<Float>
        let vb1 = V(repeating: b1), vb2 = V(repeating: b2), vc1 = V(repeating: c1), vc2 = V(repeating: c2)
        let vEps = V(repeating: eps), vStep = V(repeating: stepSize), vRoot = V(repeating: inverseRoot2)
        let vDecay = V(repeating: decay)
        while i + 8 <= end {
            let g = UnsafeRawPointer(u + i).loadUnaligned(as: V.self)
            let mi = vb1 * UnsafeRawPointer(m + i).loadUnaligned(as: V.self) + vc1 * g
            let vi = vb2 * UnsafeRawPointer(v + i).loadUnaligned(as: V.self) + vc2 * g * g
            let pi = UnsafeRawPointer(p + i).loadUnaligned(as: V.self)
            let result = pi * vDecay - vStep * mi / (vi.squareRoot() * vRoot + vEps)
            UnsafeMutableRawPointer(m + i).storeBytes(of: mi, as: V.self)
            UnsafeMutableRawPointer(v + i).storeBytes(of: vi, as: V.self)
            UnsafeMutableRawPointer(p + i).storeBytes(of: result, as: V.self)
            i += 8
        }
        while i < end {
            let g = u[i]
            let mi = b1 * m[i] + c1 * g
            let vi = b2 * v[i] + c2 * g * g
            m[i] = mi
            v[i] = vi
            p[i] = p[i] * decay - stepSize * mi / (vi.squareRoot() * inverseRoot2 + eps)
            i += 1
        }
    }
}
