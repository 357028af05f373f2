import Tensors
import XCTest

final class BLASTests: XCTestCase {
    /// sgemm on odd shapes and every transpose combination against a naive triple loop in Double.
    func testGEMMMatchesNaiveProduct() {
        let random = KeyedRandom(42)
        for (m, n, k) in [(1, 1, 1), (3, 5, 7), (17, 1, 9), (33, 65, 31), (64, 48, 129)] {
            for transposeA in [false, true] {
                for transposeB in [false, true] {
                    let a = (0..<(m * k)).map { random.uniform($0) - 0.5 }
                    let b = (0..<(k * n)).map { random.uniform(10_000 + $0) - 0.5 }
                    var c = (0..<(m * n)).map { random.uniform(20_000 + $0) }
                    let c0 = c
                    let alpha: Float = 0.75, beta: Float = 0.5
                    a.withUnsafeBufferPointer { a in
                        b.withUnsafeBufferPointer { b in
                            c.withUnsafeMutableBufferPointer { c in
                                BLAS.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                                          alpha: alpha, a: a.baseAddress!, b: b.baseAddress!, beta: beta,
                                          c: c.baseAddress!)
                            }
                        }
                    }
                    for i in 0..<m {
                        for j in 0..<n {
                            var sum = 0.0
                            for p in 0..<k {
                                let aValue = transposeA ? a[p * m + i] : a[i * k + p]
                                let bValue = transposeB ? b[j * k + p] : b[p * n + j]
                                sum += Double(aValue) * Double(bValue)
                            }
                            let expected = Double(alpha) * sum + Double(beta) * Double(c0[i * n + j])
                            XCTAssertEqual(Double(c[i * n + j]), expected, accuracy: 1e-4 * (1 + abs(expected)),
                                           "m=\(m) n=\(n) k=\(k) tA=\(transposeA) tB=\(transposeB) at (\(i),\(j))")
                        }
                    }
                }
            }
        }
    }

    func testGEMVMatchesGEMM() {
        let m = 7, n = 5
        let a = (0..<(m * n)).map { Float($0 % 11) - 5 }
        let x = (0..<n).map { Float($0) - 2 }
        var y = [Float](repeating: 0, count: m)
        BLAS.gemv(m: m, n: n, a: a, x: x, y: &y)
        for i in 0..<m {
            let expected = (0..<n).reduce(Float(0)) { $0 + a[i * n + $1] * x[$1] }
            XCTAssertEqual(y[i], expected)
        }
    }

    func testCoreSelectionFollowsCPUFlags() {
        XCTAssertEqual(BLASCoreSelection.bestCore(
            flags: ["avx", "avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"],
            vendor: "GenuineIntel"), "SkylakeX")
        XCTAssertEqual(BLASCoreSelection.bestCore(flags: ["avx", "avx2", "fma"], vendor: "GenuineIntel"), "Haswell")
        XCTAssertEqual(BLASCoreSelection.bestCore(flags: ["avx", "avx2", "fma"], vendor: "AuthenticAMD"), "Zen")
        XCTAssertEqual(BLASCoreSelection.bestCore(flags: ["avx"], vendor: "GenuineIntel"), "Sandybridge")
        XCTAssertNil(BLASCoreSelection.bestCore(flags: ["sse2"], vendor: "GenuineIntel"))
    }
}
