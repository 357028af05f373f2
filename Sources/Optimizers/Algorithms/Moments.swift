/// The moment recurrences of the Adam family, written once: every transform that keeps an
/// exponential average of the gradient or of its square updates it through these (Adam and the
/// fused AdamW step, LAMB's and Muon's Adam, NAdam, AdaNorm, diffGrad, PNM and AdaPNM, Adam-atan2,
/// SAdam, AdaMomentum, AdaLo, AM-AdamW, nSGDA, SMMF's first moment, Muon's momentum). SMMF's factored second
/// moment alone keeps its own line: β₂ multiplies the row factor before the column factor.
///
/// Two forms of the same average exist because the reference libraries write both, and they round
/// differently: `average` is `a.mul_(β).add_(x, alpha=w)` (torch.optim's second moments, most of
/// pytorch_optimizer), `interpolate` is `a.lerp_(x, w)` with torch's rounding (torch.optim's first
/// moments, pytorch_optimizer's AdaNorm, diffGrad, PNM, Muon). Each algorithm uses its reference's
/// form, so it reproduces that trajectory to rounding.
enum Moments {
    /// a ← β·a + w·x (w = 1 − β, or LAMB's β₃ without `grad_averaging`).
    @inline(__always)
    static func average(_ a: Float, _ x: Float, beta: Float, weight: Float) -> Float { beta * a + weight * x }

    @inline(__always)
    static func average(_ a: SIMD4<Float>, _ x: SIMD4<Float>, beta: SIMD4<Float>, weight: SIMD4<Float>) -> SIMD4<Float> {
        beta * a + weight * x
    }

    /// The second moment v ← β·v + w·g² (rounded as (w·g)·g, as `addcmul_(g, g, value=w)`).
    @inline(__always)
    static func averageOfSquares(_ v: Float, _ g: Float, beta: Float, weight: Float) -> Float { beta * v + weight * g * g }

    @inline(__always)
    static func averageOfSquares(_ v: SIMD4<Float>, _ g: SIMD4<Float>, beta: SIMD4<Float>, weight: SIMD4<Float>) -> SIMD4<Float> {
        beta * v + weight * g * g
    }

    /// a ← a + w·(x − a) with torch.lerp's rounding: for w ≥ ½ it computes x − (x − a)(1 − w).
    @inline(__always)
    static func interpolate(_ a: Float, toward x: Float, weight: Float) -> Float {
        weight < 0.5 ? a + weight * (x - a) : x - (x - a) * (1 - weight)
    }
}
