import Foundation
import TestSupport
import XCTest

/// The gradient noise scale with real processes: the online figure that training records against
/// `bigbatch noise-scale`'s direct measurement at the same fixed parameters, on several
/// decompositions of the global batch; bitwise invariance and an exact resume in the reproducible mode.
final class NoiseScaleTrainingTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("bigbatch-noise-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: directory)
    }

    private func configuration(_ extra: String = "") throws -> URL {
        let url = directory.appendingPathComponent("\(UUID().uuidString.prefix(8)).yaml")
        try """
        model: {kind: mlp, hidden: [64], activation: relu, dropout: 0.2}
        data: {dataset: fashion-mnist, last_batch: drop}
        batch: {global: 256, micro: 32}
        train: {steps: 20, seed: 3, eval_every: 1000}
        optimizer: {name: sgd, lr: 0.05}
        schedule: {decay: constant}
        \(extra)
        """.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    private func steps(in run: URL) throws -> [[String: Any]] { try TrainingRun.stepRecords(in: run) }

    private func train(_ config: URL, _ run: URL, ranks: Int, _ overrides: [String], resume: Bool = false) throws {
        let arguments = ["train", "--config", config.path, "--run-dir", run.path, "--quiet"]
            + (resume ? ["--resume", run.path] : []) + overrides.flatMap { ["--set", $0] }
        let result = try ProcessRunner.run(arguments, ranks: ranks > 1 ? ranks : nil, timeout: 300)
        XCTAssertEqual(result.status, 0, "\(arguments) on \(ranks) ranks: \(result.error)")
    }

    private func direct(_ checkpoint: URL, ranks: Int, batches: Int) throws -> (bSimple: Double, trace: Double, gradSq: Double) {
        let result = try ProcessRunner.run(["noise-scale", "--checkpoint", checkpoint.path, "--small", "32", "--big", "256",
                                            "--batches", "\(batches)", "--json"], ranks: ranks > 1 ? ranks : nil, timeout: 300)
        XCTAssertEqual(result.status, 0, result.error)
        let line = try XCTUnwrap(result.output.split(separator: "\n").last, result.output)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], result.output)
        return (try XCTUnwrap(json["b_simple"] as? Double, "\(json)"), try XCTUnwrap(json["trace"] as? Double),
                try XCTUnwrap(json["grad_sq"] as? Double))
    }

    /// A checkpoint after 20 steps; from it, each decomposition trains 200 more steps with a learning
    /// rate of 10⁻³⁰ (the schedule refuses 0), so the parameters stay where they are (checked) and the
    /// online averages estimate the noise scale of one point. Their averages carry the first 20 steps'
    /// estimates in with weight β²⁰⁰ (restored from the checkpoint, as a resume must); the test takes
    /// them out exactly, from the two runs' recorded averages, before comparing with the direct figure.
    func testOnlineEstimateAgreesWithTheDirectOneOnEveryDecomposition() throws {
        let config = try configuration()
        let start = directory.appendingPathComponent("start")
        try train(config, start, ranks: 1, [])
        let checkpoint = start.appendingPathComponent("final.safetensors")
        let reference = try direct(checkpoint, ranks: 1, batches: 400)
        // The direct batches are drawn from (seed, size, batch) alone: the same on two ranks.
        let split = try direct(checkpoint, ranks: 2, batches: 400)
        XCTAssertEqual(split.bSimple, reference.bSimple, accuracy: 1e-6 * reference.bSimple, "direct on 2 ranks")
        XCTAssertGreaterThan(reference.gradSq, 0)

        let before = try XCTUnwrap(try steps(in: start).last)
        let initial = try TrainingRun.tensors(in: checkpoint)
        let beta = 0.99, old = 1 - pow(beta, 20), decay = pow(beta, 200), whole = 1 - pow(beta, 220)
        func onlyTheFixedSteps(_ key: String, _ after: [String: Any]) throws -> Double {
            let a = try XCTUnwrap(before[key] as? Double), b = try XCTUnwrap(after[key] as? Double)
            return (b * whole - decay * a * old) / (whole - decay * old)
        }
        // One rank, k = 8 (parts: the first micro-batch); 2 and 4 ranks (parts: shares of 128 and 64).
        for ranks in [1, 2, 4] {
            let run = directory.appendingPathComponent("fixed-\(ranks)")
            try FileManager.default.copyItem(at: start, to: run)
            try train(config, run, ranks: ranks, ["train.steps=220", "optimizer.lr=1e-30"], resume: true)
            let after = try XCTUnwrap(try steps(in: run).last)
            XCTAssertEqual(after["step"] as? Int, 220)
            let online = try onlyTheFixedSteps("noise_trace", after) / onlyTheFixedSteps("noise_grad_sq", after)
            XCTAssertEqual(online, reference.bSimple, accuracy: 0.25 * reference.bSimple,
                           "\(ranks) ranks: online B_simple \(online), direct \(reference.bSimple)")
            let final = try TrainingRun.tensors(in: run.appendingPathComponent("final.safetensors"))
            for (name, values) in initial where name.hasPrefix("param.") {
                let moved = zip(values, final[name] ?? []).map { abs($0 - $1) }.max() ?? .infinity
                XCTAssertLessThan(moved, 1e-20, "\(name) moved by \(moved): the parameters were not fixed")
            }
        }
    }

    /// The reproducible mode estimates from its chunks, summed exactly: every decomposition records
    /// the same bits, and a resume on another number of ranks continues them.
    func testTheReproducibleModeRecordsTheSameNoiseScaleOnEveryDecomposition() throws {
        let config = try configuration("distributed: {reproducible: true, chunk: 16}\ncheckpoint: {every: 4}")
        func figures(_ run: URL) throws -> [String] {
            try steps(in: run).map { "\($0["grad_noise_scale"] ?? "missing") \($0["noise_trace"] ?? "") \($0["noise_grad_sq"] ?? "")" }
        }
        let one = directory.appendingPathComponent("one")
        try train(config, one, ranks: 1, ["train.steps=8", "batch.micro=256"])
        let reference = try figures(one)
        XCTAssertEqual(reference.count, 8)
        XCTAssertFalse(reference.contains { $0.hasPrefix("missing") || $0.hasPrefix("<null>") }, "\(reference)")
        // Early in training the signal dominates: a noise scale of a few tens to hundreds of samples, as the float mode measures.
        for record in try steps(in: one) {
            let noise = try XCTUnwrap(record["grad_noise_scale"] as? Double), trace = try XCTUnwrap(record["noise_trace"] as? Double)
            XCTAssertTrue(noise > 1 && noise < 10_000 && trace > 0, "B_simple \(noise), tr Σ \(trace) at step \(record["step"] ?? "?")")
        }
        let three = directory.appendingPathComponent("three")
        try train(config, three, ranks: 3, ["train.steps=8"])
        XCTAssertEqual(try figures(three), reference, "3 ranks × 32 (uneven shares)")

        let broken = directory.appendingPathComponent("broken")
        let failed = try ProcessRunner.run(["train", "--config", config.path, "--run-dir", broken.path, "--quiet",
                                            "--set", "train.steps=8", "--set", "debug.fail_at_step=6"], ranks: 2, timeout: 300)
        XCTAssertNotEqual(failed.status, 0)
        try train(config, broken, ranks: 3, ["train.steps=8"], resume: true)
        XCTAssertEqual(Array(try figures(broken).suffix(4)), Array(reference.suffix(4)), "resumed on 3 ranks from step 4")
    }

    /// Bad arguments get an error naming them; nothing hangs on several ranks.
    func testTheDirectMeasurementRefusesSizesItCannotUse() throws {
        let config = try configuration()
        let start = directory.appendingPathComponent("start")
        try train(config, start, ranks: 1, ["train.steps=2"])
        let checkpoint = start.appendingPathComponent("final.safetensors").path
        let same = try ProcessRunner.run(["noise-scale", "--checkpoint", checkpoint, "--small", "64", "--big", "64"], ranks: 2)
        XCTAssertNotEqual(same.status, 0)
        XCTAssertTrue(same.error.contains("--small 64 must be positive and smaller than --big 64"), same.error)
        let few = try ProcessRunner.run(["noise-scale", "--checkpoint", checkpoint, "--batches", "1"])
        XCTAssertNotEqual(few.status, 0)
        XCTAssertTrue(few.error.contains("--batches 1"), few.error)
    }
}
