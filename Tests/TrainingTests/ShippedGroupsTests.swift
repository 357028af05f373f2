import Configuration
import Foundation
import Layers
import Optimizers
import Tensors
import Training
import XCTest

/// The shipped GPT configuration's parameter groups against the GPT's own parameters: AdamW's weight
/// decay reaches the matrices and embeddings, never a bias or a LayerNorm gain (GPT-2 / nanoGPT).
final class ShippedGroupsTests: XCTestCase {
    func testGPTConfigDecaysMatricesOnly() throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("configs/gpt-kjv.yaml")
        let configuration = try TrainingConfiguration.load(path: file.path, overrides: [])
        let model = try Model(spec: configuration.model, inputShape: [128], targetsPerSample: 128, classes: 256)
        let optimizer = try OptimizerCatalog.make(section: ConfigSection(configuration.optimizerTree, path: "optimizer"),
                                                  layout: model.layout)
        // With a zero gradient Adam's direction is 0, so a step is the decay alone: p ← p(1 − lr·λ).
        let parameters = FloatBuffer(count: model.layout.totalCount)
        for i in 0..<parameters.count { parameters[i] = 1 }
        optimizer.step(parameters: parameters, gradients: FloatBuffer(count: parameters.count),
                       context: StepContext(step: 1, learningRate: 1e-3, loss: 1))
        var decayed = 0, spared = 0
        for slot in model.layout.slots {
            let values = Set(parameters.array[slot.range])
            if slot.role == .bias || slot.role == .scale {
                XCTAssertEqual(values, [1], slot.name)
                spared += 1
            } else {
                XCTAssertEqual(values, [1 - 1e-3 * 0.1], slot.name)
                decayed += 1
            }
        }
        // 4 blocks: 2 LayerNorms (gain and bias) and 4 Linears (matrix and bias) each; the final
        // LayerNorm; the two embeddings.
        XCTAssertEqual(spared, 4 * 8 + 2)
        XCTAssertEqual(decayed, 4 * 4 + 2)
    }
}
