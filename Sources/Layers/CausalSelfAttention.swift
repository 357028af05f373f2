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
/// Every product is a few strided GEMMs straight on the `[T, 3C]` rows, one per causal block of rows
/// (`blockRows`), so nothing is copied into per-head layouts and the blocks wholly above the diagonal are
/// never computed. P is kept per sample and head for backward (B·H·T² floats). The attention
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

    /// Rows per causal block: rows r0 ..< r1 of S, P and dP only need columns 0 ..< r1, and columns
    /// c0 ..< c1 of the products with Pᵀ and dSᵀ only rows c0 ..< T, so blocks skip most of the masked
    /// half (a quarter of the attention products with two blocks of 64 for T = 128, three eighths with
    /// four of 32). Blocks of 32 keep each product large enough for the BLAS kernels.
    static let blockRows = 32

    /// The causal blocks of T positions: consecutive ranges of `blockRows`, the last one shorter.
    private var blocks: [Range<Int>] {
        stride(from: 0, to: positions, by: Self.blockRows).map { $0..<min($0 + Self.blockRows, positions) }
    }

    public func forward(_ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, batch: Int,
                        context: PassContext) {
        let t = positions, c = width, d = headSize, row = 3 * c
        let scale = 1 / Float(d).squareRoot()
        let blocks = blocks
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
                // S = q·kᵀ/√d on and left of each block's diagonal; the softmax zeroes the rest.
                for rows in blocks {
                    BLAS.gemm(transposeB: true, m: rows.count, n: rows.upperBound, k: d, alpha: scale,
                              a: q + rows.lowerBound * row, lda: row, b: k, ldb: row, c: p + rows.lowerBound * t, ldc: t)
                }
                RowKernels.causalSoftmax(p, positions: t)
                var used = UnsafePointer(p)
                if droppedOut {
                    let m = mask.pointer + (b * heads + h) * t * t, dropped = scratch.pointer
                    for i in 0..<(t * t) { dropped[i] = p[i] * m[i] }
                    used = UnsafePointer(dropped)
                }
                // y = P'·v
                let y = output + b * t * c + h * d
                for rows in blocks {
                    BLAS.gemm(m: rows.count, n: d, k: rows.upperBound, a: used + rows.lowerBound * t, lda: t, b: v,
                              ldb: row, c: y + rows.lowerBound * c, ldc: c)
                }
            }
        }
    }

    public func backward(input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                         inputGradient: UnsafeMutablePointer<Float>?, batch: Int, context: PassContext) {
        guard let inputGradient else { return }
        let t = positions, c = width, d = headSize, row = 3 * c
        let scale = 1 / Float(d).squareRoot()
        let blocks = blocks
        for b in 0..<batch {
            let sample = input + b * t * row, gradient = inputGradient + b * t * row
            for h in 0..<heads {
                let q = sample + h * d, k = q + c, v = q + 2 * c
                let dq = gradient + h * d, dk = dq + c, dv = dq + 2 * c
                let dy = outputGradient + b * t * c + h * d
                let p = weights.pointer + (b * heads + h) * t * t
                let dp = scratchGradient.pointer
                // dP' = dy·vᵀ on and left of each block's diagonal (the softmax backward reads no more).
                for rows in blocks {
                    BLAS.gemm(transposeB: true, m: rows.count, n: rows.upperBound, k: d, a: dy + rows.lowerBound * c,
                              lda: c, b: v, ldb: row, c: dp + rows.lowerBound * t, ldc: t)
                }
                var used = UnsafePointer(p)
                if droppedOut {
                    let m = mask.pointer + (b * heads + h) * t * t, dropped = scratch.pointer
                    for i in 0..<(t * t) {
                        dropped[i] = p[i] * m[i]
                        dp[i] *= m[i]
                    }
                    used = UnsafePointer(dropped)
                }
                // dv = P'ᵀ·dy: column block c0 ..< c1 of P' is zero above row c0.
                for columns in blocks {
                    let below = t - columns.lowerBound
                    BLAS.gemm(transposeA: true, m: columns.count, n: d, k: below,
                              a: used + columns.lowerBound * t + columns.lowerBound, lda: t,
                              b: dy + columns.lowerBound * c, ldb: c, c: dv + columns.lowerBound * row, ldc: row)
                }
                // dS = P ⊙ (dP − rowsum(P ⊙ dP)), in place over dP; zero above the diagonal.
                RowKernels.causalSoftmaxBackward(weights: p, gradient: dp, positions: t)
                // dq = dS·k/√d and dk = dSᵀ·q/√d, over the same blocks as S and dv.
                for rows in blocks {
                    BLAS.gemm(m: rows.count, n: d, k: rows.upperBound, alpha: scale, a: dp + rows.lowerBound * t,
                              lda: t, b: k, ldb: row, c: dq + rows.lowerBound * row, ldc: row)
                }
                for columns in blocks {
                    let below = t - columns.lowerBound
                    BLAS.gemm(transposeA: true, m: columns.count, n: d, k: below, alpha: scale,
                              a: dp + columns.lowerBound * t + columns.lowerBound, lda: t,
                              b: q + columns.lowerBound * row, ldb: row, c: dk + columns.lowerBound * row, ldc: row)
                }
            }
        }
    }

    public func flops(inputGradient: Bool) -> (forward: Double, backward: Double) {
        // Two T×T×d products per head forward, four backward (as PyTorch counts, the mask not discounted).
        let product = 2 * Double(positions * positions * headSize * heads)
        return (2 * product, inputGradient ? 4 * product : 0)
    }
}
