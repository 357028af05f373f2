import Tensors

/// Gradient centralization (Yong et al., arXiv 2004.01461): for tensors of rank ≥ 2, subtract from
/// each output unit's gradient its mean over the unit's other axes.
public final class GradientCentralization: GradientTransform {
    public let name = "centralize"
    public let scope = TransformScope.whole
    public let state: [StateTensor] = []
    let layout: ParameterLayout

    public init(layout: ParameterLayout) { self.layout = layout }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        for slot in layout.slots where slot.shape.count >= 2 {
            let view = UnitView(slot), g = buffers.updates + slot.offset
            var sums = [Double](repeating: 0, count: view.units)
            for e in 0..<slot.count { sums[view.unit(e)] += Double(g[e]) }
            let fanIn = Double(slot.count / view.units)
            let means = sums.map { Float($0 / fanIn) }
            for e in 0..<slot.count { g[e] -= means[view.unit(e)] }
        }
    }
}
