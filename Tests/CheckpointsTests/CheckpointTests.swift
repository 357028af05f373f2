import Foundation
import Tensors
import XCTest
@testable import Checkpoints

final class CheckpointTests: XCTestCase {
    static func sampleLayout() -> ParameterLayout {
        ParameterLayout([
            ParameterSpec(name: "embed.table", shape: [7, 3], role: .embedding),
            ParameterSpec(name: "dense.weight", shape: [4, 3], role: .weight),
            ParameterSpec(name: "dense.bias", shape: [4], role: .bias),
            ParameterSpec(name: "norm.scale", shape: [], role: .scale),
        ])
    }

    static func randomBuffer(_ count: Int) -> FloatBuffer {
        FloatBuffer((0..<count).map { _ in Float.random(in: -3...3) })
    }

    func testParametersAndOptimizerStateRoundTripThroughADirectory() throws {
        let layout = Self.sampleLayout()
        let parameters = Self.randomBuffer(layout.totalCount)
        let moments = Self.randomBuffer(layout.totalCount)
        // Bit patterns a lossy path would alter.
        for (index, bits) in SafeTensorsFormatTests.trickyFloatBits.enumerated() {
            parameters[index] = Float(bitPattern: bits)
        }
        var checkpoint = Checkpoint(metadata: ["step": "100", "config": "abc123"])
        checkpoint.tensors += Checkpoint.tensors(from: layout, buffer: parameters, prefix: Checkpoint.parameterPrefix)
        checkpoint.tensors += Checkpoint.tensors(from: layout, buffer: moments, prefix: "adam.m.")
        checkpoint.append("adam.step", shape: [1], from: FloatBuffer([100]))
        XCTAssertEqual(checkpoint.tensors.map(\.name).prefix(4),
                       ["param.embed.table", "param.dense.weight", "param.dense.bias", "param.norm.scale"])

        let directory = CheckpointDirectory(url: try makeTemporaryDirectory(self).appendingPathComponent("run"), keep: 2)
        try directory.preflight()
        let url = try directory.save(checkpoint, step: 100)
        XCTAssertEqual(url.lastPathComponent, "checkpoint-00000100.safetensors")
        XCTAssertEqual(directory.latest(), url)

        let loaded = try Checkpoint.read(from: url)
        XCTAssertEqual(loaded.metadata, ["step": "100", "config": "abc123"])
        XCTAssertEqual(loaded.source, url.path)
        let restoredParameters = FloatBuffer(count: layout.totalCount)
        let restoredMoments = FloatBuffer(count: layout.totalCount)
        try loaded.restore(into: restoredParameters, layout: layout, prefix: Checkpoint.parameterPrefix)
        try loaded.restore(into: restoredMoments, layout: layout, prefix: "adam.m.")
        XCTAssertEqual(restoredParameters.array.map(\.bitPattern), parameters.array.map(\.bitPattern))
        XCTAssertEqual(restoredMoments.array.map(\.bitPattern), moments.array.map(\.bitPattern))
        XCTAssertEqual(try loaded.floats("adam.step", shape: [1]), [100])
        let bias = FloatBuffer(count: 4)
        try loaded.load("param.dense.bias", shape: [4], into: bias)
        XCTAssertEqual(bias.array, Array(parameters.array[33..<37]))
    }

    func testShapeMismatchNamesTensorExpectedAndFoundAndLeavesBufferUntouched() throws {
        let layout = Self.sampleLayout()
        let url = try makeTemporaryDirectory(self).appendingPathComponent("c.safetensors")
        try Checkpoint(tensors: Checkpoint.tensors(from: layout, buffer: Self.randomBuffer(layout.totalCount), prefix: "param."))
            .write(to: url)
        let loaded = try Checkpoint.read(from: url)

        let changed = ParameterLayout([
            ParameterSpec(name: "embed.table", shape: [7, 3], role: .embedding),
            ParameterSpec(name: "dense.weight", shape: [3, 4], role: .weight),
            ParameterSpec(name: "dense.bias", shape: [4], role: .bias),
            ParameterSpec(name: "norm.scale", shape: [], role: .scale),
        ])
        let destination = FloatBuffer(count: changed.totalCount)
        destination.fill(42)
        assertCheckpointError({ () throws(CheckpointError) in
            try loaded.restore(into: destination, layout: changed, prefix: "param.")
        }, path: url.path) { $0 == .shapeMismatch(path: url.path, tensor: "param.dense.weight", expected: [3, 4], found: [4, 3]) }
        XCTAssertTrue(destination.array.allSatisfy { $0 == 42 }, "a failed restore must not write")
        XCTAssertTrue(CheckpointError.shapeMismatch(path: url.path, tensor: "param.dense.weight", expected: [3, 4], found: [4, 3])
            .description.contains("param.dense.weight' has shape [4, 3], expected [3, 4]"))

        assertCheckpointError({ () throws(CheckpointError) in
            try loaded.load("param.dense.bias", shape: [2, 2], into: FloatBuffer(count: 4))
        }, path: url.path) { $0 == .shapeMismatch(path: url.path, tensor: "param.dense.bias", expected: [2, 2], found: [4]) }
    }

    func testRestoreRejectsMissingExtraAndNonFloatTensors() throws {
        let layout = Self.sampleLayout()
        let buffer = Self.randomBuffer(layout.totalCount)
        var checkpoint = Checkpoint(tensors: Checkpoint.tensors(from: layout, buffer: buffer, prefix: "param."))
        let source = checkpoint.source
        let destination = FloatBuffer(count: layout.totalCount)

        var missing = checkpoint
        missing.tensors.removeAll { $0.name == "param.dense.bias" }
        assertCheckpointError({ () throws(CheckpointError) in try missing.restore(into: destination, layout: layout, prefix: "param.") },
                              path: source) { $0 == .missingTensor(path: source, name: "param.dense.bias") }

        var extra = checkpoint
        extra.append("param.head.weight", shape: [1], floats: [1])
        assertCheckpointError({ () throws(CheckpointError) in try extra.restore(into: destination, layout: layout, prefix: "param.") },
                              path: source) { $0 == .unexpectedTensor(path: source, name: "param.head.weight") }

        checkpoint.tensors.removeAll { $0.name == "param.norm.scale" }
        checkpoint.tensors.append(TensorRecord(name: "param.norm.scale", dtype: .float64, shape: [], bytes: doubleBytes([1])))
        assertCheckpointError({ () throws(CheckpointError) in try checkpoint.restore(into: destination, layout: layout, prefix: "param.") },
                              path: source) { $0 == .dtypeMismatch(path: source, tensor: "param.norm.scale", expected: .float32, found: .float64) }
        XCTAssertTrue(destination.array.allSatisfy { $0 == 0 })
    }

    func testUnknownOrMissingFormatVersionIsRefused() throws {
        let directory = try makeTemporaryDirectory(self)
        for format in ["bigbatch-checkpoint-2", nil] as [String?] {
            let url = directory.appendingPathComponent("v-\(format ?? "none").safetensors")
            var metadata = ["step": "1"]
            metadata["format"] = format
            try SafeTensorsFile(metadata: metadata, tensors: [TensorRecord(name: "param.x", shape: [1], floats: [1])]).write(to: url)
            assertCheckpointError({ () throws(CheckpointError) in _ = try Checkpoint.read(from: url) }, path: url.path) {
                $0 == .unsupportedFormat(path: url.path, found: format)
            }
        }
        // The version is written by the checkpoint itself.
        let url = directory.appendingPathComponent("current.safetensors")
        try Checkpoint(metadata: ["step": "1"]).write(to: url)
        XCTAssertEqual(try SafeTensorsFile.read(from: url).metadata, ["step": "1", "format": Checkpoint.formatVersion])
    }
}
