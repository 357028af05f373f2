import Configuration
import Foundation
import Optimizers
import Tensors
import XCTest

/// First steps computed by hand for algorithms without a reference file, and transform invariants.
final class HandComputedTests: XCTestCase {
    private let layout = ParameterLayout([ParameterSpec(name: "weight", shape: [2, 2], role: .weight)])

    private func step(_ entries: [(String, ConfigValue)], p: [Float], g: [Float], lr: Float, loss: Float = 1,
                      steps: Int = 1) throws -> [Float] {
        let optimizer = try makeOptimizer(entries, layout: layout)
        let parameters = FloatBuffer(p)
        for t in 1...steps {
            let gradients = FloatBuffer(g)
            optimizer.step(parameters: parameters, gradients: gradients, context: StepContext(step: t, learningRate: lr, loss: loss))
        }
        return parameters.array
    }

    func testNSGDAFirstStep() throws {
        // g' = g + λp; m = (1−μ)g'; c = 1−μ; m/c = g'; p − η·g'/(‖g'‖ + ε)
        let p: [Float] = [1, -2, 0.5, 3], g: [Float] = [0.3, 0.4, -1.2, 0.0]
        let gp = zip(g, p).map { $0 + 0.01 * $1 }
        let norm = gp.map { $0 * $0 }.reduce(0, +).squareRoot()
        let expected = zip(p, gp).map { $0 - 0.1 * $1 / (norm + 1e-8) }
        let result = try step([("name", .string("nsgda"))], p: p, g: g, lr: 0.1)
        for (a, b) in zip(result, expected) { XCTAssertEqual(a, b, accuracy: 1e-6) }
    }

    func testAdaLoFirstStepCompliant() throws {
        let p: [Float] = [1, -2, 0.5, 3], g: [Float] = [0.3, 0.4, -1.2, 0.0], loss: Float = 0.7
        let tau = (tanh(-log1p(Double(loss)) / 2) + 1) / 2
        let e = 0.001 * tau
        let eta = Float(max((1 - e) / 3, 1e-8))
        let expected = zip(p, g).map { $0 * (1 - eta * 0.01) - eta * 0.1 * $1 }
        let result = try step([("name", .string("adalo")), ("mode", .string("compliant"))], p: p, g: g, lr: 123, loss: loss)
        for (a, b) in zip(result, expected) { XCTAssertEqual(a, b, accuracy: 1e-6) }
    }

    func testAdamAtan2FirstStepIsSignTimesPiOverFour() throws {
        // m̂ = g and √v̂ = |g| at step 1, so u = a·atan2(g, |g|) = ±a·π/4.
        let p: [Float] = [1, -2, 0.5, 3], g: [Float] = [0.3, -0.4, 1.2, -5]
        let result = try step([("name", .string("adam_atan2"))], p: p, g: g, lr: 0.1)
        for (index, value) in result.enumerated() {
            XCTAssertEqual(value, p[index] - 0.1 * 1.27 * Float.pi / 4 * (g[index] > 0 ? 1 : -1), accuracy: 1e-6)
        }
    }

    func testNAdamFirstStep() throws {
        let p: [Float] = [1, -2, 0.5, 3], g: [Float] = [0.3, -0.4, 1.2, -5]
        let mu1 = 0.9 * (1 - 0.5 * pow(0.96, 0.004)), mu2 = 0.9 * (1 - 0.5 * pow(0.96, 0.008))
        let result = try step([("name", .string("nadam"))], p: p, g: g, lr: 0.01)
        for i in 0..<4 {
            let gi = Double(g[i]), d = abs(gi) + 1e-8
            let expected = Double(p[i]) - 0.01 * ((1 - mu1) / (1 - mu1) * gi / d + mu2 / (1 - mu1 * mu2) * 0.1 * gi / d)
            XCTAssertEqual(Double(result[i]), expected, accuracy: 1e-6)
        }
    }

    func testGrunwaldLetnikovSecondStepUsesWeightedHistory() throws {
        // w₁ = 1 − (α+1) = −0.5 for α = 0.5: second step moves by lr·(g − 0.5g) = 0.5·lr·g.
        let p: [Float] = [1, -2, 0.5, 3], g: [Float] = [0.3, -0.4, 1.2, -5]
        let result = try step([("name", .string("glfrac"))], p: p, g: g, lr: 0.1, steps: 2)
        for i in 0..<4 { XCTAssertEqual(result[i], p[i] - 0.1 * g[i] - 0.1 * 0.5 * g[i], accuracy: 1e-6) }
    }

    func testSMMFReconstructsRankOneExactly() {
        let u: [Float] = [1, 2, 0.5], v: [Float] = [3, 0.25, 1, 4, 2]
        for (rows, columns, a, b) in [(3, 5, u, v), (5, 3, v, u)] {
            var matrix = [Float](repeating: 0, count: rows * columns)
            for i in 0..<rows { for j in 0..<columns { matrix[i * columns + j] = a[i] * b[j] } }
            var row = [Float](repeating: 0, count: rows), column = [Float](repeating: 0, count: columns)
            row.withUnsafeMutableBufferPointer { r in
                column.withUnsafeMutableBufferPointer { c in
                    ScaleBySMMF.compress(matrix, rows: rows, columns: columns, row: r.baseAddress!, column: c.baseAddress!)
                }
            }
            for i in 0..<rows {
                for j in 0..<columns { XCTAssertEqual(row[i] * column[j], matrix[i * columns + j], accuracy: 1e-5) }
            }
        }
        XCTAssertEqual(ScaleBySMMF.squareShape(24).rows, 4)
        XCTAssertEqual(ScaleBySMMF.squareShape(24).columns, 6)
        XCTAssertEqual(ScaleBySMMF.squareShape(13).rows, 1)
    }

    func testCautiousMaskKeepsAgreeingSignsAndRescales() {
        let mask = CautiousMask()
        let updates = FloatBuffer([-1, 2, -3, 4, 0]), gradients = FloatBuffer([1, 1, 1, -1, 1])
        let parameters = FloatBuffer(count: 5)
        let buffers = TransformBuffers(updates: updates.baseAddress, parameters: parameters.baseAddress,
                                       originalGradients: gradients.baseAddress)
        mask.apply(buffers, range: 0..<5, context: StepContext(step: 1, learningRate: 1, loss: 0))
        // descent −u agrees with g at 0 (1·1), 2 (3·1) and 3 (−4·−1): kept 3, scale 5/4.
        XCTAssertEqual(mask.lastKept, 3)
        XCTAssertEqual(updates.array, [-1.25, 0, -3.75, 5, 0])
    }

    func testClipByNormGivesTheClippedNorm() {
        let clip = ClipByGlobalNorm(maxNorm: 2)
        let updates = FloatBuffer([3, 4, 0, 12]), parameters = FloatBuffer(count: 4)
        clip.apply(TransformBuffers(updates: updates.baseAddress, parameters: parameters.baseAddress, originalGradients: nil),
                   range: 0..<4, context: StepContext(step: 1, learningRate: 1, loss: 0))
        let norm = updates.array.map { $0 * $0 }.reduce(0, +).squareRoot()
        XCTAssertEqual(norm, 2, accuracy: 1e-5)
        XCTAssertEqual(updates[1] / updates[0], 4.0 / 3.0, accuracy: 1e-5)
    }

    func testCPRKeepsTheNormBounded() throws {
        // Plain SGD pushed outward by a constant gradient grows without bound; CPR holds ‖θ‖² near κ.
        let layout = ParameterLayout([ParameterSpec(name: "weight", shape: [3, 3], role: .weight)])
        let optimizer = try OptimizerCatalog.make(section: section([
            ("name", .string("sgd")), ("lr", .double(0.1)),
            ("transforms", .list([.map(ConfigMap([("name", .string("cpr")), ("mu", .double(0.1))]))])),
        ]), layout: layout)
        let parameters = FloatBuffer([Float](repeating: 0.5, count: 9))
        let initial = parameters.array.map { $0 * $0 }.reduce(0, +)
        var largest: Float = 0
        for t in 1...500 {
            let gradients = FloatBuffer([Float](repeating: -0.2, count: 9))
            optimizer.step(parameters: parameters, gradients: gradients, context: StepContext(step: t, learningRate: 0.1, loss: 0))
            largest = max(largest, parameters.array.map { $0 * $0 }.reduce(0, +))
        }
        let final = parameters.array.map { $0 * $0 }.reduce(0, +)
        XCTAssertLessThan(largest, 2 * initial)
        XCTAssertEqual(final, initial, accuracy: 0.25 * initial)
    }

    func testAGCClipsUnitsRelativeToTheirWeights() {
        let layout = ParameterLayout([ParameterSpec(name: "weight", shape: [2, 2], role: .weight)])
        let agc = AdaptiveGradientClipping(layout: layout, clipping: 0.1, epsilon: 1e-3)
        let parameters = FloatBuffer([3, 4, 0.001, 0]), updates = FloatBuffer([6, 8, 1e-5, 0])
        agc.apply(TransformBuffers(updates: updates.baseAddress, parameters: parameters.baseAddress, originalGradients: nil),
                  range: 0..<4, context: StepContext(step: 1, learningRate: 1, loss: 0))
        // row 0: ‖p‖ = 5, limit 0.5, ‖g‖ = 10 → scaled by 0.05; row 1 below its limit 1e-4 → unchanged.
        XCTAssertEqual(updates[0], 0.3, accuracy: 1e-6)
        XCTAssertEqual(updates[1], 0.4, accuracy: 1e-6)
        XCTAssertEqual(updates[2], 1e-5, accuracy: 1e-12)
    }

    func testScheduleShapes() throws {
        func make(_ entries: [(String, ConfigValue)], batch: Int = 256) throws -> Schedule {
            try Schedule(section: section(entries, path: "schedule"), baseLearningRate: 0.1, globalBatch: batch, totalSteps: 100)
        }
        let cosine = try make([("warmup_steps", .int(10)), ("decay", .string("cosine")), ("min_lr_ratio", .double(0.1))])
        XCTAssertEqual(cosine.learningRate(step: 5), 0.05, accuracy: 1e-7)
        XCTAssertEqual(cosine.learningRate(step: 10), 0.1, accuracy: 1e-7)
        XCTAssertEqual(cosine.learningRate(step: 55), 0.055, accuracy: 1e-6)
        XCTAssertEqual(cosine.learningRate(step: 100), 0.01, accuracy: 1e-7)
        let wsd = try make([("decay", .string("wsd")), ("decay_fraction", .double(0.2))])
        XCTAssertEqual(wsd.learningRate(step: 80), 0.1, accuracy: 1e-7)
        XCTAssertEqual(wsd.learningRate(step: 90), 0.05, accuracy: 1e-7)
        let scaled = try make([("scale_rule", .string("sqrt")), ("base_batch", .int(64))])
        XCTAssertEqual(scaled.learningRate(step: 50), 0.2, accuracy: 1e-7)
        XCTAssertThrowsError(try make([("decay", .string("step"))]))
    }
}
