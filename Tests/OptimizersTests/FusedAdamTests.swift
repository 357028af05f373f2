import Configuration
import Optimizers
import Tensors
import XCTest

/// The fused Adam/AdamW tail (vector kernel over parallel chunks) against the general per-transform path.
final class FusedAdamTests: XCTestCase {
    func testFusedTailAfterPrefixMatchesGeneralPath() {
        // 90 300 elements: above the parallel threshold and not a multiple of the vector width.
        let layout = ParameterLayout([ParameterSpec(name: "weight", shape: [300, 301], role: .weight)])
        func chain(fused: Bool) -> TransformChain {
            let adam = ScaleByAdam(layout: layout, beta1: 0.9, beta2: 0.999, epsilon: 1e-8)
            let step = FusedAdamW(adam: adam, weightDecay: 0.01)
            return TransformChain(name: "adamw", transforms: [WeightDecay(.coupled, weightDecay: 0.1)]
                                      + (fused ? [step] : step.unfused), layout: layout)
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

    /// The catalogue chooses the fused step for AdamW and Adam, and the transforms it stands for where
    /// an update transform follows or a group holds it, with the same state names either way.
    func testCatalogueChoosesTheFusedStepWhereNothingFollows() throws {
        let layout = ParameterLayout([ParameterSpec(name: "weight", shape: [4, 3], role: .weight),
                                      ParameterSpec(name: "bias", shape: [4], role: .bias)])
        func transforms(_ yaml: String) throws -> [any GradientTransform] {
            let optimizer = try OptimizerCatalog.make(section: ConfigSection(ConfigValue.parse(yaml: yaml, source: "test"),
                                                                             path: "optimizer"), layout: layout)
            return try XCTUnwrap(optimizer as? TransformChain).transforms
        }
        XCTAssertTrue(try transforms("name: adamw\n").last is FusedAdamW)
        XCTAssertTrue(try transforms("name: adam\nweight_decay: 0.1\n").last is FusedAdamW, "coupled decay, then the fused step")
        XCTAssertFalse(try transforms("name: adamw\namsgrad: true\n").contains { $0 is FusedAdamW })
        let masked = try transforms("name: adamw\ntransforms: [{name: cautious}]\n")
        XCTAssertFalse(masked.contains { $0 is FusedAdamW }, "an update transform follows: \(masked.map(\.name))")
        XCTAssertEqual(masked.map(\.name), ["adam", "weight_decay", "scale_by_lr", "cautious"])
        let grouped = try transforms("name: adamw\ngroups: [{params: 'role:bias', weight_decay: 0.0}]\n")
        XCTAssertEqual(grouped.map(\.name), ["groups"])
        XCTAssertEqual(try transforms("name: adamw\n").flatMap(\.state).map(\.name), ["adam.m", "adam.v"])
    }
}
