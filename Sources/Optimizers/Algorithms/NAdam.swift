import Foundation
import Tensors

/// NAdam with torch.optim.NAdam semantics (Dozat 2016): μₜ = β₁(1 − ½·0.96^(tψ)), ψ = momentum_decay,
/// Πμ kept as state; u = (1−μₜ)/(1−Πμₜ)·g/d + μₜ₊₁/(1−Πμₜ·μₜ₊₁)·m/d with d = √(v/(1−β₂ᵗ)) + ε.
public final class ScaleByNAdam: GradientTransform {
    public let name = "nadam"
    public let scope = TransformScope.elementwise
    public let beta1: Float, beta2: Float, epsilon: Float, momentumDecay: Double
    let m: FloatBuffer, v: FloatBuffer, muProduct: FloatBuffer
    public let state: [StateTensor]
    private var gradientCoefficient: Float = 0, momentumCoefficient: Float = 0, rootCorrection2: Float = 1
    /// Πμ before this step, so re-running a step from restored state is exact.
    private var preparedStep = -1

    public init(layout: ParameterLayout, beta1: Float, beta2: Float, epsilon: Float, momentumDecay: Double) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.momentumDecay = momentumDecay
        let allocator = StateAllocator(prefix: "nadam")
        m = allocator.like(layout, "m")
        v = allocator.like(layout, "v")
        muProduct = allocator.scalar("mu_product", initial: 1)
        state = allocator.tensors
    }

    public func prepare(context: StepContext) {
        let t = Double(context.step), b1 = Double(beta1)
        let mu = b1 * (1 - 0.5 * pow(0.96, t * momentumDecay))
        let muNext = b1 * (1 - 0.5 * pow(0.96, (t + 1) * momentumDecay))
        let product = Double(muProduct[0]) * mu
        muProduct[0] = Float(product)
        gradientCoefficient = Float((1 - mu) / (1 - product))
        momentumCoefficient = Float(muNext / (1 - product * muNext))
        rootCorrection2 = Float((1 - pow(Double(beta2), t)).squareRoot())
    }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        let u = buffers.updates, m = m.baseAddress, v = v.baseAddress
        let b1 = beta1, b2 = beta2, eps = epsilon, cg = gradientCoefficient, cm = momentumCoefficient
        let inverseRoot2 = 1 / rootCorrection2
        for i in range {
            let g = u[i]
            let mi = Moments.average(m[i], g, beta: b1, weight: 1 - b1)
            let vi = Moments.averageOfSquares(v[i], g, beta: b2, weight: 1 - b2)
            m[i] = mi; v[i] = vi
            let d = vi.squareRoot() * inverseRoot2 + eps
            u[i] = (cg * g + cm * mi) / d
        }
    }
}
