import Foundation
import Tensors

/// Normalized SGD with averaged momentum (nSGDA; Cutkosky & Mehta, arXiv 2002.03305): m ← μm + (1−μ)g;
/// c = 1 − μᵗ; p ← p − η·m/(c·(‖m/c‖₂ + ε)), norm per tensor. The catalogue's `nsgda` puts the
/// coupled decay g ← g + λp before it (`WeightDecay`).
public final class NSGDA: GradientTransform {
    public let name = "nsgda"
    public let scope = TransformScope.whole
    public let momentum: Float, epsilon: Float
    let layout: ParameterLayout
    let m: FloatBuffer
    public let state: [StateTensor]

    public init(layout: ParameterLayout, momentum: Float, epsilon: Float) {
        self.layout = layout
        self.momentum = momentum
        self.epsilon = epsilon
        let allocator = StateAllocator(prefix: "nsgda")
        m = allocator.like(layout, "m")
        state = allocator.tensors
    }

    /// Per-tensor norms are summed over shards that cut a tensor: any cut will do.
    public var shardRequirement: ShardRequirement { .rows }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        let correction = Float(1 - pow(Double(momentum), Double(context.step)))
        let mu = momentum
        let squares = context.statistics.perTensor(layout, count: 1) { slot in
            let g = buffers.updates + slot.offset
            let ms = m.baseAddress + slot.offset, n = slot.count
            for i in 0..<n { ms[i] = Moments.average(ms[i], g[i], beta: mu, weight: 1 - mu) }
            return [VectorMath.sumOfSquares(ms, n)]
        }
        for (slot, sums) in zip(layout.slots, squares) {
            let g = buffers.updates + slot.offset, ms = m.baseAddress + slot.offset
            let norm = Float(sums[0].squareRoot()) / correction
            let scale = -context.learningRate / (correction * (norm + epsilon))
            for i in 0..<slot.count { g[i] = scale * ms[i] }
        }
    }
}
