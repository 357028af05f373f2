import Foundation
import Tensors

/// AdaLo, a loss-driven step size: m ← β₁m + (1−β₁)g; τ = (tanh(−log1p(L)/2) + 1)/2 with L the
/// step's global mean loss; e ← β₂e + (1−β₂)τ; η = max(e/κ, ε) (adversarial) or max((1−e)/κ, ε)
/// (compliant); p ← p·(1 − ηλ) − η·m. The schedule's learning rate is not used.
public final class AdaLo: GradientTransform {
    public enum Mode: String, CaseIterable, Sendable { case adversarial, compliant }
    public let name = "adalo"
    public let scope = TransformScope.elementwise
    public let beta1: Float, beta2: Float, weightDecay: Float, kappa: Float, epsilon: Float
    public let mode: Mode
    let m: FloatBuffer, e: FloatBuffer
    public let state: [StateTensor]
    private var eta: Float = 0

    public init(layout: ParameterLayout, beta1: Float, beta2: Float, weightDecay: Float, kappa: Float,
                epsilon: Float, mode: Mode) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.weightDecay = weightDecay
        self.kappa = kappa
        self.epsilon = epsilon
        self.mode = mode
        let allocator = StateAllocator(prefix: "adalo")
        m = allocator.like(layout, "m")
        e = allocator.scalar("e")
        state = allocator.tensors
    }

    public func prepare(context: StepContext) {
        let loss = Double(context.loss)
        let tau = (tanh(-log1p(loss) / 2) + 1) / 2
        let level = Double(beta2) * Double(e[0]) + (1 - Double(beta2)) * tau
        e[0] = Float(level)
        let raw = mode == .adversarial ? level / Double(kappa) : (1 - level) / Double(kappa)
        eta = Float(max(raw, Double(epsilon)))
    }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        let u = buffers.updates, p = buffers.parameters, m = m.baseAddress
        let b1 = beta1, eta = eta, decay = eta * weightDecay
        for i in range {
            let mi = Moments.average(m[i], u[i], beta: b1, weight: 1 - b1)
            m[i] = mi
            u[i] = -decay * p[i] - eta * mi
        }
    }
}
