import Tensors

/// Gradient normalization per tensor: g ← g/(‖g‖₂ + ε), making the step length independent of the
/// gradient scale (normalized gradient descent, e.g. Hazan et al., arXiv 1507.02030).
public final class GradientNormalization: GradientTransform {
    public let name = "normalize"
    public let scope = TransformScope.whole
    public let state: [StateTensor] = []
    public let epsilon: Float
    let layout: ParameterLayout

    public init(layout: ParameterLayout, epsilon: Float) {
        self.layout = layout
        self.epsilon = epsilon
    }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        for slot in layout.slots {
            let g = buffers.updates + slot.offset
            let scale = 1 / (Float(VectorMath.sumOfSquares(g, slot.count).squareRoot()) + epsilon)
            for e in 0..<slot.count { g[e] *= scale }
        }
    }
}
