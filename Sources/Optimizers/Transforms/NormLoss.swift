import Tensors

/// Norm Loss (Georgiou et al., arXiv 2104.06908): a soft constraint pulling each output unit's
/// weight vector to unit norm, applied decoupled: u ← u − lr·factor·(1 − 1/‖wᵢ‖)·wᵢ for tensors of
/// rank ≥ 2. Default factor 1e-4 (as in Ranger21).
public final class NormLoss: GradientTransform {
    public let name = "norm_loss"
    public let scope = TransformScope.whole
    public let state: [StateTensor] = []
    public let factor: Float
    let layout: ParameterLayout

    public init(layout: ParameterLayout, factor: Float) {
        self.layout = layout
        self.factor = factor
    }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        var sums: [Double] = []
        for slot in layout.slots where slot.shape.count >= 2 {
            let view = UnitView(slot), p = buffers.parameters + slot.offset, u = buffers.updates + slot.offset
            view.sumsOfSquares(p, into: &sums)
            let coefficients = sums.map { sum -> Float in
                let norm = Float(sum.squareRoot())
                return norm > 0 ? context.learningRate * factor * (1 - 1 / norm) : 0
            }
            for e in 0..<slot.count { u[e] -= coefficients[view.unit(e)] * p[e] }
        }
    }
}
