import Foundation
import Tensors

/// Muon (Jordan et al. 2024; Liu et al., arXiv 2502.16982): tensors of rank ≥ 2 are seen as
/// (first axis) × (rest); momentum m ← μm + g, Nesterov direction g + μm, orthogonalized by five
/// quintic Newton–Schulz steps X ← aX + (bA + cA²)X, A = XXᵀ, (a, b, c) = (3.4445, −4.7750, 2.0315),
/// after X = G/(‖G‖_F + 1e-7), and scaled by √max(1, rows/cols). Decoupled decay: u += λp.
/// Every other tensor takes an AdamW branch with its own betas, ε, decay and rate (adamw_lr as a
/// fraction of lr, so the schedule applies to both). Produces the final (negated) update.
public final class Muon: GradientTransform {
    public let name = "muon"
    public let scope = TransformScope.whole
    public struct Settings: Sendable {
        public var momentum: Float = 0.95, nesterov = true, steps = 5, weightDecay: Float = 0
        public var adamBeta1: Float = 0.9, adamBeta2: Float = 0.95, adamEpsilon: Float = 1e-8
        public var adamWeightDecay: Float = 0, adamRateRatio: Float = 0.015
        public init() {}
    }
    public let settings: Settings
    let layout: ParameterLayout
    let momentumBuffer: FloatBuffer, m: FloatBuffer, v: FloatBuffer
    public let state: [StateTensor]
    private let x: FloatBuffer, a: FloatBuffer, b: FloatBuffer, y: FloatBuffer

    public static func usesMuon(_ slot: ParameterSlot) -> Bool { slot.shape.count >= 2 }

    public init(layout: ParameterLayout, settings: Settings) {
        self.layout = layout
        self.settings = settings
        let allocator = StateAllocator(prefix: "muon")
        momentumBuffer = allocator.like(layout, "momentum")
        m = allocator.like(layout, "adam_m")
        v = allocator.like(layout, "adam_v")
        state = allocator.tensors
        var largest = 1, square = 1
        for slot in layout.slots where Muon.usesMuon(slot) {
            largest = max(largest, slot.count)
            let short = min(slot.shape[0], slot.count / slot.shape[0])
            square = max(square, short * short)
        }
        x = FloatBuffer(count: largest)
        y = FloatBuffer(count: largest)
        a = FloatBuffer(count: square)
        b = FloatBuffer(count: square)
    }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        let s = settings, lr = context.learningRate
        for slot in layout.slots {
            let g = buffers.updates + slot.offset, p = buffers.parameters + slot.offset, n = slot.count
            if Muon.usesMuon(slot) {
                let buffer = momentumBuffer.baseAddress + slot.offset
                for i in 0..<n {
                    buffer[i] = s.momentum * buffer[i] + g[i]
                    g[i] = s.nesterov ? g[i] + s.momentum * buffer[i] : buffer[i]
                }
                let rows = slot.shape[0], columns = n / rows
                orthogonalize(g, rows: rows, columns: columns)
                let scale = -lr * max(1, Float(rows) / Float(columns)).squareRoot()
                let decay = -lr * s.weightDecay
                for i in 0..<n { g[i] = scale * g[i] + decay * p[i] }
            } else {
                let ms = m.baseAddress + slot.offset, vs = v.baseAddress + slot.offset
                let c1 = biasCorrection(s.adamBeta1, context.step), rootC2 = biasCorrection(s.adamBeta2, context.step).squareRoot()
                let rate = lr * s.adamRateRatio
                for i in 0..<n {
                    let gi = g[i]
                    ms[i] = s.adamBeta1 * ms[i] + (1 - s.adamBeta1) * gi
                    vs[i] = s.adamBeta2 * vs[i] + (1 - s.adamBeta2) * gi * gi
                    g[i] = -rate * ((ms[i] / c1) / (vs[i].squareRoot() / rootC2 + s.adamEpsilon) + s.adamWeightDecay * p[i])
                }
            }
        }
    }

    /// Replaces the rows×columns matrix `g` by its Newton–Schulz approximate orthogonalization.
    func orthogonalize(_ g: UnsafeMutablePointer<Float>, rows: Int, columns: Int) {
        let n = rows * columns
        let norm = Float(VectorMath.sumOfSquares(g, n).squareRoot()) + 1e-7
        let transposed = rows > columns
        let r = transposed ? columns : rows, c = transposed ? rows : columns
        let x = x.baseAddress, y = y.baseAddress, a = a.baseAddress, b = b.baseAddress
        if transposed {
            for i in 0..<rows { for j in 0..<columns { x[j * rows + i] = g[i * columns + j] / norm } }
        } else {
            for i in 0..<n { x[i] = g[i] / norm }
        }
        let (ca, cb, cc): (Float, Float, Float) = (3.4445, -4.7750, 2.0315)
        for _ in 0..<settings.steps {
            BLAS.gemm(transposeB: true, m: r, n: r, k: c, a: x, b: x, c: a)        // A = X Xᵀ
            for i in 0..<(r * r) { b[i] = cb * a[i] }
            BLAS.gemm(m: r, n: r, k: r, alpha: cc, a: a, b: a, beta: 1, c: b)        // B = bA + cA²
            BLAS.gemm(m: r, n: c, k: r, a: b, b: x, c: y)                              // Y = B X
            for i in 0..<n { x[i] = ca * x[i] + y[i] }
        }
        if transposed {
            for i in 0..<rows { for j in 0..<columns { g[i * columns + j] = x[j * rows + i] } }
        } else {
            for i in 0..<n { g[i] = x[i] }
        }
    }
}
