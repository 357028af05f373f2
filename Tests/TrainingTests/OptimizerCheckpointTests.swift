import Checkpoints
import Configuration
import Foundation
import Optimizers
import Tensors
import XCTest

/// Every optimizer's state survives a checkpoint file: stepping on from the restored state gives
/// the same bits as never stopping.
final class OptimizerCheckpointTests: XCTestCase {
    let layout = ParameterLayout([
        ParameterSpec(name: "layers.0.weight", shape: [6, 8], role: .weight),
        ParameterSpec(name: "layers.0.bias", shape: [6], role: .bias),
        ParameterSpec(name: "conv.weight", shape: [4, 2, 3, 3], role: .weight),
    ])

    /// With `grouped`, the biases and the convolution each get a group of their own (the biases at
    /// their own rate), and the remaining weight the top-level settings.
    func makeOptimizer(_ name: String, grouped: Bool = false) throws -> any Optimizer {
        let rate = name == "adalo" ? "" : ", lr: 0.02"
        let groups = grouped ? "groups: [{params: \"role:bias\"\(rate)}, {params: \"conv.*\"}]" : ""
        let yaml = name == "lookahead" ? "name: lookahead\ninner: {name: adamw\(grouped ? ", " + groups : "")}\n"
                                       : "name: \(name)\n\(groups)\n"
        return try OptimizerCatalog.make(section: ConfigSection(ConfigValue.parse(yaml: yaml, source: name),
                                                                path: "optimizer"), layout: layout)
    }

    /// Deterministic gradients that depend on the parameters, so the trajectory is path-dependent.
    func step(_ optimizer: any Optimizer, _ parameters: FloatBuffer, _ t: Int) {
        let gradients = FloatBuffer(count: layout.totalCount)
        let noise = KeyedRandom(11, UInt64(t))
        for i in 0..<layout.totalCount { gradients[i] = parameters[i] - 0.5 + 0.1 * (noise.uniform(i) - 0.5) }
        optimizer.step(parameters: parameters, gradients: gradients,
                       context: StepContext(step: t, learningRate: 0.01, loss: 0.5 / Float(t)))
    }

    func testStateRoundTripsThroughCheckpointFiles() throws {
        try roundTrip(grouped: false)
    }

    /// Parameter groups keep every optimizer's state under stable names through a checkpoint file.
    func testGroupedStateRoundTripsThroughCheckpointFiles() throws {
        try roundTrip(grouped: true)
    }

    private func roundTrip(grouped: Bool) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bigbatch-optstate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        XCTAssertGreaterThanOrEqual(OptimizerCatalog.names.count, 20)
        for name in OptimizerCatalog.names {
            let original = try makeOptimizer(name, grouped: grouped)
            let parameters = FloatBuffer(count: layout.totalCount)
            let start = KeyedRandom(5)
            for i in 0..<layout.totalCount { parameters[i] = start.uniform(i) - 0.5 }
            for t in 1...7 { step(original, parameters, t) }

            var checkpoint = Checkpoint()
            checkpoint.tensors += Checkpoint.tensors(from: layout, buffer: parameters, prefix: Checkpoint.parameterPrefix)
            for tensor in original.state { checkpoint.append("optimizer." + tensor.name, shape: tensor.shape, from: tensor.storage) }
            let file = directory.appendingPathComponent("\(name).safetensors")
            try checkpoint.write(to: file)

            let restored = try makeOptimizer(name, grouped: grouped)
            XCTAssertEqual(restored.state.map(\.name), original.state.map(\.name), name)
            if grouped && !original.state.isEmpty { XCTAssertTrue(restored.state.contains { $0.name.hasPrefix("groups.1.") }, name) }
            let restoredParameters = FloatBuffer(count: layout.totalCount)
            let loaded = try Checkpoint.read(from: file)
            try loaded.restore(into: restoredParameters, layout: layout, prefix: Checkpoint.parameterPrefix)
            for tensor in restored.state { try loaded.load("optimizer." + tensor.name, shape: tensor.shape, into: tensor.storage) }

            for t in 8...12 {
                step(original, parameters, t)
                step(restored, restoredParameters, t)
            }
            XCTAssertEqual(parameters.array.map(\.bitPattern), restoredParameters.array.map(\.bitPattern),
                           "\(name): resumed trajectory differs")
            XCTAssertNotEqual(parameters.array, (0..<layout.totalCount).map { start.uniform($0) - 0.5 }, "\(name) moved")
        }
    }
}
