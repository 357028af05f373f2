import Tensors

/// Unit-wise adaptive gradient clipping (Brock et al., arXiv 2102.06171): for each output unit,
/// g ← g·λ·max(‖p‖, ε)/‖g‖ when ‖g‖ > λ·max(‖p‖, ε). Defaults λ = 0.01, ε = 1e-3.
public final class AdaptiveGradientClipping: GradientTransform {
    public let name = "agc"
    public let scope = TransformScope.whole
    public let state: [StateTensor] = []
    public let clipping: Float, epsilon: Float
    let layout: ParameterLayout

    public init(layout: ParameterLayout, clipping: Float, epsilon: Float) {
        self.layout = layout
        self.clipping = clipping
        self.epsilon = epsilon
    }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        var parameterNorms: [Double] = [], gradientNorms: [Double] = []
        for slot in layout.slots {
            let view = UnitView(slot), g = buffers.updates + slot.offset
            view.sumsOfSquares(buffers.parameters + slot.offset, into: &parameterNorms)
            view.sumsOfSquares(g, into: &gradientNorms)
            let scales = (0..<view.units).map { unit -> Float in
                let limit = clipping * max(Float(parameterNorms[unit].squareRoot()), epsilon)
                let norm = Float(gradientNorms[unit].squareRoot())
                return norm > limit ? limit / norm : 1
            }
            for e in 0..<slot.count { g[e] *= scales[view.unit(e)] }
        }
    }
}
