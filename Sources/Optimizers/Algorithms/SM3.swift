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
            for axis in 0..<rank { for k in 0..<shape[axis] { fresh[offsets[axis] + k] = -.infinity } }
            let g = buffers.updates + slot.offset
            // Rows along the last axis: the other axes' accumulators are fixed within a row, so
            // their minimum is taken once and the row's largest ν goes back to them once.
            let width = shape[rank - 1], last = offsets[rank - 1]
            var position = [Int](repeating: 0, count: rank - 1)
            for rowStart in stride(from: 0, to: slot.count, by: width) {
                var outerMinimum = Float.infinity
                for axis in 0..<(rank - 1) { outerMinimum = min(outerMinimum, acc[offsets[axis] + position[axis]]) }
                let rowMaximum = sm3Row(g + rowStart, width: width, outerMinimum: outerMinimum,
                                        accumulators: acc + last, fresh: fresh + last)
                for axis in 0..<(rank - 1) {
                    let k = offsets[axis] + position[axis]
                    fresh[k] = max(fresh[k], rowMaximum)
                }
                // Next row: advance the other axes' indices like an odometer.
                var axis = rank - 2
                while axis >= 0 {
                    position[axis] += 1
                    if position[axis] < shape[axis] { break }
                    position[axis] = 0
                    axis -= 1
                }
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

    /// One row along the last axis: ν = β·min(outer, last-axis accumulator) + (1−β)g² (no β factor
    /// on the minimum when β = 0), g ← g/√(ν+ε), the last axis's fresh maxima updated; returns the
    /// row's largest ν. Four lanes at a time, since a scalar square root never vectorizes.
    private func sm3Row(_ g: UnsafeMutablePointer<Float>, width: Int, outerMinimum: Float,
                        accumulators: UnsafeMutablePointer<Float>, fresh: UnsafeMutablePointer<Float>) -> Float {
        let outer4 = SIMD4<Float>(repeating: outerMinimum), beta4 = SIMD4<Float>(repeating: beta)
        let keep4 = SIMD4<Float>(repeating: 1 - beta), epsilon4 = SIMD4<Float>(repeating: epsilon)
        var largest4 = SIMD4<Float>(repeating: -.infinity)
        var j = 0
        while j + 4 <= width {
            var smallest = VectorMath.minimum(outer4, VectorMath.load4(accumulators + j))
            if beta > 0 { smallest *= beta4 }
            let gradient = VectorMath.load4(g + j)
            let nu = smallest + keep4 * gradient * gradient
            largest4 = VectorMath.maximum(largest4, nu)
            VectorMath.store4(VectorMath.maximum(VectorMath.load4(fresh + j), nu), fresh + j)
            VectorMath.store4(gradient * (1 / VectorMath.squareRoot(nu + epsilon4)), g + j)
            j += 4
        }
        var largest = largest4.max()
        while j < width {
            var smallest = min(outerMinimum, accumulators[j])
            if beta > 0 { smallest *= beta }
            let nu = smallest + (1 - beta) * g[j] * g[j]
            largest = max(largest, nu)
            fresh[j] = max(fresh[j], nu)
            g[j] *= 1 / (nu + epsilon).squareRoot()
            j += 1
        }
        return largest
    }
}
