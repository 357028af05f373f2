import Tensors

/// Soft clipping per output unit: g ← g·min(RMS(g), RMS(p))/RMS(g), both RMS floored at 1e-12,
/// so no unit's gradient is larger (in RMS) than its weights.
public final class SoftClip: GradientTransform {
    public let name = "soft_clip"
    public let scope = TransformScope.whole
    public let state: [StateTensor] = []
    let layout: ParameterLayout
    static let floor = 1e-12

    public init(layout: ParameterLayout) { self.layout = layout }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        var parameterSums: [Double] = [], gradientSums: [Double] = []
        for slot in layout.slots {
            let view = UnitView(slot), g = buffers.updates + slot.offset, fanIn = Double(slot.count / view.units)
            view.sumsOfSquares(buffers.parameters + slot.offset, into: &parameterSums)
            view.sumsOfSquares(g, into: &gradientSums)
            let scales = (0..<view.units).map { unit -> Float in
                let gradientRMS = max((gradientSums[unit] / fanIn).squareRoot(), SoftClip.floor)
                let parameterRMS = max((parameterSums[unit] / fanIn).squareRoot(), SoftClip.floor)
                return Float(min(gradientRMS, parameterRMS) / gradientRMS)
            }
            for e in 0..<slot.count { g[e] *= scales[view.unit(e)] }
        }
    }
}
