import Foundation
import Tensors

/// The core of GPT's causal multi-head self-attention: `[T, 3C]` (q, k, v side by side, as one
/// `c_attn` product gives them) → `[T, C]`, with no parameters of its own.
///
/// Per sample and head h (head size d = C / H, columns h·d ..< (h+1)·d of each of q, k, v):
///   S = q·kᵀ/√d, P = softmax(S) over the positions j ≤ i of row i (the causal mask), P' = dropout(P),
///   y = P'·v.
/// Backward, with dP' = dy·vᵀ and dP = dP' ⊙ mask:
///   dv = P'ᵀ·dy, dS = P ⊙ (dP − rowsum(P ⊙ dP)), dq = dS·k/√d, dk = dSᵀ·q/√d.
/// Every product is one strided GEMM straight on the `[T, 3C]` rows, so nothing is copied into
/// per-head layouts. P is kept per sample and head for backward (B·H·T² floats). The attention
/// dropout of a sample is keyed by (seed, step, global sample, `layerIndex`) over its H·T² weights,
/// like every other dropout, so any decomposition of the batch draws the same masks.
public final class CausalSelfAttention: Layer {
    public let name: String
    public let inputShape: [Int]
    public let outputShape: [Int]
    public let positions: Int
    public let width: Int
    public let heads: Int
    public let headSize: Int
    public let dropout: Float
    public let layerIndex: Int
    /// Softmax weights P of every sample and head in the last training or evaluation pass.
    private let weights = Workspace()
    /// Dropout multipliers of every sample and head, when dropout is on.
    private let mask = Workspace()
    /// One head's P' (forward) or dP' and dS (backward).
    private let scratch = Workspace()
    private let scratchGradient = Workspace()
    private var droppedOut = false

    public init(name: String, inputShape: [Int], heads: Int, dropout: Double = 0, layerIndex: Int) throws(ModelError) {
        let label = "\(name) (CausalSelfAttention)"
        guard inputShape.count == 2, inputShape[0] > 0, inputShape[1] > 0, inputShape[1] % 3 == 0 else {
            throw .inputShape(layer: label, expected: "[T, 3·C] (q, k, v)", found: inputShape)
        }
        let width = inputShape[1] / 3
        guard heads > 0, width % heads == 0 else {
            throw .invalidArgument(layer: label, reason: "width \(width) does not split into \(heads) heads")
        }
        guard dropout >= 0, dropout < 1 else {
            throw .invalidArgument(layer: label, reason: "dropout must be in [0, 1), got \(dropout)")
        }
        self.name = name
        self.inputShape = inputShape
        positions = inputShape[0]
        self.width = width
        self.heads = heads
        headSize = width / heads
        self.dropout = Float(dropout)
        self.layerIndex = layerIndex
        outputShape = [positions, width]
    }

    private var weightsPerSample: Int { heads * positions * positions }

    public var perSampleWorkspaceCount: Int { 2 * weightsPerSample }
    public var fixedWorkspaceCount: Int { 2 * positions * positions }

    public func reserve(batch: Int) {
        weights.reserve(batch * weightsPerSample)
        if dropout > 0 { mask.reserve(batch * weightsPerSample) }
        scratch.reserve(positions * positions)
        scratchGradient.reserve(positions * positions)
    }

    public func forward(_ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, batch: Int,
                        context: PassContext) {
        let t = positions, c = width, d = headSize, row = 3 * c
        let scale = 1 / Float(d).squareRoot()
        droppedOut = context.training && dropout > 0
        for b in 0..<batch {
            let sample = input + b * t * row
            if droppedOut, let indices = context.sampleIndices {
                Dropout.fillMask(mask.pointer + b * weightsPerSample, count: weightsPerSample, probability: dropout,
                                 seed: context.seed, step: context.step, sampleIndex: indices[b], layerIndex: layerIndex)
            }
            for h in 0..<heads {
                let q = sample + h * d, k = q + c, v = q + 2 * c
                let p = weights.pointer + (b * heads + h) * t * t
                BLAS.gemm(transposeB: true, m: t, n: t, k: d, alpha: scale, a: q, lda: row, b: k, ldb: row, c: p, ldc: t)
                Self.causalSoftmax(p, positions: t)
                var used = UnsafePointer(p)
                if droppedOut {
                    let m = mask.pointer + (b * heads + h) * t * t, dropped = scratch.pointer
                    for i in 0..<(t * t) { dropped[i] = p[i] * m[i] }
                    used = UnsafePointer(dropped)
                }
                BLAS.gemm(m: t, n: d, k: t, a: used, lda: t, b: v, ldb: row, c: output + b * t * c + h * d, ldc: c)
            }
        }
    }

    /// Row i of the T×T scores becomes softmax over its first i + 1 entries; the rest become 0.
    static func causalSoftmax(_ p: UnsafeMutablePointer<Float>, positions t: Int) {
        for i in 0..<t {
            let r = p + i * t
            let top = Elementwise.maximum(r, count: i + 1)
            let total = Elementwise.exponentials(r, minus: top, into: r, count: i + 1)
            VectorMath.scale(r, i + 1, by: 1 / total)
            if i + 1 < t { (r + i + 1).update(repeating: 0, count: t - i - 1) }
        }
    }

    public func backward(input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                         inputGradient: UnsafeMutablePointer<Float>?, batch: Int, context: PassContext) {
        guard let inputGradient else { return }
        let t = positions, c = width, d = headSize, row = 3 * c
        let scale = 1 / Float(d).squareRoot()
        for b in 0..<batch {
            let sample = input + b * t * row, gradient = inputGradient + b * t * row
            for h in 0..<heads {
                let q = sample + h * d, k = q + c, v = q + 2 * c
                let dq = gradient + h * d, dk = dq + c, dv = dq + 2 * c
                let dy = outputGradient + b * t * c + h * d
                let p = weights.pointer + (b * heads + h) * t * t
                let dp = scratchGradient.pointer
                // dP' = dy·vᵀ
                BLAS.gemm(transposeB: true, m: t, n: t, k: d, a: dy, lda: c, b: v, ldb: row, c: dp, ldc: t)
                var used = UnsafePointer(p)
                if droppedOut {
                    let m = mask.pointer + (b * heads + h) * t * t, dropped = scratch.pointer
                    for i in 0..<(t * t) {
                        dropped[i] = p[i] * m[i]
                        dp[i] *= m[i]
                    }
                    used = UnsafePointer(dropped)
                }
                // dv = P'ᵀ·dy
                BLAS.gemm(transposeA: true, m: t, n: d, k: t, a: used, lda: t, b: dy, ldb: c, c: dv, ldc: row)
                // dS = P ⊙ (dP − rowsum(P ⊙ dP)), in place over dP; zero above the diagonal.
                for i in 0..<t {
                    let pr = p + i * t, gr = dp + i * t
                    var dot: Float = 0
                    for j in 0...i { dot += pr[j] * gr[j] }
                    for j in 0...i { gr[j] = pr[j] * (gr[j] - dot) }
                    if i + 1 < t { (gr + i + 1).update(repeating: 0, count: t - i - 1) }
                }
                BLAS.gemm(m: t, n: d, k: t, alpha: scale, a: dp, lda: t, b: k, ldb: row, c: dq, ldc: row)
                BLAS.gemm(transposeA: true, m: t, n: d, k: t, alpha: scale, a: dp, lda: t, b: q, ldb: row, c: dk, ldc: row)
            }
        }
    }

    public func flops(inputGradient: Bool) -> (forward: Double, backward: Double) {
        // Two T×T×d products per head forward, four backward (as PyTorch counts, the mask not discounted).
        let product = 2 * Double(positions * positions * headSize * heads)
        return (2 * product, inputGradient ? 4 * product : 0)
    }
}
