import Configuration
import Foundation
import Optimizers
import Tensors
import XCTest

/// Adaptive-memory momentum (amem) computed by hand: the first step, the β_t closed form, its clipping.
final class AdaptiveMemoryTests: XCTestCase {
    private let layout = ParameterLayout([ParameterSpec(name: "weight", shape: [2, 2], role: .weight),
                                          ParameterSpec(name: "bias", shape: [2], role: .bias)])

    /// Steps amem with one gradient per step and returns the parameters and the core's β_t per tensor.
    private func run(_ gradients: [[Float]], p: [Float], lr: Float, extra: [(String, ConfigValue)] = [])
        throws -> (parameters: [Float], coefficients: [Float])
    {
        let optimizer = try makeOptimizer([("name", .string("amem"))] + extra, layout: layout)
        let parameters = FloatBuffer(p)
        for (index, g) in gradients.enumerated() {
            optimizer.step(parameters: parameters, gradients: FloatBuffer(g),
                           context: StepContext(step: index + 1, learningRate: lr, loss: 1))
        }
        let chain = try XCTUnwrap(optimizer as? TransformChain)
        let core = try XCTUnwrap(chain.transforms.first as? ScaleByAdaptiveMemory)
        return (parameters.array, core.coefficients)
    }

    func testFirstStepIsSignedAdamWStep() throws {
        // d₁ = g₁, v̂₁ = g₁², so p ← p(1 − lr·λ_wd) − lr·g/(|g| + ε).
        let p: [Float] = [1, -2, 0.5, 3, 0.25, -1], g: [Float] = [0.3, -0.4, 1.2, -5, 0, 2]
        let result = try run([g], p: p, lr: 0.1)
        for i in 0..<6 {
            let expected = p[i] * (1 - 0.1 * 0.01) - 0.1 * g[i] / (abs(g[i]) + 1e-8)
            XCTAssertEqual(result.parameters[i], expected, accuracy: 1e-6)
        }
        XCTAssertEqual(result.coefficients, [0, 0])
    }

    func testSecondStepCoefficientFromWeightedInnerProducts() throws {
        // β₂ = 0.5 keeps the arithmetic short; no weight decay; λ = 0.25.
        let extra: [(String, ConfigValue)] = [("beta2", .double(0.5)), ("weight_decay", .double(0)), ("lambda", .double(0.25))]
        let g1: [Float] = [1, 2, -1, 0.5, 1, 1], g2: [Float] = [2, 1, 1, 0.5, 0.5, 0.5]
        let p: [Float] = [0, 0, 0, 0, 0, 0], lr: Float = 0.1, eps = 1e-8, lambda = 0.25
        let result = try run([g1, g2], p: p, lr: lr, extra: extra)
        // Step 1 by hand: d = g1, v = 0.5·g1², v̂ = g1², p = −lr·g1/(|g1| + ε).
        var expected = (0..<6).map { Double(p[$0]) - Double(lr) * Double(g1[$0]) / (abs(Double(g1[$0])) + eps) }
        // Step 2: v = 0.5·v + 0.5·g2², v̂ = v/(1 − 0.25); w = 1/(√v̂ + ε).
        let v = (0..<6).map { 0.5 * (0.5 * Double(g1[$0] * g1[$0])) + 0.5 * Double(g2[$0] * g2[$0]) }
        let w = v.map { 1 / (($0 / 0.75).squareRoot() + eps) }
        var betas: [Double] = []
        for range in [0..<4, 4..<6] {
            var numerator = 0.0, denominator = 0.0
            for i in range {
                let g = Double(g2[i]), d = Double(g1[i])
                numerator += w[i] * (g + lambda * d) * (g - d)
                denominator += w[i] * (g - d) * (g - d)
            }
            let beta = min(max(numerator / denominator, 0), 1)
            betas.append(beta)
            for i in range {
                let direction = ((beta + lambda) * Double(g1[i]) + (1 - beta) * Double(g2[i])) / (1 + lambda)
                expected[i] -= Double(lr) * direction * w[i]
            }
        }
        // The weight tensor's gradients half agree (β strictly inside (0, 1)); the bias's halves, so the
        // shorter fresh gradient wins outright (⟨g + λd, g − d⟩ < 0, β clipped to 0).
        XCTAssertGreaterThan(betas[0], 0)
        XCTAssertLessThan(betas[0], 1)
        XCTAssertEqual(betas[1], 0)
        for i in 0..<2 { XCTAssertEqual(Double(result.coefficients[i]), betas[i], accuracy: 1e-6) }
        for i in 0..<6 { XCTAssertEqual(Double(result.parameters[i]), expected[i], accuracy: 1e-6) }
    }

    func testAgreeingGradientKeepsFullMemory() throws {
        // ⟨d, g⟩ ≥ ‖d‖² ⇒ β = 1: a gradient twice the memory leaves the direction unchanged.
        let g1: [Float] = [1, -1, 0.5, 2, 1, -3]
        let result = try run([g1, g1.map { 2 * $0 }], p: [Float](repeating: 0, count: 6), lr: 0.1,
                             extra: [("weight_decay", .double(0))])
        XCTAssertEqual(result.coefficients, [1, 1])
    }

    func testLargeTensorCoefficientIsDeterministicAndMatchesDoubleArithmetic() throws {
        // 100 003 elements: split over threads, vector body plus a scalar tail.
        let big = ParameterLayout([ParameterSpec(name: "weight", shape: [100_003], role: .weight)])
        let g1 = (0..<100_003).map { KeyedRandom(5).uniform($0) - 0.5 }
        let g2 = (0..<100_003).map { KeyedRandom(6).uniform($0) - 0.3 }
        var runs: [(coefficient: Float, parameters: [Float])] = []
        for _ in 0..<2 {
            let optimizer = try makeOptimizer([("name", .string("amem")), ("beta2", .double(0.9))], layout: big)
            let parameters = FloatBuffer(count: big.totalCount)
            for (step, g) in [g1, g2].enumerated() {
                optimizer.step(parameters: parameters, gradients: FloatBuffer(g),
                               context: StepContext(step: step + 1, learningRate: 0.01, loss: 1))
            }
            let core = try XCTUnwrap((optimizer as? TransformChain)?.transforms.first as? ScaleByAdaptiveMemory)
            runs.append((core.coefficients[0], parameters.array))
        }
        XCTAssertEqual(runs[0].coefficient.bitPattern, runs[1].coefficient.bitPattern)
        XCTAssertEqual(runs[0].parameters.map(\.bitPattern), runs[1].parameters.map(\.bitPattern))
        var numerator = 0.0, denominator = 0.0
        for i in 0..<g1.count {
            let a = Double(g1[i]), b = Double(g2[i])
            let v = 0.9 * 0.1 * a * a + 0.1 * b * b
            let w = 1 / ((v / (1 - 0.81)).squareRoot() + 1e-8)
            numerator += w * b * (b - a)
            denominator += w * (b - a) * (b - a)
        }
        let expected = min(max(numerator / denominator, 0), 1)
        XCTAssertGreaterThan(expected, 0.01)
        XCTAssertLessThan(expected, 0.99)
        XCTAssertEqual(Double(runs[0].coefficient), expected, accuracy: 1e-4)
    }

    func testRejectsNegativeLambda() {
        XCTAssertThrowsError(try makeOptimizer([("name", .string("amem")), ("lambda", .double(-1))], layout: layout)) { error in
            XCTAssertTrue("\(error)".contains("lambda"), "\(error)")
        }
    }
}
