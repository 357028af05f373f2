import Foundation
import Tensors

/// diffGrad (Dubey et al., arXiv 1909.11015) as pytorch_optimizer.DiffGrad 4.1.0: Adam whose step is
/// damped by the friction ξ = sigmoid(|g_{t−1} − g_t|) ∈ [½, 1):
/// u = ξ·m·(√(1−β₂ᵗ)/(1−β₁ᵗ)) / (√(v + 1e-15) + ε), the library's ε placement (the paper's is
/// √v̂ + ε on the bias-corrected moment). With `rectify`, RAdam's rectification: step size
/// r_t/(1−β₁ᵗ) once the SMA length reaches `n_sma_threshold`, before it plain momentum m/(1−β₁ᵗ)
/// (`degenerated_to_sgd`) or no step. `ams_bound` as in `amsBoundDenominator`.
public final class ScaleByDiffGrad: GradientTransform {
    public struct Rectification: Sendable {
        public var threshold: Int = 5
        public var degeneratesToSGD = true
        public init() {}
    }
    public let name = "diffgrad"
    public let scope = TransformScope.elementwise
    public let beta1: Float, beta2: Float, epsilon: Float
    public let rectification: Rectification?
    let m: FloatBuffer, v: FloatBuffer, previous: FloatBuffer, vMax: FloatBuffer?
    public let state: [StateTensor]
    private enum Mode { case adaptive(stepSize: Float), momentum(stepSize: Float), none }
    private var mode = Mode.none

    public init(layout: ParameterLayout, beta1: Float, beta2: Float, epsilon: Float, amsBound: Bool = false,
                rectification: Rectification? = nil) {
        self.beta1 = beta1; self.beta2 = beta2; self.epsilon = epsilon
        self.rectification = rectification
        let allocator = StateAllocator(prefix: "diffgrad")
        m = allocator.like(layout, "m")
        v = allocator.like(layout, "v")
        previous = allocator.like(layout, "previous_gradient")
        vMax = amsBound ? allocator.like(layout, "max_exp_avg_sq") : nil
        state = allocator.tensors
    }

    public func prepare(context: StepContext) {
        let t = Double(context.step), b2 = Double(beta2)
        let c1 = 1 - pow(Double(beta1), t), c2 = 1 - pow(b2, t)
        guard let rectification else {
            mode = .adaptive(stepSize: Float(c2.squareRoot() / c1))
            return
        }
        let smaMax = 2 / (1 - b2) - 1, beta2t = pow(b2, t)
        let sma = smaMax - 2 * t * beta2t / (1 - beta2t)
        if sma >= Double(rectification.threshold) {
            let rt = ((1 - beta2t) * (sma - 4) / (smaMax - 4) * (sma - 2) / sma * smaMax / (smaMax - 2)).squareRoot()
            mode = .adaptive(stepSize: Float(rt / c1))
        } else {
            mode = rectification.degeneratesToSGD ? .momentum(stepSize: Float(1 / c1)) : .none
        }
    }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        let u = buffers.updates, m = m.baseAddress, v = v.baseAddress, previous = previous.baseAddress
        let maxima = vMax?.baseAddress, b1 = beta1, b2 = beta2
        for i in range {
            let g = u[i]
            m[i] = Moments.interpolate(m[i], toward: g, weight: 1 - b1)
            v[i] = Moments.averageOfSquares(v[i], g, beta: b2, weight: 1 - b2)
            let denominator = amsBoundDenominator(v[i], maxima, i, epsilon: epsilon)
            let friction = 1 / (1 + exp(-abs(previous[i] - g)))
            previous[i] = g
            switch mode {
            case .adaptive(let stepSize): u[i] = stepSize * (friction * m[i] / denominator)
            case .momentum(let stepSize): u[i] = stepSize * m[i]
            case .none: u[i] = 0
            }
        }
    }
}
