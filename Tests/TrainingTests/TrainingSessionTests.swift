import Checkpoints
import Configuration
import Distributed
import Foundation
import Training
import XCTest

/// The run loop in this process, with the one-rank communicator and a small slice of Fashion-MNIST:
/// steps, checkpoints and resume without `mpirun`.
final class TrainingSessionTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("bigbatch-session-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try FashionMNISTSubset.write(to: directory, trainCount: 512, testCount: 64)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: directory)
    }

    private func configuration(_ overrides: [String] = []) throws -> TrainingConfiguration {
        let url = directory.appendingPathComponent("config.yaml")
        try """
        model: {kind: mlp, hidden: [32], dropout: 0.1}
        data: {dataset: npy, path: \(directory.path)}
        batch: {global: 64, micro: 16}
        train: {steps: 8, seed: 3, eval_every: 4}
        optimizer: {name: adamw, lr: 0.003, weight_decay: 0.01}
        schedule: {warmup_steps: 2, decay: cosine}
        checkpoint: {every: 3, keep: 5}
        """.write(to: url, atomically: true, encoding: .utf8)
        return try TrainingConfiguration.load(path: url.path, overrides: overrides)
    }

    private func session(_ configuration: TrainingConfiguration, run: String?, resume: URL? = nil) throws -> TrainingSession {
        try TrainingSession(configuration: configuration, world: LocalCommunicator(),
                            runDirectory: run.map { directory.appendingPathComponent($0) }, resume: resume, quiet: true)
    }

    /// Without a run directory the session only trains, and its state is the same as with one.
    func testRunWithoutDirectoryMatchesRunWithOne() throws {
        let configuration = try configuration()
        let bare = try session(configuration, run: nil)
        let summary = try bare.run()
        XCTAssertEqual(summary.steps, 8)
        XCTAssertEqual(summary.skippedSteps, 0)
        XCTAssertTrue(summary.testAccuracy > 0 && summary.testAccuracy <= 1)
        let kept = try session(configuration, run: "kept")
        _ = try kept.run()
        XCTAssertEqual(try bare.finalState(), try kept.finalState())
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("kept").path)
            .filter { !$0.hasPrefix("events.out.tfevents.") }
        XCTAssertEqual(Set(files), ["config.yaml", "metrics.jsonl", "gradients.jsonl", "final.safetensors",
                                    "checkpoint-00000003.safetensors",
                                    "checkpoint-00000006.safetensors", "checkpoint-00000008.safetensors"])
    }

    /// A run that fails at step 5 resumes from its step-3 checkpoint and ends bit for bit where the
    /// uninterrupted run ends; the checkpoint's metadata says where it stood.
    func testResumeAfterFailureIsBitwiseExact() throws {
        let whole = try session(configuration(), run: "whole")
        _ = try whole.run()
        let broken = try session(configuration(["debug.fail_at_step=5"]), run: "broken")
        XCTAssertThrowsError(try broken.run()) { error in
            XCTAssertEqual(error as? TrainingError, .injectedFailure(rank: 0, step: 5))
        }
        let checkpoint = try Checkpoint.read(from: directory.appendingPathComponent("broken/checkpoint-00000003.safetensors"))
        let metadata = try CheckpointMetadata(reading: checkpoint)
        XCTAssertEqual(metadata.step, 3)
        XCTAssertEqual(metadata.appliedSteps, 3)
        XCTAssertEqual(metadata.globalBatch, 64)
        XCTAssertEqual(metadata.optimizer, "adamw")
        XCTAssertEqual(metadata.worldSize, 1)
        let resumed = try session(configuration(), run: "broken", resume: directory.appendingPathComponent("broken"))
        XCTAssertEqual(resumed.step, 3)
        _ = try resumed.run()
        XCTAssertEqual(try resumed.finalState(), try whole.finalState())
    }

    /// Metadata written and read in one place: a round trip keeps every field, a missing or
    /// malformed field names the file and the key.
    func testMetadataRoundTripAndErrors() throws {
        let metadata = CheckpointMetadata(step: 12, appliedSteps: 11, skippedSteps: 1, epoch: 2, position: 3, seed: 9,
                                          globalBatch: 256, worldSize: 4, configurationHash: "ab12", optimizer: "lamb",
                                          learningRate: 0.0025, version: "0.1.0", elapsed: 31.5)
        XCTAssertEqual(try CheckpointMetadata(reading: Checkpoint(metadata: metadata.strings)), metadata)
        var missing = metadata.strings
        missing["applied_steps"] = nil
        XCTAssertThrowsError(try CheckpointMetadata(reading: Checkpoint(metadata: missing))) { error in
            XCTAssertTrue("\(error)".contains("'applied_steps' is missing or malformed"), "\(error)")
        }
        var malformed = metadata.strings
        malformed["step"] = "twelve"
        XCTAssertThrowsError(try CheckpointMetadata(reading: Checkpoint(metadata: malformed)))
        // The earliest checkpoints of the format had no elapsed time.
        var early = metadata.strings
        early["elapsed"] = nil
        XCTAssertEqual(try CheckpointMetadata(reading: Checkpoint(metadata: early)).elapsed, 0)
        // The run id and the stored configuration came later still: optional on reading, kept on a round trip.
        XCTAssertNil(try CheckpointMetadata(reading: Checkpoint(metadata: metadata.strings)).runID)
        var identified = metadata
        identified.runID = "20250101-000000-abcdef"
        identified.configuration = "model:\n  kind: mlp\n"
        XCTAssertEqual(try CheckpointMetadata(reading: Checkpoint(metadata: identified.strings)), identified)
    }
}
