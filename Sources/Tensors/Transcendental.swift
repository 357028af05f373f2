/// exp, tanh and GELU on eight lanes at a time.
///
/// The scalar `expf`/`tanhf` of the C library cost about 5 ns each; a GPT's MLP applies GELU to
/// 4·C values per token forward and again backward, which made it half the MLP's time. These
/// run a polynomial on SIMD lanes instead (Cephes' `expf`: range reduction by ln 2, a degree-5
/// polynomial, the exponent put back by bit arithmetic; relative error below 2e-7 on its range).
/// A partial vector at the end of a range is computed by the same lanes, so every element's value
/// depends on the element alone, never on where a buffer splits.
extension Elementwise {
    @inlinable @inline(__always)
    public static func exp(_ x: Vector) -> Vector {
        let clamped = x.clamped(lowerBound: Vector(repeating: -87.3), upperBound: Vector(repeating: 88.3))
        let n = (clamped * 1.442_695_040_888_963_4).rounded(.toNearestOrEven)
        // r = x − n·ln 2 in two parts, so that the subtraction is exact.
        var r = clamped - n * 0.693_359_375
        r = r - n * -2.121_944_400_546_905_8e-4
        var p = Vector(repeating: 1.987_569_150_0e-4)
        p = p * r + 1.398_199_950_7e-3
        p = p * r + 8.333_451_907_3e-3
        p = p * r + 4.166_579_589_4e-2
        p = p * r + 1.666_666_545_9e-1
        p = p * r + 5.000_000_120_1e-1
        let e = p * (r * r) + r + 1
        let exponent = SIMD8<Int32>(truncatingIfNeeded: SIMD8<Int64>(n)) &+ 127
        let scale = unsafeBitCast(exponent &<< 23, to: Vector.self)
        // NaN stays NaN (the clamp would have made it a number), so non-finite values are still seen.
        return (e * scale).replacing(with: x, where: x .!= x)
    }

    /// tanh(x) = 1 − 2 / (exp(2x) + 1): exact limits ±1, absolute error about 1e-7 near 0.
    @inlinable @inline(__always)
    public static func tanh(_ x: Vector) -> Vector {
        1 - 2 / (exp(2 * x) + 1)
    }

    /// √(2/π) and the cubic coefficient of GELU's tanh form (PyTorch's `approximate="tanh"`).
    public static let geluScale: Float = 0.797_884_560_802_865_4
    public static let geluCubic: Float = 0.044715

    /// y = ½·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) over `range`.
    @inlinable public static func gelu(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, range: Range<Int>) {
        forEachVector(range) { i, count in
            let v = loadPartial(x + i, count)
            let cube: Vector = v * v * v
            let t = tanh(geluScale * (v + geluCubic * cube))
            storePartial(0.5 * v * (1 + t), y + i, count)
        }
    }

    /// dx = dy · GELU′(x) over `range`, GELU′(x) = ½(1 + t) + ½·x·(1 − t²)·√(2/π)·(1 + 3·0.044715·x²).
    @inlinable public static func geluGradient(input x: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>,
                                               into dx: UnsafeMutablePointer<Float>, range: Range<Int>) {
        forEachVector(range) { i, count in
            let v = loadPartial(x + i, count)
            let cube: Vector = v * v * v
            let t = tanh(geluScale * (v + geluCubic * cube))
            let half: Vector = 0.5 * (1 + t)
            let slope: Vector = geluScale * (1 + 3 * geluCubic * v * v)
            let curve: Vector = 0.5 * v * (1 - t * t) * slope
            storePartial(loadPartial(dy + i, count) * (half + curve), dx + i, count)
        }
    }

    /// Calls `body(start, count)` for consecutive vectors of `range`, the last one possibly partial.
    @inlinable @inline(__always)
    static func forEachVector(_ range: Range<Int>, _ body: (Int, Int) -> Void) {
        var i = range.lowerBound
        while i < range.upperBound {
            let count = min(width, range.upperBound - i)
            body(i, count)
            i += width
        }
    }

    @inlinable @inline(__always)
    static func loadPartial(_ p: UnsafePointer<Float>, _ count: Int) -> Vector {
        if count == width { return load(p) }
        var v = Vector(repeating: 0)
        for lane in 0..<count { v[lane] = p[lane] }
        return v
    }

    @inlinable @inline(__always)
    static func storePartial(_ v: Vector, _ p: UnsafeMutablePointer<Float>, _ count: Int) {
        if count == width { return store(v, p) }
        for lane in 0..<count { p[lane] = v[lane] }
    }
}
