import Foundation
import Tensors

/// Adaptive-memory momentum in its preconditioned (AM-AdamW) form, after Topollai & Choromanska,
/// "Adaptive Memory Momentum via a Model-Based Framework for Deep Learning Optimization", arXiv 2510.04988.
///
/// The paper replaces the constant momentum coefficient by one chosen online from a proximal step on a
/// model of the loss made of two planes through the current iterate: ℓ_g with the gradient's slope g
/// and ℓ_d with the memory's slope d (the previous direction). Its published direction update, which this
/// transform implements exactly, is
///
///     d ← ((β_t + λ)·d + (1 − β_t)·g) / (1 + λ),        x ← x − η·P⁻¹·d   (P = √v̂ + ε for AM-AdamW)
///
/// The closed form of β_t could not be read from the paper here, so it is re-derived from that model
/// (the derivation reproduces the update above exactly): minimising max(ℓ_g, ℓ_d) + ½η⁻¹‖x − x_t‖²_P +
/// ½λη⁻¹‖x − (x_t − ηP⁻¹d)‖²_P over x is, in the dual, minimising ‖(β + λ)d + (1 − β)g‖²_{P⁻¹} over
/// β ∈ [0, 1], whose solution is
///
///     β_t = clip( ⟨g + λd, g − d⟩_w / ‖g − d‖²_w , 0, 1 ),   w = 1/(√v̂ + ε) elementwise.
///
/// β_t = 1 (pure memory) once the gradient agrees with the memory at least as strongly as the memory
/// itself (⟨d, g⟩_w ≥ ‖d‖²_w); it falls towards 0 (fresh gradient) as they disagree. Choices made here:
/// - Both planes pass through (x_t, f(x_t)), so no loss value enters; the model is the paper's, the
///   intercepts are an assumption.
/// - β_t is computed per parameter tensor (as a per-parameter PyTorch loop would), not over the whole model.
/// - The memory starts at the first gradient (d₁ = g₁, as torch.optim's momentum buffers do), since an
///   all-zero memory plane would make β = 1 and freeze d at 0; no bias correction is then needed for d.
/// - v is Adam's second moment with its bias correction (β₂ = 0.999, ε = 1e-8 outside the root); the
///   inner products are taken in the same metric P⁻¹ that preconditions the step.
/// - λ ≥ 0 (default 0, the plain two-plane model) keeps at least λ/(1+λ) of the memory every step.
/// - Degenerate step (g = d in the weighted norm): β_t = 1, which changes nothing since d = g.
public final class ScaleByAdaptiveMemory: GradientTransform {
    public let name = "amem"
    public let scope = TransformScope.whole
    public let beta2: Float, epsilon: Float, lambda: Float
    let layout: ParameterLayout
    let d: FloatBuffer, v: FloatBuffer
    public let state: [StateTensor]
    /// β_t chosen for each parameter tensor at the last step (layout order), for diagnostics.
    public private(set) var coefficients: [Float]

    public init(layout: ParameterLayout, beta2: Float, epsilon: Float, lambda: Float) {
        precondition(lambda >= 0, "lambda \(lambda) must be ≥ 0")
        self.layout = layout
        self.beta2 = beta2
        self.epsilon = epsilon
        self.lambda = lambda
        let allocator = StateAllocator(prefix: "amem")
        d = allocator.like(layout, "d")
        v = allocator.like(layout, "v")
        state = allocator.tensors
        coefficients = [Float](repeating: 0, count: layout.slots.count)
    }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        let inverseRoot2 = 1 / biasCorrection(beta2, context.step).squareRoot()
        let first = context.step == 1
        for (index, slot) in layout.slots.enumerated() {
            let slotRange = slot.range
            // Pass 1: second moment, and the two weighted inner products that fix β_t.
            let sums = ParallelChunks.sum(slotRange) { chunk in
                accumulate(buffers.updates, chunk, inverseRoot2: inverseRoot2)
            }
            let beta: Float
            if first {
                beta = 0
            } else if sums[1] > 0 {
                beta = Float(min(max(sums[0] / sums[1], 0), 1))
            } else {
                beta = 1
            }
            coefficients[index] = beta
            // Pass 2: the direction and the preconditioned update.
            let keep = first ? 0 : (beta + lambda) / (1 + lambda)
            let take = first ? 1 : (1 - beta) / (1 + lambda)
            ParallelChunks.forEachChunk(slotRange) { chunk in
                direct(buffers.updates, chunk, keep: keep, take: take, inverseRoot2: inverseRoot2)
            }
        }
    }

    /// v ← β₂v + (1−β₂)g² over `range`; returns (Σ w(g + λd)(g − d), Σ w(g − d)²) with w = 1/(√v̂ + ε).
    private func accumulate(_ u: UnsafeMutablePointer<Float>, _ range: Range<Int>, inverseRoot2: Float) -> SIMD2<Double> {
        typealias V = SIMD4<Float>
        let d = d.baseAddress, v = v.baseAddress
        let b2 = V(repeating: beta2), c2 = V(repeating: 1 - beta2), eps = V(repeating: epsilon)
        let root = V(repeating: inverseRoot2), lam = V(repeating: lambda)
        var total = SIMD2<Double>.zero
        var block = range.lowerBound
        while block < range.upperBound {
            // Float partial sums over at most 1024 elements, accumulated in Double.
            let end = min(range.upperBound, block + 1024)
            var numerator = V.zero, denominator = V.zero
            var i = block
            while i + 4 <= end {
                let g = UnsafeRawPointer(u + i).loadUnaligned(as: V.self)
                let di = UnsafeRawPointer(d + i).loadUnaligned(as: V.self)
                let vi = Moments.averageOfSquares(UnsafeRawPointer(v + i).loadUnaligned(as: V.self), g, beta: b2, weight: c2)
                UnsafeMutableRawPointer(v + i).storeBytes(of: vi, as: V.self)
                let w = 1 / (VectorMath.squareRoot(vi) * root + eps)
                let difference = g - di
                numerator += w * (g + lam * di) * difference
                denominator += w * difference * difference
                i += 4
            }
            var tailNumerator: Float = 0, tailDenominator: Float = 0
            while i < end {
                let g = u[i]
                let vi = Moments.averageOfSquares(v[i], g, beta: beta2, weight: 1 - beta2)
                v[i] = vi
                let w = 1 / (vi.squareRoot() * inverseRoot2 + epsilon)
                let difference = g - d[i]
                tailNumerator += w * (g + lambda * d[i]) * difference
                tailDenominator += w * difference * difference
                i += 1
            }
            total += SIMD2(Double(numerator.sum() + tailNumerator), Double(denominator.sum() + tailDenominator))
            block = end
        }
        return total
    }

    /// d ← keep·d + take·g and u ← d/(√v̂ + ε) over `range`.
    private func direct(_ u: UnsafeMutablePointer<Float>, _ range: Range<Int>, keep: Float, take: Float, inverseRoot2: Float) {
        typealias V = SIMD4<Float>
        let d = d.baseAddress, v = v.baseAddress
        let vKeep = V(repeating: keep), vTake = V(repeating: take)
        let eps = V(repeating: epsilon), root = V(repeating: inverseRoot2)
        var i = range.lowerBound
        while i + 4 <= range.upperBound {
            let di = vKeep * UnsafeRawPointer(d + i).loadUnaligned(as: V.self) + vTake * UnsafeRawPointer(u + i).loadUnaligned(as: V.self)
            let vi = UnsafeRawPointer(v + i).loadUnaligned(as: V.self)
            UnsafeMutableRawPointer(d + i).storeBytes(of: di, as: V.self)
            UnsafeMutableRawPointer(u + i).storeBytes(of: di / (VectorMath.squareRoot(vi) * root + eps), as: V.self)
            i += 4
        }
        while i < range.upperBound {
            let di = keep * d[i] + take * u[i]
            d[i] = di
            u[i] = di / (v[i].squareRoot() * inverseRoot2 + epsilon)
            i += 1
        }
    }
}
