import Foundation
import Optimizers
import Configuration
import TestSupport
@testable import Training
import XCTest

/// AdaScale: the gain ratio from the smoothed noise estimates, the base schedule followed in
/// progress, and — with real processes — S = 1 equal to the unscaled run bit for bit, a scaled run
/// that ends when its progress reaches the base schedule, and an exact resume.
final class AdaScaleTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("bigbatch-adascale-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: directory)
    }

    func testTheGainRatio() {
        let scaled = AdaScale(baseBatch: 32, globalBatch: 256, baseSteps: 100)
        XCTAssertEqual(scaled.scale, 8)
        // tr Σ = 64 per item and 256 items: σ² of a base batch of 32 is 2; μ² = 1 → r = 3 / (2/8 + 1).
        let estimate = GradientNoiseEstimate(gradientSquared: 1, trace: 64)
        XCTAssertEqual(scaled.gain(estimate, items: 256), 3 / 1.25, accuracy: 1e-15)
        XCTAssertEqual(scaled.gain(GradientNoiseEstimate(gradientSquared: 1, trace: 0), items: 256), 1, "no noise: no gain")
        XCTAssertEqual(scaled.gain(GradientNoiseEstimate(gradientSquared: 1e-12, trace: 64), items: 256), 8, accuracy: 1e-9,
                       "pure noise: the full scale")
        XCTAssertEqual(scaled.gain(GradientNoiseEstimate(gradientSquared: -1, trace: 64), items: 256), 8,
                       "a signal estimate at or below 0 is the noise-dominated limit")
        XCTAssertEqual(scaled.gain(GradientNoiseEstimate(gradientSquared: 1, trace: -5), items: 256), 1, "clamped into [1, S]")
        XCTAssertEqual(scaled.gain(nil, items: 256), 1, "no estimate yet")
        let unscaled = AdaScale(baseBatch: 256, globalBatch: 256, baseSteps: 100)
        for trace in [0.0, 1e-3, 17, 1e9] {
            XCTAssertEqual(unscaled.gain(GradientNoiseEstimate(gradientSquared: 0.37, trace: trace), items: 250), 1)
        }
    }

    /// The fractional schedule AdaScale follows has, at whole steps, the bits of the step schedule.
    func testTheScheduleAtWholeStepsIsTheStepSchedule() throws {
        for decay in ["constant", "cosine", "linear", "wsd"] {
            let tree = try ConfigValue.parse(yaml: "{warmup_steps: 7, decay: \(decay), min_lr_ratio: 0.1}", source: "test")
            let schedule = try Schedule(section: ConfigSection(tree, path: "schedule"), baseLearningRate: 0.01,
                                        globalBatch: 256, totalSteps: 113)
            for step in 1...120 {
                XCTAssertEqual(schedule.learningRate(at: Double(step)).bitPattern, schedule.learningRate(step: step).bitPattern,
                               "\(decay) at step \(step)")
            }
            XCTAssertLessThan(schedule.learningRate(at: 3.5), schedule.learningRate(at: 4), "\(decay): warm-up between steps")
        }
    }

    private func configuration(_ schedule: String, steps: Int = 40) throws -> URL {
        let url = directory.appendingPathComponent("\(UUID().uuidString.prefix(8)).yaml")
        try """
        model: {kind: mlp, hidden: [48], activation: relu, dropout: 0.2}
        data: {dataset: fashion-mnist, last_batch: drop}
        batch: {global: 256, micro: 32}
        train: {steps: \(steps), seed: 5, eval_every: 1000, checksum_every: 10}
        optimizer: {name: sgd, lr: 0.05, momentum: 0.9}
        schedule: \(schedule)
        checkpoint: {every: 10, keep: 5}
        """.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    private func steps(in run: URL) throws -> [[String: Any]] { try TrainingRun.stepRecords(in: run) }

    func testAtScaleOneTheRunIsTheUnscaledOneBitForBit() throws {
        let plain = directory.appendingPathComponent("plain"), scaled = directory.appendingPathComponent("scaled")
        let unscaled = try TrainingRun.finalTensors(config: configuration("{decay: cosine, warmup_steps: 5}"),
                                                    runDirectory: plain, ranks: 2)
        let withGain = try TrainingRun.finalTensors(config: configuration("{decay: cosine, warmup_steps: 5, adascale: {base_batch: 256}}"),
                                                    runDirectory: scaled, ranks: 2)
        TrainingRun.assertBitwiseEqual(withGain, unscaled, "adascale at S = 1")
        let records = try steps(in: scaled)
        XCTAssertEqual(records.count, 40)
        for record in records {
            XCTAssertEqual(record["gain_ratio"] as? Double, 1)
            XCTAssertEqual(record["progress"] as? Double, Double(record["step"] as? Int ?? -1))
        }
        XCTAssertTrue(try steps(in: plain).allSatisfy { $0["gain_ratio"] == nil }, "no gain recorded without AdaScale")
    }

    /// S = 8 on a base schedule of 40 steps: each step's learning rate is its gain times the base rate,
    /// the progress sums the gains, and the run ends at the first step whose progress reaches 40.
    func testAScaledRunFollowsTheBaseScheduleInProgress() throws {
        let run = directory.appendingPathComponent("scaled")
        _ = try TrainingRun.finalTensors(config: configuration("{decay: constant, adascale: {base_batch: 32}}"),
                                         runDirectory: run, ranks: 2)
        let records = try steps(in: run)
        XCTAssertLessThan(records.count, 40, "gains above 1 shorten the run")
        var progress = 0.0
        for record in records {
            let gain = try XCTUnwrap(record["gain_ratio"] as? Double), lr = try XCTUnwrap(record["lr"] as? Double)
            XCTAssertTrue((1...8).contains(gain), "gain \(gain) outside [1, S]")
            XCTAssertEqual(lr, gain * 0.05, accuracy: 1e-7 * gain * 0.05, "step \(record["step"] ?? "?")")
            XCTAssertLessThan(progress, 40, "a step after the base schedule ended")
            progress += gain
            XCTAssertEqual(try XCTUnwrap(record["progress"] as? Double), progress, accuracy: 1e-9 * progress)
        }
        XCTAssertGreaterThanOrEqual(progress, 40)
        XCTAssertGreaterThan(records.map { $0["gain_ratio"] as? Double ?? 0 }.max() ?? 0, 1.2, "the gains were never above 1")
    }

    /// A run broken after a checkpoint and resumed continues with its progress (checkpoint metadata)
    /// and noise averages: the same bits as the uninterrupted run.
    func testAResumedRunContinuesItsProgressExactly() throws {
        let config = try configuration("{decay: cosine, adascale: {base_batch: 64}}", steps: 60)
        let whole = try TrainingRun.finalTensors(config: config, runDirectory: directory.appendingPathComponent("whole"), ranks: 2)
        let broken = directory.appendingPathComponent("broken")
        let failed = try ProcessRunner.run(["train", "--config", config.path, "--run-dir", broken.path, "--quiet",
                                            "--set", "debug.fail_at_step=15"], ranks: 2, timeout: 300)
        XCTAssertNotEqual(failed.status, 0)
        let resumed = try TrainingRun.finalTensors(config: config, runDirectory: broken, ranks: 2, resume: true)
        TrainingRun.assertBitwiseEqual(resumed, whole, "resumed from step 10")
        XCTAssertEqual(try steps(in: broken).last?["progress"] as? Double,
                       try steps(in: directory.appendingPathComponent("whole")).last?["progress"] as? Double)
    }
}
