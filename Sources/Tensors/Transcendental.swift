import CKernels

/// exp, tanh and GELU over buffers, and the max and exponentials of a softmax row.
///
/// The C library's scalar `expf`/`tanhf` cost about 5 ns each; a GPT's MLP applies GELU to 4·C
/// values per token forward and again backward, which made it half the MLP's time. The kernels
/// (`CKernels`, C compiled optimized in every build configuration: the equivalent Swift SIMD code
/// is fifty times slower in the debug builds the tests run) use Cephes' polynomial `expf` in loops
/// the compiler vectorizes. Every element's value depends on that element alone and every sum adds
/// in one fixed lane order, so no result depends on where a buffer splits.
extension Elementwise {
    /// y = ½·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) over `range`.
    @inlinable public static func gelu(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, range: Range<Int>) {
        guard !range.isEmpty else { return }
        bb_gelu(x + range.lowerBound, y + range.lowerBound, range.count)
    }

    /// dx = dy · GELU′(x) over `range`, GELU′(x) = ½(1 + t) + ½·x·(1 − t²)·√(2/π)·(1 + 3·0.044715·x²).
    @inlinable public static func geluGradient(input x: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>,
                                               into dx: UnsafeMutablePointer<Float>, range: Range<Int>) {
        guard !range.isEmpty else { return }
        bb_gelu_gradient(x + range.lowerBound, dy + range.lowerBound, dx + range.lowerBound, range.count)
    }

    /// p[j] = exp(x[j] − shift) for j < `count`, returning their sum. `p` may be `x`.
    @inlinable public static func exponentials(_ x: UnsafePointer<Float>, minus shift: Float,
                                               into p: UnsafeMutablePointer<Float>, count: Int) -> Float {
        count > 0 ? bb_exponentials(x, shift, p, count) : 0
    }

    @inlinable public static func exponentials(_ x: UnsafeMutablePointer<Float>, minus shift: Float,
                                               into p: UnsafeMutablePointer<Float>, count: Int) -> Float {
        exponentials(UnsafePointer(x), minus: shift, into: p, count: count)
    }

    /// The largest of x[0..<count] (`count` ≥ 1); NaN if any is NaN.
    @inlinable public static func maximum(_ x: UnsafePointer<Float>, count: Int) -> Float { bb_maximum(x, count) }

    @inlinable public static func maximum(_ x: UnsafeMutablePointer<Float>, count: Int) -> Float {
        bb_maximum(UnsafePointer(x), count)
    }

    /// The kernels' exp and tanh on one value (for tests and scalar callers).
    @inlinable public static func exp(_ x: Float) -> Float { bb_exp(x) }
    @inlinable public static func tanh(_ x: Float) -> Float { bb_tanh(x) }
}
