import Tensors

/// LARS/LAMB layer-wise trust ratio usable after any optimizer (You et al., arXiv 1708.03888,
/// 1904.00962) in update space (u = −lr·d): per tensor, u ← u·η·‖p‖/‖d‖ = u·η·lr·‖p‖/‖u‖ (unchanged
/// when either norm is 0), optionally skipping
/// tensors of rank < 2 (biases, norms) as LARS usually does.
public final class TrustRatio: GradientTransform {
    public let name = "trust_ratio"
    public let scope = TransformScope.whole
    public let state: [StateTensor] = []
    public let coefficient: Float
    public let skipVectors: Bool
    let layout: ParameterLayout

    public init(layout: ParameterLayout, coefficient: Float, skipVectors: Bool) {
        self.layout = layout
        self.coefficient = coefficient
        self.skipVectors = skipVectors
    }

    /// Per-tensor norms are summed over shards that cut a tensor: any cut will do.
    public var shardRequirement: ShardRequirement { .rows }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        let squares = context.statistics.perTensor(layout, count: 2) { slot in
            [VectorMath.sumOfSquares(buffers.parameters + slot.offset, slot.count),
             VectorMath.sumOfSquares(buffers.updates + slot.offset, slot.count)]
        }
        for (slot, sums) in zip(layout.slots, squares) where !(skipVectors && slot.shape.count < 2) {
            let u = buffers.updates + slot.offset
            let weightNorm = Float(sums[0].squareRoot())
            let updateNorm = Float(sums[1].squareRoot())
            guard weightNorm > 0 && updateNorm > 0 else { continue }
            let ratio = coefficient * context.learningRate * weightNorm / updateNorm
            for e in 0..<slot.count { u[e] *= ratio }
        }
    }
}
