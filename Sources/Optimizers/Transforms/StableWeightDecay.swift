import Foundation
import Tensors

/// Stable weight decay (Xie et al., arXiv 2011.11152): decoupled decay divided by √mean(v̂), the
/// root of the bias-corrected mean second moment, u ← u − lr·λ·p/√mean(v̂). The mean of an EMA is
/// the EMA of the mean, so one scalar v̄ ← β₂v̄ + (1−β₂)·mean(g²) suffices.
public final class StableWeightDecay: GradientTransform {
    public let name = "swd"
    public let scope = TransformScope.whole
    public var needsOriginalGradients: Bool { true }
    public let weightDecay: Float, beta2: Float, epsilon: Float
    let meanSquare: FloatBuffer
    public let state: [StateTensor]

    public init(weightDecay: Float, beta2: Float, epsilon: Float) {
        self.weightDecay = weightDecay
        self.beta2 = beta2
        self.epsilon = epsilon
        let allocator = StateAllocator(prefix: "swd")
        meanSquare = allocator.scalar("mean_v")
        state = allocator.tensors
    }

    /// The mean of g² is the shards' summed squares over their summed counts: any cut will do.
    public var shardRequirement: ShardRequirement { .rows }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        guard let g = buffers.originalGradients else { preconditionFailure("swd needs the original gradient") }
        let sums = context.statistics.sum([VectorMath.sumOfSquares(g + range.lowerBound, range.count), Double(range.count)])
        let mean = sums[0] / max(sums[1], 1)
        let value = Double(beta2) * Double(meanSquare[0]) + (1 - Double(beta2)) * mean
        meanSquare[0] = Float(value)
        let corrected = value / (1 - pow(Double(beta2), Double(context.step)))
        let c = Float(Double(context.learningRate * weightDecay) / (corrected.squareRoot() + Double(epsilon)))
        let u = buffers.updates, p = buffers.parameters
        for i in range { u[i] -= c * p[i] }
    }
}
