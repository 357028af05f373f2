import Tensors

/// Adam's first and second moment estimates over the whole layout, with their bias corrections.
///
/// Shared by the Adam variants that differ only in how they turn m̂ and v̂ into an update
/// (Adam-atan2, SAdam, diffGrad), so the moment recurrences live in one place.
struct AdamMoments {
    let beta1: Float, beta2: Float
    let m: FloatBuffer, v: FloatBuffer
    private var c1: Float = 1, c2: Float = 1

    /// Allocates `m` and `v` (in that order) through the transform's allocator.
    init(layout: ParameterLayout, beta1: Float, beta2: Float, allocator: StateAllocator) {
        self.beta1 = beta1
        self.beta2 = beta2
        m = allocator.like(layout, "m")
        v = allocator.like(layout, "v")
    }

    /// The corrections 1 − β₁ᵗ and 1 − β₂ᵗ for this step.
    mutating func prepare(step: Int) {
        c1 = biasCorrection(beta1, step)
        c2 = biasCorrection(beta2, step)
    }

    /// Folds gradient `g` into both moments at element `i`; returns the bias-corrected (m̂, v̂).
    @inline(__always)
    func update(_ i: Int, gradient g: Float) -> (mHat: Float, vHat: Float) {
        let m = m.baseAddress, v = v.baseAddress
        m[i] = Moments.average(m[i], g, beta: beta1, weight: 1 - beta1)
        v[i] = Moments.averageOfSquares(v[i], g, beta: beta2, weight: 1 - beta2)
        return (m[i] / c1, v[i] / c2)
    }
}
