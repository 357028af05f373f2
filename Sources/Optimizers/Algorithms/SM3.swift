import Tensors

/// SM3-II as pytorch_optimizer.SM3 computes it for dense gradients (Anil et al., arXiv 1901.11150):
/// one accumulator per axis; ν = β·min over axes of the accumulators + (1−β)g², each accumulator
/// ← max of ν over the other axes (max with the old value when β > 0); u = g/√(ν+ε), then momentum
/// m ← μm + (1−μ)u. The momentum buffer (a full parameter-sized tensor) exists only when μ > 0;
/// μ = 0 is the reference's default, leaving just one accumulator per axis.
public final class ScaleBySM3: GradientTransform {
    public let name = "sm3"
    public let scope = TransformScope.whole
    public let momentum: Float, beta: Float, epsilon: Float
    let layout: ParameterLayout
    /// Per slot: the shape seen (rank ≥ 1) and the offset of each axis's accumulator.
    private let shapes: [[Int]]
    private let accumulatorOffsets: [[Int]]
    let accumulators: FloatBuffer
    /// Nil when momentum is 0.
    let m: FloatBuffer?
    private let scratch: FloatBuffer
    public let state: [StateTensor]

    public init(layout: ParameterLayout, momentum: Float, beta: Float, epsilon: Float) {
        self.layout = layout
        self.momentum = momentum
        self.beta = beta
        self.epsilon = epsilon
        var shapes: [[Int]] = [], offsets: [[Int]] = []
        var total = 0
        for slot in layout.slots {
            let shape = slot.shape.isEmpty ? [1] : slot.shape
            shapes.append(shape)
            var axisOffsets: [Int] = []
            for size in shape { axisOffsets.append(total); total += size }
            offsets.append(axisOffsets)
        }
        self.shapes = shapes
        accumulatorOffsets = offsets
        let allocator = StateAllocator(prefix: "sm3")
        m = momentum > 0 ? allocator.like(layout, "momentum") : nil
        accumulators = allocator.buffer("accumulators", count: total)
        state = allocator.tensors
        scratch = FloatBuffer(count: total)
    }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        let acc = accumulators.baseAddress, fresh = scratch.baseAddress
        for (index, slot) in layout.slots.enumerated() {
            let shape = shapes[index], offsets = accumulatorOffsets[index], rank = shape.count
            var strides = [Int](repeating: 1, count: rank)
            for axis in stride(from: rank - 2, through: 0, by: -1) { strides[axis] = strides[axis + 1] * shape[axis + 1] }
            for axis in 0..<rank { for k in 0..<shape[axis] { fresh[offsets[axis] + k] = -.infinity } }
            let g = buffers.updates + slot.offset
            func nu(_ e: Int) -> Float {
                var smallest = Float.infinity
                for axis in 0..<rank { smallest = min(smallest, acc[offsets[axis] + (e / strides[axis]) % shape[axis]]) }
                if beta > 0 { smallest *= beta }
                return smallest + (1 - beta) * g[e] * g[e]
            }
            for e in 0..<slot.count {
                let value = nu(e)
                for axis in 0..<rank {
                    let k = offsets[axis] + (e / strides[axis]) % shape[axis]
                    fresh[k] = max(fresh[k], value)
                }
                // ν depends only on old accumulators, so it can be consumed right away.
                g[e] *= 1 / (value + epsilon).squareRoot()
            }
            for axis in 0..<rank {
                for k in offsets[axis]..<(offsets[axis] + shape[axis]) {
                    acc[k] = beta > 0 ? max(acc[k], fresh[k]) : fresh[k]
                }
            }
            if let m {
                let ms = m.baseAddress + slot.offset
                for e in 0..<slot.count {
                    ms[e] = momentum * ms[e] + (1 - momentum) * g[e]
                    g[e] = ms[e]
                }
            }
        }
    }
}
