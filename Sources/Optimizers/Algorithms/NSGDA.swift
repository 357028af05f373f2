import Foundation
import Tensors

/// Normalized SGD with averaged momentum (nSGDA; Cutkosky & Mehta, arXiv 2002.03305, with coupled
/// decay): g ← g + λp; m ← μm + (1−μ)g; c = 1 − μᵗ; p ← p − η·m/(c·(‖m/c‖₂ + ε)), norm per tensor.
public final class NSGDA: GradientTransform {
    public let name = "nsgda"
    public let scope = TransformScope.whole
    public let momentum: Float, epsilon: Float, weightDecay: Float
    let layout: ParameterLayout
    let m: FloatBuffer
    public let state: [StateTensor]

    public init(layout: ParameterLayout, momentum: Float, epsilon: Float, weightDecay: Float) {
        self.layout = layout
        self.momentum = momentum
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        let allocator = StateAllocator(prefix: "nsgda")
        m = allocator.like(layout, "m")
        state = allocator.tensors
    }

    /// Per-tensor norms are summed over shards that cut a tensor: any cut will do.
    public var shardRequirement: ShardRequirement { .rows }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        let correction = Float(1 - pow(Double(momentum), Double(context.step)))
        let mu = momentum, wd = weightDecay
        let squares = context.statistics.perTensor(layout, count: 1) { slot in
            let g = buffers.updates + slot.offset, p = buffers.parameters + slot.offset
            let ms = m.baseAddress + slot.offset, n = slot.count
            for i in 0..<n { ms[i] = mu * ms[i] + (1 - mu) * (g[i] + wd * p[i]) }
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
