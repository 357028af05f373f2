#if arch(x86_64) && canImport(_Builtin_intrinsics)
import _Builtin_intrinsics.intel
#endif

/// Vector operations the standard library does not lower to single instructions.
enum VectorMath {
    /// Correctly rounded lane-wise square root (IEEE, same result as `Float.squareRoot()` per lane).
    ///
    /// `SIMD4<Float>.squareRoot()` is scalarised into four `sqrtf` calls with errno branches on
    /// Linux; `sqrtps` computes the same four correctly rounded roots in one instruction.
    @inline(__always)
    static func squareRoot(_ x: SIMD4<Float>) -> SIMD4<Float> {
        #if arch(x86_64) && canImport(_Builtin_intrinsics)
        return _mm_sqrt_ps(x)
        #else
        return x.squareRoot()
        #endif
    }
}
