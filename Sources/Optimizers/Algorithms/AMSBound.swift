/// pytorch_optimizer's Adam-family denominator (`apply_ams_bound`): √(v + 1e-15) + ε, or with
/// `ams_bound` √(v̂max + 1e-15) + ε where v̂max ← max(v̂max, v) is kept as state. The 1e-15 inside
/// the root is the library's, so a zero second moment stays finite without relying on ε.
@inline(__always)
func amsBoundDenominator(_ v: Float, _ vMax: UnsafeMutablePointer<Float>?, _ i: Int, epsilon: Float) -> Float {
    var second = v
    if let vMax {
        second = max(vMax[i], v)
        vMax[i] = second
    }
    return (second + 1e-15).squareRoot() + epsilon
}
