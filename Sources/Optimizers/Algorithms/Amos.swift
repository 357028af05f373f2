import Foundation
import Tensors

/// Amos (Tian & Parikh, arXiv 2210.11693) as pytorch_optimizer.Amos: per tensor scalars
/// v̄ ← βv̄ + (1−β)·mean(g²) and a decay d; with η the learning rate, ξ = expected weight scale
/// (½ for vectors, √(2/fan_in) for matrices, √(1/size(1)) otherwise), r = (1−βᵗ)/(v̄ + ε),
/// γ = η²·r·mean(g²)/√(1 + c√η·d): u = (p(γ − l2)/2 + ηξ√r·g)/(1 + d_c√(ηξ)·d), then d ← d(1+γ) + γ;
/// optional momentum on u. This produces the final (negated) update.
public final class Amos: GradientTransform {
    public let name = "amos"
    public let scope = TransformScope.whole
    public let beta: Float, momentum: Float, extraL2: Float, cCoefficient: Float, dCoefficient: Float, epsilon: Float
    let layout: ParameterLayout
    let v: FloatBuffer, decay: FloatBuffer, m: FloatBuffer?
    public let state: [StateTensor]

    public init(layout: ParameterLayout, beta: Float, momentum: Float, extraL2: Float, cCoefficient: Float,
                dCoefficient: Float, epsilon: Float) {
        self.layout = layout
        self.beta = beta; self.momentum = momentum; self.extraL2 = extraL2
        self.cCoefficient = cCoefficient; self.dCoefficient = dCoefficient; self.epsilon = epsilon
        let allocator = StateAllocator(prefix: "amos")
        v = allocator.buffer("exp_avg_sq", count: layout.slots.count)
        decay = allocator.buffer("decay", count: layout.slots.count)
        m = momentum > 0 ? allocator.like(layout, "exp_avg") : nil
        state = allocator.tensors
    }

    static func expectedScale(_ shape: [Int]) -> Double {
        switch shape.count {
        case 0, 1: return 0.5
        case 2: return (2 / Double(shape[1])).squareRoot()
        default: return (1 / Double(shape[1])).squareRoot()
        }
    }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        let lr = Double(context.learningRate)
        let correction = 1 - pow(Double(beta), Double(context.step))
        for (index, slot) in layout.slots.enumerated() {
            let g = buffers.updates + slot.offset, p = buffers.parameters + slot.offset, n = slot.count
            let g2 = VectorMath.sumOfSquares(g, n) / Double(n)
            let initialRate = lr * Amos.expectedScale(slot.shape)
            let vi = Double(beta) * Double(v[index]) + (1 - Double(beta)) * g2
            v[index] = Float(vi)
            let r = correction / (vi + Double(epsilon))
            let d = Double(decay[index])
            let factorC = 1 / (1 + Double(cCoefficient) * lr.squareRoot() * d).squareRoot()
            let factorD = 1 / (1 + Double(dCoefficient) * initialRate.squareRoot() * d)
            let gamma = factorC * lr * lr * r * g2
            decay[index] = Float(d * (1 + gamma) + gamma)
            let a = Float((gamma - Double(extraL2)) / 2 * factorD), b = Float(initialRate * r.squareRoot() * factorD)
            for i in 0..<n { g[i] = a * p[i] + b * g[i] }
            if let m = m?.baseAddress {
                for i in 0..<n {
                    m[slot.offset + i] = momentum * m[slot.offset + i] + (1 - momentum) * g[i]
                    g[i] = m[slot.offset + i]
                }
            }
            for i in 0..<n { g[i] = -g[i] }
        }
    }
}
