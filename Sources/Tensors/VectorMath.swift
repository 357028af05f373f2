#if arch(x86_64) && canImport(_Builtin_intrinsics)
import _Builtin_intrinsics.intel
#endif

/// Vector operations the standard library does not lower to single instructions.
public enum VectorMath {
    /// Correctly rounded lane-wise square root (IEEE, same result as `Float.squareRoot()` per lane).
    ///
    /// `SIMD4<Float>.squareRoot()` is scalarised into four `sqrtf` calls with errno branches on
    /// Linux; `sqrtps` computes the same four correctly rounded roots in one instruction.
    @inlinable @inline(__always)
    public static func squareRoot(_ x: SIMD4<Float>) -> SIMD4<Float> {
        #if arch(x86_64) && canImport(_Builtin_intrinsics)
        return _mm_sqrt_ps(x)
        #else
        return x.squareRoot()
        #endif
    }

    /// Σ (xⱼ² + ε) over `n` floats, each term also added into `sums[j]`: Adafactor's row and column
    /// sums in one contiguous pass (columns summed row by row rather than walked with a stride).
    @inlinable @inline(__always)
    public static func accumulateSquares(_ x: UnsafePointer<Float>, _ n: Int, epsilon: Float,
                                  into sums: UnsafeMutablePointer<Float>) -> Float {
        var lanes = SIMD8<Float>(), j = 0
        let e = SIMD8<Float>(repeating: epsilon)
        while j + 8 <= n {
            let v = load8(x + j), q = v * v + e
            lanes += q
            store8(load8(sums + j) + q, sums + j)
            j += 8
        }
        var total = lanes.sum()
        while j < n {
            let q = x[j] * x[j] + epsilon
            total += q
            sums[j] += q
            j += 1
        }
        return total
    }

    /// Lane-wise minimum and maximum in one instruction each (the standard library's
    /// `pointwiseMin`/`pointwiseMax` stay calls in hot loops).
    @inlinable @inline(__always)
    public static func minimum(_ a: SIMD4<Float>, _ b: SIMD4<Float>) -> SIMD4<Float> {
        a.replacing(with: b, where: b .< a)
    }

    @inlinable @inline(__always)
    public static func maximum(_ a: SIMD4<Float>, _ b: SIMD4<Float>) -> SIMD4<Float> {
        a.replacing(with: b, where: b .> a)
    }

    @inlinable @inline(__always)
    public static func load4(_ p: UnsafeMutablePointer<Float>) -> SIMD4<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD4<Float>.self)
    }

    @inlinable @inline(__always)
    public static func store4(_ v: SIMD4<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD4<Float>.self)
    }

    @inlinable @inline(__always)
    public static func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }

    @inlinable @inline(__always)
    public static func load8(_ p: UnsafeMutablePointer<Float>) -> SIMD8<Float> { load8(UnsafePointer(p)) }

    @inlinable @inline(__always)
    public static func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
    }

    /// Root mean square of n floats, accumulated in Double.
    @inlinable @inline(__always)
    public static func rms(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        Float((sumOfSquares(x, n) / Double(max(n, 1))).squareRoot())
    }

    @inlinable @inline(__always)
    public static func rms(_ x: UnsafeMutablePointer<Float>, _ n: Int) -> Float { rms(UnsafePointer(x), n) }

    /// Σx², accumulated in Double over Float partial sums in eight lanes of blocks of 1024: the lanes
    /// let the loop vectorize, the blocks keep long tensors' sums accurate.
    @inlinable public static func sumOfSquares(_ x: UnsafePointer<Float>, _ n: Int) -> Double {
        var total = 0.0
        var i = 0
        while i < n {
            let end = min(n, i + 1024)
            var lanes = SIMD8<Float>()
            while i + 8 <= end {
                let v = load8(x + i)
                lanes += v * v
                i += 8
            }
            var partial = lanes.sum()
            while i < end {
                partial += x[i] * x[i]
                i += 1
            }
            total += Double(partial)
        }
        return total
    }

    @inlinable public static func sumOfSquares(_ x: UnsafeMutablePointer<Float>, _ n: Int) -> Double { sumOfSquares(UnsafePointer(x), n) }

    /// Whether every element is finite: a sum is non-finite if any term is (NaN or ±∞), and it vectorizes.
    @inlinable public static func allFinite(_ x: UnsafePointer<Float>, _ n: Int) -> Bool {
        var sum: Float = 0
        for i in 0..<n { sum += x[i] * 0 }
        return sum == 0
    }

    /// x ← factor · x.
    @inlinable public static func scale(_ x: UnsafeMutablePointer<Float>, _ n: Int, by factor: Float) {
        for i in 0..<n { x[i] *= factor }
    }

    /// The Euclidean norm, accumulated in Double.
    @inlinable public static func norm(_ x: UnsafePointer<Float>, _ n: Int) -> Double { sumOfSquares(x, n).squareRoot() }
}
