import Benchmarks
import Tensors
import XCTest

import Layers

final class ModelBenchmarkTests: XCTestCase {
    /// Throughput, and with `profileLayers` one row per layer whose times add up to no more than a pass.
    func testThroughputAndLayerTimes() throws {
        let spec = ModelSpec.cnn(channels: [4], dense: [8], dropout: 0.25)
        let plain = try ModelBenchmark.run(spec: spec, inputShape: [1, 8, 8], classes: 3, batch: 20, seconds: 0.05)
        XCTAssertGreaterThan(plain.samplesPerSecond, 0)
        XCTAssertGreaterThan(plain.gflops, 0)
        XCTAssertTrue(plain.layers.isEmpty)

        let profiled = try ModelBenchmark.run(spec: spec, inputShape: [1, 8, 8], classes: 3, batch: 20, seconds: 0.05,
                                              profileLayers: true)
        let model = try Model(spec: spec, inputShape: [1, 8, 8], classes: 3)
        XCTAssertEqual(profiled.layers.map(\.name), model.network.layers.map(\.name))
        XCTAssertEqual(profiled.layers.first?.kind, "Conv2d")
        XCTAssertEqual(profiled.layers.last?.outputShape, [3])
        XCTAssertTrue(profiled.layers.allSatisfy { $0.forward >= 0 && $0.backward >= 0 })
        XCTAssertGreaterThan(profiled.layers[0].forward, 0)
        // The per-layer sum is a part of one pass (20 samples at the measured rate), never more than several.
        let perPass = profiled.layers.reduce(0) { $0 + $1.forward + $1.backward }
        XCTAssertLessThan(perPass, 5 * 1e3 * 20 / profiled.samplesPerSecond)
    }

    /// A GPT's residual blocks are followed by their own layers (depth 1), timed inside the block's
    /// interval, so their times add up to no more than the block's.
    func testResidualBlocksListTheirLayers() throws {
        let spec = ModelSpec.gpt(blockSize: 8, layers: 2, heads: 2, width: 8, bias: true, dropout: 0)
        let result = try ModelBenchmark.run(spec: spec, inputShape: [8], targetsPerSample: 8, classes: 11, batch: 4,
                                            seconds: 0.05, profileLayers: true)
        let model = try Model(spec: spec, inputShape: [8], targetsPerSample: 8, classes: 11)
        XCTAssertEqual(result.layers.filter { $0.depth == 0 }.map(\.name), model.network.layers.map(\.name))
        var blocks = 0
        for (index, row) in result.layers.enumerated() where row.kind == "Residual" {
            guard let block = model.network.layers.first(where: { $0.name == row.name }) as? Residual else {
                return XCTFail("\(row.name) is not a residual block of the model")
            }
            let inner = Array(result.layers[(index + 1)...].prefix { $0.depth == 1 })
            XCTAssertEqual(inner.map(\.name), block.body.layers.map(\.name))
            XCTAssertLessThanOrEqual(inner.reduce(0) { $0 + $1.forward }, row.forward)
            XCTAssertLessThanOrEqual(inner.reduce(0) { $0 + $1.backward }, row.backward)
            blocks += 1
        }
        XCTAssertEqual(blocks, 4, "an attention and an MLP block per layer")
    }
}
