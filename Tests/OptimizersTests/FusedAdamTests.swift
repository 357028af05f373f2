import Optimizers
import Tensors
import XCTest

/// The fused Adam/AdamW tail (vector kernel over parallel chunks) against the general per-transform path.
final class FusedAdamTests: XCTestCase {
    func testFusedTailAfterPrefixMatchesGeneralPath() {
        // 90 300 elements: above the parallel threshold and not a multiple of the vector width.
        let layout = ParameterLayout([ParameterSpec(name: "weight", shape: [300, 301], role: .weight)])
        func chain(fused: Bool) -> TransformChain {
            var transforms: [any GradientTransform] = [
                AddDecayedWeights(name: "l2", weightDecay: 0.1),
                ScaleByAdam(layout: layout, beta1: 0.9, beta2: 0.999, epsilon: 1e-8),
                AddDecayedWeights(weightDecay: 0.01), ScaleByLearningRate(),
            ]
            // A trailing no-op keeps the chain off the fused path without changing its arithmetic.
            if !fused { transforms.append(AddDecayedWeights(name: "noop", weightDecay: 0)) }
            return TransformChain(name: "adamw", transforms: transforms, layout: layout)
        }
        let random = KeyedRandom(11)
        let start = FloatBuffer(count: layout.totalCount)
        for i in 0..<start.count { start[i] = random.uniform(i) * 2 - 1 }
        var results: [[Float]] = []
        for fused in [true, false] {
            let optimizer = chain(fused: fused), parameters = FloatBuffer(start.array)
            for step in 1...5 {
                let gradients = FloatBuffer(count: layout.totalCount)
                for i in 0..<gradients.count { gradients[i] = KeyedRandom(12, UInt64(step)).uniform(i) - 0.5 }
                optimizer.step(parameters: parameters, gradients: gradients,
                               context: StepContext(step: step, learningRate: 0.01, loss: 1))
            }
            results.append(parameters.array)
        }
        var worst: Float = 0
        for (a, b) in zip(results[0], results[1]) { worst = max(worst, abs(a - b) / max(abs(b), 1e-3)) }
        XCTAssertLessThan(worst, 1e-5)
        XCTAssertNotEqual(results[0], start.array)
    }
}
