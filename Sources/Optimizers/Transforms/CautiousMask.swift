/// Cautious update masking (Liang et al., arXiv 2411.16085): keep only update coordinates whose
/// descent direction agrees in sign with the gradient, rescaled by numel/(kept + 1) so the
/// average magnitude is preserved. Applied to the final update u (descent direction −u).
public final class CautiousMask: GradientTransform {
    public let name = "cautious"
    public let scope = TransformScope.whole
    public let state: [StateTensor] = []
    public var needsOriginalGradients: Bool { true }
    /// Coordinates kept at the last step (for inspection and tests).
    public private(set) var lastKept = 0

    public init() {}

    /// The counts are summed over the shards, so the rescaling is the whole model's: any cut will do.
    public var shardRequirement: ShardRequirement { .rows }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        guard let g = buffers.originalGradients else { preconditionFailure("cautious mask needs the original gradient") }
        let u = buffers.updates
        var kept = 0
        for i in range {
            if -u[i] * g[i] > 0 { kept += 1 } else { u[i] = 0 }
        }
        let counts = context.statistics.sum([Double(range.count), Double(kept)])
        lastKept = Int(counts[1])
        let scale = Float(counts[0]) / Float(counts[1] + 1)
        for i in range { u[i] *= scale }
    }
}
