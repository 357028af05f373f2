import Checkpoints
import Data
import Distributed
import Foundation
import Training
import XCTest

/// Checkpoints record the input normalisation they were trained with, and evaluation uses it.
final class NormalizationRecordTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("bigbatch-normalization-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try FashionMNISTSubset.write(to: directory, trainCount: 512, testCount: 64)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: directory)
    }

    private func configuration(normalize: String) throws -> TrainingConfiguration {
        let url = directory.appendingPathComponent("config-\(UUID().uuidString.prefix(6)).yaml")
        try """
        model: {kind: mlp, hidden: [32]}
        data: {dataset: npy, path: \(directory.path), normalize: \(normalize)}
        batch: {global: 64, micro: 32}
        train: {steps: 6, seed: 5}
        optimizer: {name: adamw, lr: 0.003}
        logging: {tensorboard: false, histogram_every: 0}
        """.write(to: url, atomically: true, encoding: .utf8)
        return try TrainingConfiguration.load(path: url.path, overrides: [])
    }

    func testCheckpointRecordsMeasuredNormalizationAndEvalUsesIt() throws {
        let trained = try configuration(normalize: "auto")
        let run = directory.appendingPathComponent("run")
        _ = try TrainingSession(configuration: trained, world: LocalCommunicator(), runDirectory: run, resume: nil,
                                quiet: true).run()
        let final = run.appendingPathComponent("final.safetensors")
        let checkpoint = try Checkpoint.read(from: final)
        let recorded = try XCTUnwrap(try CheckpointMetadata(reading: checkpoint).normalization)
        let measured = Preprocessing.channelStatistics(try DatasetLoader.load(trained.data, split: .train))
        XCTAssertEqual(recorded, InputNormalization(mean: measured.mean.map { Float($0) }, std: measured.std.map { Float($0) }))
        XCTAssertNotEqual(recorded.mean, [0], "the subset's pixels are not centred")

        // Evaluated under a configuration that says nothing of normalisation, the recorded values still apply.
        let world = LocalCommunicator()
        let asTrained = try CheckpointEvaluation.run(checkpoint: Checkpoint.read(from: final), configuration: trained, world: world)
        let unnormalized = try configuration(normalize: "none")
        let recordedEvaluation = try CheckpointEvaluation.run(checkpoint: Checkpoint.read(from: final), configuration: unnormalized, world: world)
        XCTAssertEqual(recordedEvaluation.loss, asTrained.loss)
        XCTAssertEqual(recordedEvaluation.headline, asTrained.headline)

        // A checkpoint from before the record still loads, and falls back to the configuration.
        var old = Checkpoint(metadata: checkpoint.metadata.filter { !$0.key.hasPrefix("normalize_") })
        for tensor in checkpoint.tensors { old.append(tensor.name, shape: tensor.shape, floats: tensor.floats() ?? []) }
        let oldURL = directory.appendingPathComponent("old.safetensors")
        try old.write(to: oldURL)
        XCTAssertNil(try CheckpointMetadata(reading: try Checkpoint.read(from: oldURL)).normalization)
        let fallback = try CheckpointEvaluation.run(checkpoint: Checkpoint.read(from: oldURL), configuration: unnormalized, world: world)
        XCTAssertNotEqual(fallback.loss, asTrained.loss, "without the record, 'none' is what the configuration says")
        XCTAssertEqual(try CheckpointEvaluation.run(checkpoint: Checkpoint.read(from: oldURL), configuration: trained, world: world).loss,
                       asTrained.loss)
    }

    func testMalformedRecordNamesTheKey() throws {
        func metadata(_ entries: [String: String]) -> Checkpoint { Checkpoint(metadata: entries) }
        XCTAssertEqual(try InputNormalization(reading: metadata(["normalize_mean": "0.5,0.25", "normalize_std": "0.1,0.2"])),
                       InputNormalization(mean: [0.5, 0.25], std: [0.1, 0.2]))
        XCTAssertNil(try InputNormalization(reading: metadata([:])))
        let cases: [([String: String], String)] = [
            (["normalize_mean": "0.5"], "'normalize_std' is missing"),
            (["normalize_std": "0.5"], "'normalize_mean' is missing"),
            (["normalize_mean": "0.5,x", "normalize_std": "1,1"], "'normalize_mean' = '0.5,x' is not a list of numbers"),
            (["normalize_mean": "0.5", "normalize_std": "1,1"], "has 1 values but 'normalize_std' has 2"),
            (["normalize_mean": "0.5", "normalize_std": "0"], "'normalize_std' = '0' has a deviation that is not positive"),
            (["normalize_mean": "0.5", "normalize_std": "nan"], "'normalize_std' = 'nan' is not a list of numbers"),
        ]
        for (entries, message) in cases {
            XCTAssertThrowsError(try InputNormalization(reading: metadata(entries))) { error in
                XCTAssertTrue("\(error)".contains(message), "\(entries): \(error)")
            }
        }
    }
}
