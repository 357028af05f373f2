import Tensors

/// Clips the whole gradient to a maximum global L2 norm: g ← g·min(1, c/‖g‖) (Pascanu et al., arXiv 1211.5063).
public final class ClipByGlobalNorm: GradientTransform {
    public let name = "clip_norm"
    public let scope = TransformScope.whole
    public let state: [StateTensor] = []
    public let maxNorm: Float

    public init(maxNorm: Float) { self.maxNorm = maxNorm }

    /// A global norm is the root of the shards' summed squares: any cut will do.
    public var shardRequirement: ShardRequirement { .rows }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        let squares = context.statistics.sum(VectorMath.sumOfSquares(buffers.updates + range.lowerBound, range.count))
        let norm = Float(squares.squareRoot())
        guard norm > maxNorm else { return }
        let scale = maxNorm / norm, u = buffers.updates
        for i in range { u[i] *= scale }
    }
}
