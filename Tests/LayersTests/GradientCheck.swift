import Tensors
import XCTest

@testable import Layers

/// Deterministic test data.
func randomNormals(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
    let random = KeyedRandom(seed, 99)
    return (0..<count).map { scale * random.normal($0) }
}

/// Values bounded away from zero (|x| ∈ [0.1, 1.1]) so ReLU kinks stay out of a finite-difference step.
func awayFromZero(_ count: Int, seed: UInt64) -> [Float] {
    let random = KeyedRandom(seed, 98)
    return (0..<count).map { i in
        let magnitude = 0.1 + random.uniform(2 * i)
        return random.uniform(2 * i + 1) < 0.5 ? -magnitude : magnitude
    }
}

/// Distinct values 0.05 apart, shuffled, so no max-pool window has near ties.
func distinctValues(_ count: Int, seed: UInt64) -> [Float] {
    KeyedRandom(seed, 97).permutation(count).map { Float($0) * 0.05 - Float(count) * 0.025 }
}

/// Up to `limit` distinct coordinates of `0..<count`, all when there are few.
func coordinates(_ count: Int, limit: Int, seed: UInt64) -> [Int] {
    if count <= limit { return Array(0..<count) }
    return Array(KeyedRandom(seed, 96).permutation(count).prefix(limit))
}

/// Compares analytic and central-difference derivatives coordinate by coordinate.
///
/// A coordinate whose one-sided differences disagree sits on a kink (ReLU, max) and is skipped;
/// at most a tenth may be. The error is relative to the larger magnitude, floored at 1% of the
/// gradient's RMS so that near-zero entries are judged on an absolute scale.
///
/// The objective is computed in float32, so `plus` and `minus` each carry a rounding error of about
/// ulp·|objective| (measured: 0.75 ulp·|objective| for a model's summed loss), which the central
/// difference divides by 2ε. Up to 4 ulp·|objective|/ε of disagreement is taken as that rounding and
/// not counted: without it a 16-unit MLP with LayerNorm failed by 1.4% on one CPU's BLAS kernels and
/// passed on another's, for the same correct backward pass.
struct DerivativeComparison {
    var analytic: [Double] = []
    var numeric: [Double] = []
    /// The rounding allowance of each numeric derivative.
    var rounding: [Double] = []
    var skipped = 0

    mutating func add(analytic a: Double, plus: Double, minus: Double, center: Double, epsilon: Double) {
        let forwardSlope = (plus - center) / epsilon, backwardSlope = (center - minus) / epsilon
        let central = (plus - minus) / (2 * epsilon)
        let scale = max(abs(forwardSlope), abs(backwardSlope), 1e-3)
        // Each one-sided slope carries up to 2 ulp·|objective|/ε of rounding (two evaluations); a
        // disagreement within that is noise, not a kink.
        let noise = 8 * Double(Float.ulpOfOne) * max(abs(center), 1) / epsilon
        let disagreement = abs(forwardSlope - backwardSlope)
        if disagreement > 0.2 * scale && disagreement > 1e-2 && disagreement > noise {
            skipped += 1
            return
        }
        analytic.append(a)
        numeric.append(central)
        rounding.append(4 * Double(Float.ulpOfOne) * max(abs(center), 1) / epsilon)
    }

    func check(_ what: String, tolerance: Double, file: StaticString = #filePath, line: UInt = #line) {
        let total = analytic.count + skipped
        XCTAssertGreaterThan(analytic.count, 0, "\(what): nothing compared", file: file, line: line)
        XCTAssertLessThanOrEqual(skipped * 10, total, "\(what): \(skipped) of \(total) coordinates on kinks",
                                 file: file, line: line)
        let rms = (analytic.map { $0 * $0 }.reduce(0, +) / Double(max(analytic.count, 1))).squareRoot()
        let floor = max(1e-2 * rms, 1e-5)
        var worst = 0.0, worstIndex = 0
        for i in analytic.indices {
            let error = max(abs(analytic[i] - numeric[i]) - rounding[i], 0) / max(abs(analytic[i]), abs(numeric[i]), floor)
            if error > worst { (worst, worstIndex) = (error, i) }
        }
        XCTAssertLessThan(worst, tolerance,
                          "\(what): worst relative error \(worst) (analytic \(analytic[safe: worstIndex]), "
                          + "numeric \(numeric[safe: worstIndex]))", file: file, line: line)
        XCTAssertGreaterThan(rms, 0, "\(what): gradient identically zero", file: file, line: line)
    }
}

extension Array where Element == Double {
    subscript(safe index: Int) -> Double { indices.contains(index) ? self[index] : .nan }
}

/// Finite-difference check of one layer's input and parameter gradients under the objective Σ r·y.
/// Also checks that a second backward doubles the parameter gradients (accumulation).
func checkLayerGradients(_ layer: any Layer, batch: Int, input: [Float], training: Bool = false,
                         checkInput: Bool = true, epsilon: Float = 1e-2, tolerance: Double = 1e-2,
                         limit: Int = 150, file: StaticString = #filePath, line: UInt = #line) {
    let store = ParameterStore(layout: ParameterLayout(layer.parameterSpecs))
    layer.bind(store)
    for (index, slot) in store.layout.slots.enumerated() {
        let values = randomNormals(slot.count, seed: 500 + UInt64(index), scale: 0.5)
        let target = store.parameters(slot)
        for i in 0..<slot.count { target[i] = slot.role == .scale ? 1 + values[i] : values[i] }
    }
    layer.reserve(batch: batch)
    var input = input
    precondition(input.count == batch * layer.inputCount)
    let projection = randomNormals(batch * layer.outputCount, seed: 77)
    var output = [Float](repeating: 0, count: batch * layer.outputCount)
    let indices = (0..<batch).map { 1000 + 7 * $0 }

    func context(_ indices: UnsafeBufferPointer<Int>) -> PassContext {
        PassContext(training: training, seed: 5, step: 3, sampleIndices: indices.baseAddress)
    }
    func objective() -> Double {
        indices.withUnsafeBufferPointer { indices in
            input.withUnsafeBufferPointer { x in
                output.withUnsafeMutableBufferPointer { y in
                    layer.forward(x.baseAddress!, into: y.baseAddress!, batch: batch, context: context(indices))
                }
            }
        }
        return zip(projection, output).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
    }

    let center = objective()
    var inputGradient = [Float](repeating: .nan, count: batch * layer.inputCount)
    func backward() {
        indices.withUnsafeBufferPointer { indices in
            input.withUnsafeBufferPointer { x in
                output.withUnsafeBufferPointer { y in
                    projection.withUnsafeBufferPointer { r in
                        inputGradient.withUnsafeMutableBufferPointer { dx in
                            layer.backward(input: x.baseAddress!, output: y.baseAddress!, outputGradient: r.baseAddress!,
                                           inputGradient: dx.baseAddress!, batch: batch, context: context(indices))
                        }
                    }
                }
            }
        }
    }
    backward()
    let parameterGradient = store.gradients.array
    backward()
    for i in parameterGradient.indices {
        XCTAssertEqual(store.gradients[i], 2 * parameterGradient[i], accuracy: 1e-5 * max(1, abs(parameterGradient[i])),
                       "\(layer.name): second backward must add, parameter element \(i)", file: file, line: line)
    }
    let analyticInput = inputGradient

    let h = Double(epsilon)
    if checkInput {
        var comparison = DerivativeComparison()
        for i in coordinates(input.count, limit: limit, seed: 1) {
            let saved = input[i]
            input[i] = saved + epsilon
            let plus = objective()
            input[i] = saved - epsilon
            let minus = objective()
            input[i] = saved
            comparison.add(analytic: Double(analyticInput[i]), plus: plus, minus: minus, center: center, epsilon: h)
        }
        comparison.check("\(layer.name) \(type(of: layer)) input gradient", tolerance: tolerance, file: file, line: line)
    }
    for slot in store.layout.slots {
        var comparison = DerivativeComparison()
        let values = store.parameters(slot)
        for i in coordinates(slot.count, limit: limit, seed: 2) {
            let saved = values[i]
            values[i] = saved + epsilon
            let plus = objective()
            values[i] = saved - epsilon
            let minus = objective()
            values[i] = saved
            comparison.add(analytic: Double(parameterGradient[slot.offset + i]), plus: plus, minus: minus, center: center,
                           epsilon: h)
        }
        comparison.check("\(slot.name) gradient", tolerance: tolerance, file: file, line: line)
    }
}
