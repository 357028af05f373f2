import Foundation
import Tensors

/// Measures single-precision matrix-product speed through the BLAS binding.
public enum GEMMBenchmark {
    /// GFLOP/s of an n×n×n sgemm: the median of timed rounds of about `seconds / rounds` each, after a warm-up.
    public static func run(n: Int, seconds: Double = 1.0, rounds: Int = 5) -> Double {
        let a = FloatBuffer(count: n * n), b = FloatBuffer(count: n * n), c = FloatBuffer(count: n * n)
        let random = KeyedRandom(1, UInt64(n))
        for i in 0..<(n * n) {
            a[i] = random.uniform(2 * i) - 0.5
            b[i] = random.uniform(2 * i + 1) - 0.5
        }
        let flops = 2.0 * Double(n) * Double(n) * Double(n)
        func multiply() { BLAS.gemm(m: n, n: n, k: n, a: a.baseAddress, b: b.baseAddress, c: c.baseAddress) }
        // Warm-up, and an estimate of how many products fill one round.
        let start = monotonicSeconds()
        multiply()
        let once = max(monotonicSeconds() - start, 1e-6)
        let repetitions = max(1, Int((seconds / Double(rounds)) / once))
        var rates: [Double] = []
        for _ in 0..<rounds {
            let begin = monotonicSeconds()
            for _ in 0..<repetitions { multiply() }
            let elapsed = monotonicSeconds() - begin
            rates.append(flops * Double(repetitions) / elapsed / 1e9)
        }
        return median(rates)
    }
}
