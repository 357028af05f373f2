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

    /// Per-tensor norms are summed over shards that cut a tensor: any cut will do.
    public var shardRequirement: ShardRequirement { .rows }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        let squares = context.statistics.perTensor(layout, count: 1) { [VectorMath.sumOfSquares(buffers.updates + $0.offset, $0.count)] }
        for (slot, sums) in zip(layout.slots, squares) {
            let g = buffers.updates + slot.offset
            let scale = 1 / (Float(sums[0].squareRoot()) + epsilon)
            for e in 0..<slot.count { g[e] *= scale }
        }
    }
}
