import CBLAS

#if canImport(Glibc)
import Glibc
#endif

/// Matrix products through OpenBLAS, row-major throughout.
public enum BLAS {
    /// C ← α·op(A)·op(B) + β·C, with op(A) of shape m×k and op(B) of shape k×n.
    ///
    /// Leading dimensions default to the packed row-major ones.
    @inlinable
    public static func gemm(
        transposeA: Bool = false, transposeB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int? = nil,
        b: UnsafePointer<Float>, ldb: Int? = nil,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int? = nil
    ) {
        let lda = lda ?? (transposeA ? m : k)
        let ldb = ldb ?? (transposeB ? k : n)
        let ldc = ldc ?? n
        cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
    }

    /// y ← α·op(A)·x + β·y for a row-major m×n matrix A.
    @inlinable
    public static func gemv(transposeA: Bool = false, m: Int, n: Int, alpha: Float = 1, a: UnsafePointer<Float>,
                            x: UnsafePointer<Float>, beta: Float = 0, y: UnsafeMutablePointer<Float>) {
        cblas_sgemv(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, blasint(m), blasint(n), alpha, a,
                    blasint(n), x, 1, beta, y, 1)
    }

    /// The kernel family OpenBLAS chose for this CPU ("Haswell", "SkylakeX", "Prescott", …).
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// OpenBLAS's build configuration string (version, threading, dynamic architecture).
    public static var configuration: String {
        guard let text = openblas_get_config() else { return "unknown" }
        return String(cString: text)
    }

    public static var threadCount: Int { Int(openblas_get_num_threads()) }

    public static func setThreadCount(_ count: Int) {
        precondition(count > 0, "BLAS thread count must be positive, got \(count)")
        openblas_set_num_threads(Int32(count))
    }

    /// Runs `body` with BLAS on `count` threads and restores the previous count afterwards, so
    /// callers that bring their own threads can make each product single-threaded for a while.
    /// The count is process-wide: no other thread should call BLAS meanwhile.
    public static func withThreadCount<Result>(_ count: Int, _ body: () throws -> Result) rethrows -> Result {
        let previous = threadCount
        guard previous != count else { return try body() }
        setThreadCount(count)
        defer { setThreadCount(previous) }
        return try body()
    }
}
