import Foundation
import Tensors
import XCTest

/// The causal softmax and LayerNorm kernels against double-precision definitions, at widths on both
/// sides of the eight-lane sums; that what they must not read (above the diagonal) never leaks in; and
/// that a row's result is the same bits wherever it sits in memory.
final class RowKernelTests: XCTestCase {
    private func values(_ count: Int, seed: Int, scale: Float = 1) -> [Float] {
        let random = KeyedRandom(UInt64(seed), 0)
        return (0..<count).map { scale * (2 * random.uniform($0) - 1) }
    }

    private let widths = [1, 2, 7, 8, 9, 16, 31, 33, 45]

    /// Above the diagonal the input is NaN (the attention leaves it unwritten); the output is the
    /// softmax of each row's first i + 1 scores and exact zeros after them.
    func testCausalSoftmaxMatchesTheDefinition() {
        for t in widths {
            let scores = values(t * t, seed: t, scale: 30)
            var p = scores
            for i in 0..<t { for j in (i + 1)..<t { p[i * t + j] = .nan } }
            p.withUnsafeMutableBufferPointer { RowKernels.causalSoftmax($0.baseAddress!, positions: t) }
            for i in 0..<t {
                let row = (0...i).map { Double(scores[i * t + $0]) }
                let top = row.max()!
                let total = row.reduce(0) { $0 + exp($1 - top) }
                for j in 0..<t {
                    let got = p[i * t + j]
                    if j > i {
                        XCTAssertEqual(got.bitPattern, Float(0).bitPattern, "t \(t) [\(i), \(j)] above the diagonal")
                    } else {
                        XCTAssertEqual(Double(got), exp(row[j] - top) / total, accuracy: 1e-6, "t \(t) [\(i), \(j)]")
                    }
                }
            }
        }
    }

    /// g ← P ⊙ (g − Σ_{j ≤ i} P·g) on and below the diagonal, 0 above it, with NaN above the diagonal
    /// of g (the attention computes dP only left of each causal block's diagonal).
    func testCausalSoftmaxBackwardMatchesTheDefinition() {
        for t in widths {
            var p = values(t * t, seed: 100 + t, scale: 4)
            p.withUnsafeMutableBufferPointer { RowKernels.causalSoftmax($0.baseAddress!, positions: t) }
            let upstream = values(t * t, seed: 200 + t)
            var g = upstream
            for i in 0..<t { for j in (i + 1)..<t { g[i * t + j] = .nan } }
            p.withUnsafeBufferPointer { p in
                g.withUnsafeMutableBufferPointer {
                    RowKernels.causalSoftmaxBackward(weights: p.baseAddress!, gradient: $0.baseAddress!, positions: t)
                }
            }
            for i in 0..<t {
                let dot = (0...i).reduce(0.0) { $0 + Double(p[i * t + $1]) * Double(upstream[i * t + $1]) }
                for j in 0..<t {
                    let expected = j > i ? 0 : Double(p[i * t + j]) * (Double(upstream[i * t + j]) - dot)
                    XCTAssertEqual(Double(g[i * t + j]), expected, accuracy: 1e-6, "t \(t) [\(i), \(j)]")
                    if j > i { XCTAssertEqual(g[i * t + j].bitPattern, Float(0).bitPattern) }
                }
            }
        }
    }

    /// Forward, with and without a shift, and backward (parameter gradients added to what is there,
    /// input gradient optional) against the formulas in double precision.
    func testLayerNormMatchesTheDefinition() {
        let rows = 3, epsilon: Float = 1e-5
        for n in widths where n > 1 {
            let x = values(rows * n, seed: n, scale: 3).enumerated().map { $0.element + Float($0.offset % 5) }
            let gamma = values(n, seed: 300 + n), beta = values(n, seed: 400 + n), dy = values(rows * n, seed: 500 + n)
            for withShift in [true, false] {
                var y = [Float](repeating: .nan, count: rows * n), statistics = [Float](repeating: .nan, count: 2 * rows)
                var gammaGradient = [Float](repeating: 0.5, count: n), betaGradient = [Float](repeating: -0.25, count: n)
                var dx = [Float](repeating: .nan, count: rows * n)
                x.withUnsafeBufferPointer { x in
                    gamma.withUnsafeBufferPointer { gamma in
                        beta.withUnsafeBufferPointer { beta in
                            RowKernels.layerNorm(x.baseAddress!, gamma: gamma.baseAddress!,
                                                 beta: withShift ? beta.baseAddress! : nil, into: &y,
                                                 statistics: &statistics, rows: rows, features: n, epsilon: epsilon)
                            betaGradient.withUnsafeMutableBufferPointer { betaGradient in
                                RowKernels.layerNormBackward(
                                    x.baseAddress!, outputGradient: dy, gamma: gamma.baseAddress!, statistics: statistics,
                                    gammaGradient: &gammaGradient, betaGradient: withShift ? betaGradient.baseAddress! : nil,
                                    inputGradient: &dx, rows: rows, features: n)
                            }
                        }
                    }
                }
                var expectedGamma = [Double](repeating: 0.5, count: n), expectedBeta = [Double](repeating: -0.25, count: n)
                for r in 0..<rows {
                    let row = (0..<n).map { Double(x[r * n + $0]) }
                    let mean = row.reduce(0, +) / Double(n)
                    let variance = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n)
                    let rstd = 1 / (variance + Double(epsilon)).squareRoot()
                    XCTAssertEqual(Double(statistics[2 * r]), mean, accuracy: 1e-5)
                    XCTAssertEqual(Double(statistics[2 * r + 1]), rstd, accuracy: 1e-5 * rstd)
                    let xhat = row.map { ($0 - mean) * rstd }
                    let g = (0..<n).map { Double(dy[r * n + $0]) * Double(gamma[$0]) }
                    let meanG = g.reduce(0, +) / Double(n)
                    let meanGX = zip(g, xhat).reduce(0) { $0 + $1.0 * $1.1 } / Double(n)
                    for j in 0..<n {
                        let shift = withShift ? Double(beta[j]) : 0
                        XCTAssertEqual(Double(y[r * n + j]), xhat[j] * Double(gamma[j]) + shift, accuracy: 1e-5,
                                       "n \(n) row \(r) feature \(j)")
                        XCTAssertEqual(Double(dx[r * n + j]), rstd * (g[j] - meanG - xhat[j] * meanGX),
                                       accuracy: 1e-5 * max(1, rstd), "n \(n) row \(r) feature \(j) dx")
                        expectedGamma[j] += Double(dy[r * n + j]) * xhat[j]
                        expectedBeta[j] += Double(dy[r * n + j])
                    }
                }
                for j in 0..<n {
                    XCTAssertEqual(Double(gammaGradient[j]), expectedGamma[j], accuracy: 1e-5, "n \(n) dgamma \(j)")
                    XCTAssertEqual(Double(betaGradient[j]), withShift ? expectedBeta[j] : -0.25, accuracy: 1e-5)
                }
            }
        }
    }

    /// One row normalized at every start offset (alignment) gives the same bits, as does its
    /// causal softmax: the lane of each element follows its index in the row, not its address.
    func testRowsGiveTheSameBitsAtEveryAlignment() {
        let n = 45, x = values(n, seed: 7, scale: 5), gamma = values(n, seed: 8), dy = values(n, seed: 9)
        var reference: [UInt32]?
        for offset in 0..<9 {
            var buffer = [Float](repeating: 0, count: offset + 2 * n + 2 + 2 * n)
            let result: [UInt32] = buffer.withUnsafeMutableBufferPointer { buffer in
                let base = buffer.baseAddress! + offset
                let input = base, output = base + n, statistics = base + 2 * n, gradient = statistics + 2
                let gammaGradient = gradient + n
                input.update(from: x, count: n)
                gammaGradient.update(repeating: 0, count: n)
                RowKernels.layerNorm(input, gamma: gamma, beta: nil, into: output, statistics: statistics, rows: 1,
                                     features: n, epsilon: 1e-5)
                RowKernels.layerNormBackward(input, outputGradient: dy, gamma: gamma, statistics: statistics,
                                             gammaGradient: gammaGradient, betaGradient: nil, inputGradient: gradient,
                                             rows: 1, features: n)
                return (n..<(4 * n + 2)).map { base[$0].bitPattern }
            }
            if let reference { XCTAssertEqual(result, reference, "offset \(offset)") } else { reference = result }
        }
        let t = 9
        var softmaxReference: [UInt32]?
        for offset in 0..<9 {
            var buffer = [Float](repeating: 0, count: offset + t * t)
            for i in 0..<(t * t) { buffer[offset + i] = x[i % n] }
            buffer.withUnsafeMutableBufferPointer { RowKernels.causalSoftmax($0.baseAddress! + offset, positions: t) }
            let result = buffer[offset...].map(\.bitPattern)
            if let softmaxReference { XCTAssertEqual(result, softmaxReference) } else { softmaxReference = result }
        }
    }
}
