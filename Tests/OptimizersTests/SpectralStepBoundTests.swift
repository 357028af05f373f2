import Configuration
import Optimizers
import Tensors
import XCTest

/// AdamW²'s spectral step bound: the power iteration against matrices of known singular values,
/// the bound against its definition, and the assembled optimizer against plain AdamW.
final class SpectralStepBoundTests: XCTestCase {
    /// diag(s)·Q[0..<rows] for the Householder reflection Q = I − 2wwᵀ/‖w‖²: orthonormal rows, so
    /// the singular values are exactly `s`.
    static func matrix(singularValues s: [Float], columns: Int) -> [Float] {
        var w = (0..<columns).map { Float($0 % 3) - 0.7 + Float($0) / Float(columns) }
        let norm = w.reduce(0) { $0 + $1 * $1 }.squareRoot()
        w = w.map { $0 / norm }
        var a = [Float](repeating: 0, count: s.count * columns)
        for i in 0..<s.count {
            for j in 0..<columns { a[i * columns + j] = s[i] * ((i == j ? 1 : 0) - 2 * w[i] * w[j]) }
        }
        return a
    }

    /// σ₁ by the transform's own routine, from a cold start, with `iterations` per call.
    static func sigma(_ a: [Float], rows: Int, columns: Int, iterations: Int = 1,
                      vector: UnsafeMutablePointer<Float>? = nil) -> Float {
        let own = vector == nil ? UnsafeMutablePointer<Float>.allocate(capacity: columns) : nil
        let v = vector ?? own!
        if own != nil { v.update(repeating: 0, count: columns) }
        defer { own?.deallocate() }
        let x = UnsafeMutablePointer<Float>.allocate(capacity: rows + columns)
        defer { x.deallocate() }
        return a.withUnsafeBufferPointer {
            SpectralStepBound.topSingularValue($0.baseAddress!, rows: rows, columns: columns, vector: v,
                                               iterations: iterations, scratch: x)
        }
    }

    func testPowerIterationFindsTheTopSingularValue() {
        let a = Self.matrix(singularValues: [3, 1.5, 1, 0.5, 0.2, 0.1], columns: 11)
        let cold = Self.sigma(a, rows: 6, columns: 11)
        // From a cold start: 10 iterations, error ∝ (1.5/3)^(2·10) in σ².
        XCTAssertEqual(cold, 3, accuracy: 3e-5)
        // Warm-started, one iteration a call keeps (and improves) it.
        let v = UnsafeMutablePointer<Float>.allocate(capacity: 11)
        defer { v.deallocate() }
        v.update(repeating: 0, count: 11)
        _ = Self.sigma(a, rows: 6, columns: 11, vector: v)
        for _ in 0..<5 { XCTAssertEqual(Self.sigma(a, rows: 6, columns: 11, vector: v), 3, accuracy: 3e-6) }
        // The estimate is ‖A v‖ for a unit v: never above σ₁ (up to rounding).
        let flat = Self.matrix(singularValues: [2, 1.9, 1.8], columns: 5)
        XCTAssertLessThanOrEqual(Self.sigma(flat, rows: 3, columns: 5), 2 * (1 + 1e-6))
        // Close singular values converge slowly (ratio (1.9/2)² per iteration): measured 1.895 after the cold start.
        XCTAssertGreaterThan(Self.sigma(flat, rows: 3, columns: 5), 1.85)
    }

    /// A layer's gradient after a LayerNorm is δxᵀ with x of zero mean: every row sums to zero, so
    /// a start from the all-ones vector would find nothing. The fixed pseudo-random start does.
    func testRowsThatSumToZero() {
        let delta: [Float] = [0.5, -1, 2, 0.25], x: [Float] = [1, -2, 0.5, 0.5, 3, -3]
        XCTAssertEqual(x.reduce(0, +), 0)
        let a = delta.flatMap { d in x.map { d * $0 } }
        let expected = delta.reduce(0) { $0 + $1 * $1 }.squareRoot() * x.reduce(0) { $0 + $1 * $1 }.squareRoot()
        XCTAssertEqual(Self.sigma(a, rows: 4, columns: 6), expected, accuracy: expected * 1e-5)
        XCTAssertEqual(Self.sigma([Float](repeating: 0, count: 24), rows: 4, columns: 6), 0)
        // A zero matrix gives 0 and leaves a warm vector as it was, for the next step.
        let v = UnsafeMutablePointer<Float>.allocate(capacity: 6)
        defer { v.deallocate() }
        v.update(repeating: 0, count: 6)
        _ = Self.sigma(a, rows: 4, columns: 6, vector: v)
        let warm = Array(UnsafeBufferPointer(start: v, count: 6))
        XCTAssertEqual(Self.sigma([Float](repeating: 0, count: 24), rows: 4, columns: 6, vector: v), 0)
        XCTAssertEqual(Array(UnsafeBufferPointer(start: v, count: 6)), warm)
    }

    func testBoundScalesOnlyMatricesWhoseStepIsTooLarge() {
        let layout = ParameterLayout([ParameterSpec(name: "big", shape: [3, 8], role: .weight),
                                      ParameterSpec(name: "small", shape: [3, 8], role: .weight),
                                      ParameterSpec(name: "zero", shape: [3, 8], role: .weight),
                                      ParameterSpec(name: "bias", shape: [3], role: .bias)])
        let bound = SpectralStepBound(layout: layout, threshold: 0.1)
        let parameters = FloatBuffer(count: layout.totalCount), updates = FloatBuffer(count: layout.totalCount)
        let weights = Self.matrix(singularValues: [2, 1, 0.5], columns: 8)
        let large = Self.matrix(singularValues: [1, 0.5, 0.1], columns: 8)   // σ₁ 1 > 0.1·2
        let fine = Self.matrix(singularValues: [0.15, 0.1, 0.05], columns: 8) // σ₁ 0.15 < 0.1·2
        for j in 0..<24 {
            parameters[j] = weights[j]; parameters[24 + j] = weights[j]; parameters[48 + j] = 0
            updates[j] = large[j]; updates[24 + j] = fine[j]; updates[48 + j] = large[j]
        }
        for j in 0..<3 { parameters[72 + j] = 0.01; updates[72 + j] = 5 }
        let before = (0..<layout.totalCount).map { updates[$0] }
        bound.apply(TransformBuffers(updates: updates.baseAddress, parameters: parameters.baseAddress, originalGradients: nil),
                    range: 0..<layout.totalCount, context: StepContext(step: 1, learningRate: 1e-3, loss: 0))
        let after = (0..<layout.totalCount).map { updates[$0] }
        // The big step is scaled to σ₁ = 0.1·σ₁(W) = 0.2, i.e. by 0.2 exactly as estimated.
        XCTAssertEqual(bound.lastScales[0], 0.2, accuracy: 1e-5)
        XCTAssertEqual(Self.sigma(Array(after[0..<24]), rows: 3, columns: 8), 0.2, accuracy: 1e-5)
        // Under the threshold, zero weights (which the bound would freeze) and vectors: untouched.
        XCTAssertEqual(Array(after[24...]), Array(before[24...]))
        XCTAssertEqual(bound.lastScales[1...], [1, 1])
    }

    /// With a threshold the steps never reach, AdamW² is AdamW bit for bit; with a small one, every
    /// matrix's step obeys σ₁(ΔW) ≤ τ·σ₁(W) as an independent, converged power iteration measures it.
    func testAdamW2IsAdamWWithEachStepBounded() throws {
        let problem = Quadratic()
        func run(_ optimizer: any Optimizer, check: ((FloatBuffer, [Float]) -> Void)? = nil) -> [Float] {
            let parameters = problem.start(), gradients = FloatBuffer(count: problem.layout.totalCount)
            for step in 1...30 {
                let loss = problem.gradient(parameters, into: gradients)
                let previous = (0..<parameters.count).map { parameters[$0] }
                optimizer.step(parameters: parameters, gradients: gradients,
                               context: StepContext(step: step, learningRate: 0.05, loss: loss))
                check?(parameters, previous)
            }
            return (0..<parameters.count).map { parameters[$0] }
        }
        func run(_ entries: [(String, ConfigValue)], check: ((FloatBuffer, [Float]) -> Void)? = nil) throws -> [Float] {
            run(try makeOptimizer(entries, layout: problem.layout), check: check)
        }
        let base: [(String, ConfigValue)] = [("lr", .double(0.05)), ("weight_decay", .double(0.1))]
        // AdamW's transforms unfused, as AdamW² runs them before its bound: the same bits.
        let adam = ScaleByAdam(layout: problem.layout, beta1: 0.9, beta2: 0.999, epsilon: 1e-8)
        let unfused = run(TransformChain(name: "adamw", transforms: FusedAdamW(adam: adam, weightDecay: 0.1).unfused,
                                         layout: problem.layout))
        let loose = try run([("name", .string("adamw2")), ("threshold", .double(1e9))] + base)
        XCTAssertEqual(loose, unfused)
        // And the catalogue's (fused) AdamW to rounding.
        let adamW = try run([("name", .string("adamw"))] + base)
        for (a, b) in zip(loose, adamW) { XCTAssertEqual(a, b, accuracy: 1e-6) }

        var worst: Float = 0, bit = 0
        let bounded = try run([("name", .string("adamw2")), ("threshold", .double(0.02))] + base) { parameters, previous in
            let weight = problem.layout.slots[0]
            let w = Array(previous[weight.range])
            let step = weight.range.map { parameters[$0] - previous[$0] }
            let ratio = Self.sigma(step, rows: 4, columns: 6, iterations: 200)
                / Self.sigma(w, rows: 4, columns: 6, iterations: 200)
            worst = max(worst, ratio)
            if ratio > 0.0199 { bit += 1 }
        }
        XCTAssertNotEqual(bounded, adamW)
        XCTAssertGreaterThan(bit, 20, "the bound should bite at lr 0.05 on this problem")
        // Warm-started single iterations underestimate σ₁ by little: measured worst 1.0006·τ.
        XCTAssertLessThanOrEqual(worst, 0.02 * 1.01, "worst σ₁(ΔW)/σ₁(W) \(worst)")
    }

    func testSettingsAreChecked() {
        XCTAssertThrowsError(try makeOptimizer([("name", .string("adamw2")), ("threshold", .double(0))],
                                               layout: Quadratic().layout)) { error in
            XCTAssertTrue("\(error)".contains("optimizer.threshold"), "\(error)")
        }
        XCTAssertThrowsError(try makeOptimizer([("name", .string("adamw2")), ("power_iterations", .int(0))],
                                               layout: Quadratic().layout)) { error in
            XCTAssertTrue("\(error)".contains("optimizer.power_iterations"), "\(error)")
        }
    }
}
