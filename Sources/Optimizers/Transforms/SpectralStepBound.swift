import Configuration
import Tensors

/// Bounds each weight matrix's step by its spectral norm, after any optimizer, in update space
/// (u = the step the chain adds, −lr·d and decay included): where σ₁(u) > τ·σ₁(W) the update is
/// scaled by τ·σ₁(W)/σ₁(u), so σ₁(ΔW_t) ≤ τ·σ₁(W_{t−1}) at every step.
///
/// This is the rule of AdamW² (Qi et al., "Taming Transformer Without Using Learning Rate Warmup",
/// ICLR 2025, arXiv 2505.21910): when the ratio σ₁(∇W_t)/σ₁(W_{t−1}) of the updating quantity to
/// the weights exceeds a threshold, the learning rate is bounded, α_t ≤ τ·σ₁(W_{t−1})/σ₁(∇W_t).
/// By Weyl's inequality σ₁(W + ΔW) ≤ σ₁(W) + σ₁(ΔW), so no single step can grow a matrix's top
/// singular value by more than the factor 1 + τ — the authors' remedy for the spectral energy
/// concentration of W_qᵀW_k that makes attention collapse and training crash without warm-up.
/// Scaling the whole step is bounding α_t: it multiplies the adaptive direction and the decoupled
/// decay alike, as AdamW's α does.
///
/// σ₁ is estimated by power iteration on AᵀA from the previous step's right singular vector (one
/// per matrix for W and one for u, kept as state, so a resume continues them): W changes little per
/// step by construction, and Adam's update direction little under its momentum, so a few
/// iterations per step suffice; a cold start (first step) runs `coldIterations`. The estimate
/// ‖A v‖ with ‖v‖ = 1 never exceeds σ₁. Tensors of rank ≥ 2 are matrices (rows = first axis, the
/// other axes flattened, so a convolution's kernel is [out, in·kh·kw]); vectors (biases, norm
/// weights) and matrices whose weights are all zero (σ₁(W) = 0, which would freeze them) are left
/// alone. The loops are plain, fixed-order SIMD code, so the bits do not depend on threads, on the
/// tensor's place in the buffer, or on the rank that owns it.
public final class SpectralStepBound: GradientTransform {
    public let name = "spectral_bound"
    public let scope = TransformScope.whole
    public let state: [StateTensor]
    /// The largest allowed σ₁(ΔW)/σ₁(W) per step.
    public let threshold: Float
    /// Power iterations per step once warm.
    public let iterations: Int
    /// Power iterations when a matrix's vector has not been started yet.
    public static let coldIterations = 10
    let layout: ParameterLayout
    let matrices: [Matrix]
    let weightVectors: FloatBuffer, updateVectors: FloatBuffer
    private let scratch: FloatBuffer
    /// Each matrix's scale on the last step: 1 where the bound did not bite (read by tests).
    public private(set) var lastScales: [Float]

    struct Matrix {
        let slot: ParameterSlot
        let rows: Int, columns: Int
        /// Offset of the matrix's singular vectors in the vector buffers.
        let vectorOffset: Int
    }

    /// The bound `section` configures (`threshold`, `power_iterations`), as the `spectral_bound`
    /// transform and AdamW² read it.
    static func read(_ section: ConfigSection, layout: ParameterLayout, prefix: String = "spectral_bound") throws(ConfigError)
        -> SpectralStepBound
    {
        SpectralStepBound(layout: layout, threshold: Float(try section.positive("threshold", default: AdamW2.defaultThreshold)),
                          iterations: try section.int("power_iterations", default: AdamW2.defaultIterations, range: 1...100),
                          prefix: prefix)
    }

    public init(layout: ParameterLayout, threshold: Float, iterations: Int = 1, prefix: String = "spectral_bound") {
        precondition(threshold > 0 && iterations >= 1, "threshold \(threshold), iterations \(iterations)")
        self.layout = layout
        self.threshold = threshold
        self.iterations = iterations
        var matrices: [Matrix] = [], offset = 0, widest = 0
        for slot in layout.slots where slot.shape.count >= 2 && slot.count > 0 {
            let rows = slot.shape[0], columns = slot.count / rows
            matrices.append(Matrix(slot: slot, rows: rows, columns: columns, vectorOffset: offset))
            offset += columns
            widest = max(widest, rows + columns)
        }
        self.matrices = matrices
        let allocator = StateAllocator(prefix: prefix)
        weightVectors = allocator.buffer("weight_vectors", count: offset)
        updateVectors = allocator.buffer("update_vectors", count: offset)
        state = allocator.tensors
        scratch = FloatBuffer(count: widest)
        lastScales = Array(repeating: 1, count: matrices.count)
    }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        for (index, matrix) in matrices.enumerated() {
            let weights = buffers.parameters + matrix.slot.offset, update = buffers.updates + matrix.slot.offset
            let weightNorm = Self.topSingularValue(UnsafePointer(weights), rows: matrix.rows, columns: matrix.columns,
                                                   vector: weightVectors.baseAddress + matrix.vectorOffset,
                                                   iterations: iterations, scratch: scratch.baseAddress)
            let updateNorm = Self.topSingularValue(UnsafePointer(update), rows: matrix.rows, columns: matrix.columns,
                                                   vector: updateVectors.baseAddress + matrix.vectorOffset,
                                                   iterations: iterations, scratch: scratch.baseAddress)
            var scale: Float = 1
            if weightNorm > 0 && updateNorm > threshold * weightNorm { scale = threshold * weightNorm / updateNorm }
            lastScales[index] = scale
            if scale < 1 { VectorMath.scale(update, matrix.slot.count, by: scale) }
        }
    }

    /// σ₁ of the row-major `rows`×`columns` matrix `a`, estimated as ‖A v‖ after `iterations` steps
    /// v ← AᵀA v/‖AᵀA v‖ from the unit vector `vector` (updated in place; an all-zero one is first
    /// set to a fixed pseudo-random unit vector and given `coldIterations`; a matrix whose product
    /// with it is 0 leaves it as it was and gives 0). `scratch` holds `rows + columns`.
    public static func topSingularValue(_ a: UnsafePointer<Float>, rows: Int, columns: Int,
                                        vector v: UnsafeMutablePointer<Float>, iterations: Int,
                                        scratch x: UnsafeMutablePointer<Float>) -> Float {
        var steps = iterations
        if VectorMath.sumOfSquares(UnsafePointer(v), columns) == 0 {
            // A fixed start that depends on the width alone, never on where the matrix sits.
            let random = KeyedRandom(0x5350_4543_5452_414C, UInt64(columns))
            for j in 0..<columns { v[j] = random.uniform(j) - 0.5 }
            normalize(v, into: v, columns)
            steps = max(iterations, coldIterations)
        }
        let y = x + rows
        for _ in 0..<steps {
            multiply(a, rows: rows, columns: columns, v, into: x)
            multiplyTransposed(a, rows: rows, columns: columns, x, into: y)
            guard normalize(y, into: v, columns) else { return 0 }
        }
        multiply(a, rows: rows, columns: columns, v, into: x)
        return Float(VectorMath.norm(UnsafePointer(x), rows))
    }

    /// v ← x/‖x‖ (x may be v); false, v untouched, where ‖x‖ is 0 or not finite.
    @discardableResult
    static func normalize(_ x: UnsafeMutablePointer<Float>, into v: UnsafeMutablePointer<Float>, _ n: Int) -> Bool {
        let norm = VectorMath.norm(UnsafePointer(x), n)
        guard norm > 0 && norm.isFinite else { return false }
        let factor = Float(1 / norm)
        for j in 0..<n { v[j] = x[j] * factor }
        return true
    }

    /// x = A v, each row's dot product in eight fixed lanes.
    static func multiply(_ a: UnsafePointer<Float>, rows: Int, columns: Int, _ v: UnsafePointer<Float>,
                         into x: UnsafeMutablePointer<Float>) {
        let wide = columns & ~7
        for i in 0..<rows {
            let row = a + i * columns
            var lanes = SIMD8<Float>()
            var j = 0
            while j < wide {
                lanes += VectorMath.load8(row + j) * VectorMath.load8(v + j)
                j += 8
            }
            var sum = lanes.sum()
            while j < columns { sum += row[j] * v[j]; j += 1 }
            x[i] = sum
        }
    }

    /// y = Aᵀ x, accumulated row by row in order.
    static func multiplyTransposed(_ a: UnsafePointer<Float>, rows: Int, columns: Int, _ x: UnsafeMutablePointer<Float>,
                                   into y: UnsafeMutablePointer<Float>) {
        y.update(repeating: 0, count: columns)
        for i in 0..<rows {
            let row = a + i * columns, xi = x[i]
            for j in 0..<columns { y[j] += xi * row[j] }
        }
    }
}
