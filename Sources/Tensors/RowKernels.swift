import CKernels

/// Kernels over the rows of a matrix that a transformer applies per position: the causal softmax
/// of attention and LayerNorm, forward and backward.
///
/// They run in C (`CKernels`, optimized in every build configuration, one clone per vector width
/// chosen at load time) because a GPT applies them to every position of every layer, where plain
/// Swift loops, unvectorized reductions included, cost a tenth of the step. Each row's sums add
/// element i into lane i mod 8 and combine the lanes in one fixed order, with no fused multiply-add,
/// so a row's result is the same bits on every CPU and wherever the row sits in a batch.
public enum RowKernels {
    /// Row i of the t×t matrix at `p` becomes softmax over its first i + 1 entries; the rest become 0.
    @inlinable public static func causalSoftmax(_ p: UnsafeMutablePointer<Float>, positions t: Int) {
        bb_causal_softmax(p, t)
    }

    /// With P from `causalSoftmax` and g = dL/dP, sets g to dL/dS = P ⊙ (g − rowsum(P ⊙ g)) on and below
    /// the diagonal and 0 above it.
    @inlinable public static func causalSoftmaxBackward(weights p: UnsafePointer<Float>,
                                                        gradient g: UnsafeMutablePointer<Float>, positions t: Int) {
        bb_causal_softmax_backward(p, g, t)
    }

    /// LayerNorm of `rows` rows of `features`: y = (x − mean)·rstd·gamma + beta, rstd = 1/√(variance +
    /// epsilon), with (mean, rstd) of row r stored at statistics[2r], statistics[2r + 1].
    @inlinable public static func layerNorm(_ x: UnsafePointer<Float>, gamma: UnsafePointer<Float>,
                                            beta: UnsafePointer<Float>?, into y: UnsafeMutablePointer<Float>,
                                            statistics: UnsafeMutablePointer<Float>, rows: Int, features: Int,
                                            epsilon: Float) {
        guard rows > 0 else { return }
        bb_layer_norm(x, gamma, beta, y, statistics, rows, features, epsilon)
    }

    /// LayerNorm backward from `layerNorm`'s statistics: adds dL/dgamma and dL/dbeta (when given) over the
    /// rows and, when `inputGradient` is given, writes dx = rstd·(dy·gamma − mean(dy·gamma) − x̂·mean(dy·gamma·x̂)).
    @inlinable public static func layerNormBackward(
        _ x: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>, gamma: UnsafePointer<Float>,
        statistics: UnsafePointer<Float>, gammaGradient: UnsafeMutablePointer<Float>,
        betaGradient: UnsafeMutablePointer<Float>?, inputGradient dx: UnsafeMutablePointer<Float>?, rows: Int,
        features: Int
    ) {
        guard rows > 0 else { return }
        bb_layer_norm_backward(x, dy, gamma, statistics, gammaGradient, betaGradient, dx, rows, features)
    }
}
