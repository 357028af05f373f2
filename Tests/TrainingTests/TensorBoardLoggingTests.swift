import Checkpoints
import Configuration
import Distributed
import Foundation
import Reporting
import TestSupport
import Training
import XCTest

/// A training run's TensorBoard events, read back by TensorBoard's own Python reader.
final class TensorBoardLoggingTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("bigbatch-tensorboard-\(UUID().uuidString)")
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
        logging: {histogram_every: 2}
        """.write(to: url, atomically: true, encoding: .utf8)
        return try TrainingConfiguration.load(path: url.path, overrides: overrides)
    }

    private func train(_ configuration: TrainingConfiguration, run: String, resume: Bool = false) throws {
        let runDirectory = directory.appendingPathComponent(run)
        let session = try TrainingSession(configuration: configuration, world: LocalCommunicator(),
                                          runDirectory: runDirectory, resume: resume ? runDirectory : nil, quiet: true)
        _ = try session.run()
    }

    /// The parameter tensors of a run and their element counts, from its final checkpoint.
    private func parameterCounts(_ run: String) throws -> [String: Int] {
        let checkpoint = try Checkpoint.read(from: directory.appendingPathComponent("\(run)/final.safetensors"))
        var counts: [String: Int] = [:]
        for tensor in checkpoint.tensors where tensor.name.hasPrefix(Checkpoint.parameterPrefix) {
            counts[String(tensor.name.dropFirst(Checkpoint.parameterPrefix.count))] = tensor.shape.reduce(1, *)
        }
        return counts
    }

    func testRunEventsReadBackInTensorBoard() throws {
        try train(configuration(), run: "run")
        let view = try TensorBoardReader.read(directory.appendingPathComponent("run"))
        XCTAssertEqual(view.files.count, 1)
        XCTAssertTrue(view.files[0].crcOK)
        XCTAssertEqual(view.files[0].trailingBytes, 0)
        XCTAssertEqual(view.files[0].records, view.files[0].loaded)

        for tag in ["train/loss", "train/learning_rate", "train/gradient_norm", "train/samples_per_second",
                    "time/compute_seconds", "time/communication_seconds", "time/optimizer_seconds", "time/data_seconds"] {
            XCTAssertEqual(view.scalars[tag]?.map { Int($0[0]) }, Array(1...8), "one point per step for \(tag)")
        }
        let metrics = try RunMetrics.read(from: directory.appendingPathComponent("run/metrics.jsonl"))
        XCTAssertEqual(view.scalars["train/loss"]?.map { $0[1] } ?? [],
                       metrics.steps.map { Double(Float($0.loss)) }, "the logged losses, as float32")
        // The noise scale wherever metrics.jsonl has one (one rank, k = 4: from the first micro-batch).
        let noise = metrics.steps.filter { $0.gradientNoiseScale != nil }
        XCTAssertFalse(noise.isEmpty)
        XCTAssertEqual(view.scalars["train/grad_noise_scale"]?.map { Int($0[0]) } ?? [], noise.map(\.step))
        XCTAssertEqual(view.scalars["train/grad_noise_scale"]?.map { $0[1] } ?? [],
                       noise.map { Double(Float($0.gradientNoiseScale!)) })
        XCTAssertNil(view.scalars["train/adascale_gain"], "no AdaScale configured")
        XCTAssertEqual(view.scalars["eval/loss"]?.map { Int($0[0]) }, [4, 8])
        XCTAssertEqual(view.scalars["eval/accuracy"]?.last?[1] ?? -1, Double(Float(metrics.evaluations.last!.testAccuracy)))

        let counts = try parameterCounts("run")
        XCTAssertFalse(counts.isEmpty)
        let expectedTags = Set(counts.keys.flatMap { ["parameters/\($0)", "gradients/\($0)"] })
        XCTAssertEqual(Set(view.histograms.keys), expectedTags)
        for (name, count) in counts {
            for tag in ["parameters/\(name)", "gradients/\(name)"] {
                let points = try XCTUnwrap(view.histograms[tag])
                XCTAssertEqual(points.map(\.step), [2, 4, 6, 8], tag)
                for point in points {
                    XCTAssertEqual(point.bucketSum, Double(count), "\(tag) at \(point.step): buckets sum to the elements")
                    XCTAssertEqual(point.num, Double(count))
                }
            }
        }
        let text = try XCTUnwrap(view.texts["configuration"]?.first)
        XCTAssertEqual(text.step, 1)
        XCTAssertTrue(text.text.contains("histogram_every: 2"), text.text)

        let magnitudes = try GradientMagnitudes.read(from: directory.appendingPathComponent("run/gradients.jsonl"))
        XCTAssertEqual(magnitudes.count, 4 * counts.count)
        for record in magnitudes { XCTAssertEqual(record.total, counts[record.tensor], record.tensor) }
    }

    /// A run killed at step 5 and resumed from its step-3 checkpoint: each step shows once, in
    /// TensorBoard and to a reader that purges nothing.
    func testResumedRunShowsEachStepOnce() throws {
        XCTAssertThrowsError(try train(configuration(["debug.fail_at_step=5"]), run: "run"))
        let before = try TensorBoardReader.read(directory.appendingPathComponent("run"))
        XCTAssertEqual(before.rawScalarSteps["train/loss"], Array(1...5))
        try train(configuration(), run: "run", resume: true)
        let view = try TensorBoardReader.read(directory.appendingPathComponent("run"))
        XCTAssertEqual(view.files.count, 2)
        XCTAssertTrue(view.files.allSatisfy(\.crcOK))
        XCTAssertEqual(view.rawScalarSteps["train/loss"], Array(1...8))
        XCTAssertEqual(view.scalars["train/loss"]?.map { Int($0[0]) }, Array(1...8))
        XCTAssertEqual(view.scalars["eval/loss"]?.map { Int($0[0]) }, [4, 8])
        XCTAssertEqual(view.histograms.values.first?.map(\.step), [2, 4, 6, 8])
        XCTAssertEqual(view.sessionStarts, [4])
        XCTAssertEqual(view.texts["configuration"]?.map(\.step), [1, 4])

        let magnitudes = try GradientMagnitudes.read(from: directory.appendingPathComponent("run/gradients.jsonl"))
        let steps = Dictionary(grouping: magnitudes, by: \.tensor).mapValues { $0.map(\.step) }
        XCTAssertTrue(steps.values.allSatisfy { $0 == [2, 4, 6, 8] }, "\(steps)")
    }

    func testTensorBoardCanBeTurnedOffAndTheSectionIsStrict() throws {
        try train(configuration(["logging.tensorboard=false", "logging.histogram_every=0"]), run: "quiet")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("quiet").path)
        XCTAssertFalse(files.contains { $0.contains("tfevents") || $0 == "gradients.jsonl" }, "\(files)")
        XCTAssertThrowsError(try configuration(["logging.histogram_evry=5"])) { error in
            guard case .unknownKey(let key, let suggestion, _)? = error as? ConfigError else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(key, "logging.histogram_evry")
            XCTAssertEqual(suggestion, "logging.histogram_every")
        }
        XCTAssertThrowsError(try configuration(["logging.histogram_every=-1"]))
    }
}
