import Foundation
import Tensors

/// Muon as pytorch_optimizer.Muon 4.1.0 computes it (Jordan et al. 2024; Liu et al., arXiv 2502.16982).
///
/// A parameter takes the Muon branch or an AdamW branch (`use_muon`, per parameter group; without it,
/// tensors of rank ≥ 2 take Muon and the rest AdamW, the split the library's docs recommend).
/// Muon branch (`ScaleByMuon`), the tensor seen as (first axis) × (rest): momentum b ← b + (1−μ)(g − b),
/// the Nesterov direction g + μ(b − g) (else b), orthogonalized by quintic Newton–Schulz steps
/// X ← aX + (bA + cA²)X, A = XXᵀ, after X = G/max(‖G‖_F, 1e-7), each step its own (a, b, c) from the
/// `ns_coeffs` schedule (the last one repeated); step size lr·√max(1, rows/cols), or Moonlight's
/// 0.2·√max(rows, cols)·lr with `use_adjusted_lr`. AdamW branch: the library's transforms, Adam's
/// moments (`ScaleByAdam`) → decay → −lr, at the rate `adamw_lr`. Both decay decoupled,
/// p ← p(1 − lr·λ), or coupled, g ← g + λp, without `weight_decouple`. The reference iterates in
/// bfloat16 on accelerators; this runs in float32 (its reference trajectories were made so too).
///
/// Assembled as the two branches joined by the partition combinator that parameter groups use
/// (`ParameterPartition`): each branch keeps state for its own tensors only (the momentum for the
/// matrices, m and v for the rest), and the AdamW branch runs at its rate over the scheduled one.
public enum Muon {
    public struct Settings: Sendable {
        public var momentum: Float = 0.95, nesterov = true, steps = 5, weightDecay: Float = 0
        public var weightDecouple = true, adjustedRate = false
        /// Newton–Schulz (a, b, c) per iteration; iteration i uses entry min(i, count − 1).
        public var coefficients: [(Float, Float, Float)] = [(3.4445, -4.7750, 2.0315)]
        /// Which branch every parameter takes; nil: Muon for rank ≥ 2, AdamW otherwise.
        public var useMuon: Bool?
        public var adamBeta1: Float = 0.9, adamBeta2: Float = 0.95, adamEpsilon: Float = 1e-10
        public var adamWeightDecay: Float = 0
        /// The AdamW branch's rate over the scheduled one (adamw_lr / lr; 1 in a `use_muon: false` group).
        public var adamRateRatio: Float = 0.015
        public init() {}
    }

    /// Whether `slot` takes the Muon branch.
    public static func usesMuon(_ slot: ParameterSlot, _ settings: Settings) -> Bool {
        !slot.shape.isEmpty && (settings.useMuon ?? (slot.shape.count >= 2))
    }

    /// The branch `useMuon` names for every tensor of `layout`, or (nil) both, partitioned.
    static func transforms(layout: ParameterLayout, settings: Settings) -> [any GradientTransform] {
        switch settings.useMuon {
        case true?: return [ScaleByMuon(layout: layout, settings: settings)]
        case false?: return adamBranch(layout: layout, settings: settings)
        case nil:
            return [ParameterPartition.splitting(layout, [
                .init(takes: { usesMuon($0, settings) }) { [ScaleByMuon(layout: $0, settings: settings)] },
                .init(rateFactor: Double(settings.adamRateRatio), takes: { _ in true }) { adamBranch(layout: $0, settings: settings) },
            ])]
        }
    }

    /// The AdamW branch: (coupled decay →) Adam's moments → (decoupled decay →) −lr.
    static func adamBranch(layout: ParameterLayout, settings s: Settings) -> [any GradientTransform] {
        let adam = ScaleByAdam(layout: layout, beta1: s.adamBeta1, beta2: s.adamBeta2, epsilon: s.adamEpsilon,
                               prefix: "muon_adamw")
        return WeightDecay.assembled([adam], weightDecay: s.adamWeightDecay, form: s.weightDecouple ? .decoupled : .coupled)
    }
}

/// Muon's branch for matrices (see `Muon`): momentum, Nesterov direction, Newton–Schulz
/// orthogonalization, the shape-dependent step size and the decay, as the final (negated) update.
public final class ScaleByMuon: GradientTransform {
    public let name = "muon"
    public let scope = TransformScope.whole
    public let settings: Muon.Settings
    let layout: ParameterLayout
    let momentumBuffer: FloatBuffer
    public let state: [StateTensor]
    private let x: FloatBuffer, a: FloatBuffer, b: FloatBuffer, y: FloatBuffer

    public init(layout: ParameterLayout, settings: Muon.Settings) {
        precondition(!layout.slots.contains { $0.shape.isEmpty }, "the Muon branch needs tensors of rank ≥ 1")
        self.layout = layout
        self.settings = settings
        let allocator = StateAllocator(prefix: "muon")
        momentumBuffer = allocator.like(layout, "momentum")
        state = allocator.tensors
        var largest = 1, square = 1
        for slot in layout.slots {
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
            if !s.weightDecouple { for i in 0..<n { g[i] += s.weightDecay * p[i] } }
            let buffer = momentumBuffer.baseAddress + slot.offset, keep = 1 - s.momentum
            for i in 0..<n {
                buffer[i] = Moments.interpolate(buffer[i], toward: g[i], weight: keep)
                g[i] = s.nesterov ? Moments.interpolate(g[i], toward: buffer[i], weight: s.momentum) : buffer[i]
            }
            let rows = slot.shape[0], columns = n / rows
            orthogonalize(g, rows: rows, columns: columns)
            let shapeFactor = s.adjustedRate ? 0.2 * Float(max(rows, columns)).squareRoot()
                                             : max(1, Float(rows) / Float(columns)).squareRoot()
            let scale = -lr * shapeFactor, decay = s.weightDecouple ? -lr * s.weightDecay : 0
            for i in 0..<n { g[i] = scale * g[i] + decay * p[i] }
        }
    }

    /// Replaces the rows×columns matrix `g` by its Newton–Schulz approximate orthogonalization.
    func orthogonalize(_ g: UnsafeMutablePointer<Float>, rows: Int, columns: Int) {
        let n = rows * columns
        let norm = max(Float(VectorMath.sumOfSquares(g, n).squareRoot()), 1e-7)
        let transposed = rows > columns
        let r = transposed ? columns : rows, c = transposed ? rows : columns
        let x = x.baseAddress, y = y.baseAddress, a = a.baseAddress, b = b.baseAddress
        if transposed {
            for i in 0..<rows { for j in 0..<columns { x[j * rows + i] = g[i * columns + j] / norm } }
        } else {
            for i in 0..<n { x[i] = g[i] / norm }
        }
        for step in 0..<settings.steps {
            let (ca, cb, cc) = settings.coefficients[min(step, settings.coefficients.count - 1)]
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
