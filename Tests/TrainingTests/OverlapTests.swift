import Foundation
import TestSupport
import Training
import XCTest

/// `distributed.overlap`, with real processes: buckets reduced on a communication thread while the
/// last micro-step's backward goes on give the bits of the blocking reduction, and the metrics tell
/// the time the reductions took from the time the step waited for them.
final class OverlapTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("bigbatch-overlap-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: directory)
    }

    /// Two hidden layers and 0.02 MB buckets: 5,243 floats each, so the first weight spans several
    /// buckets and the later layers' buckets are handed over before backward reaches the first.
    private func configuration(extra: String = "") throws -> URL {
        let url = directory.appendingPathComponent("\(UUID().uuidString.prefix(8)).yaml")
        try """
        model: {kind: mlp, hidden: [48, 32], activation: relu, dropout: 0.2}
        data: {dataset: fashion-mnist, last_batch: drop}
        batch: {global: 192, micro: 32}
        train: {steps: 20, seed: 5, eval_every: 1000, checksum_every: 5}
        optimizer: {name: adamw, lr: 0.003, weight_decay: 0.01}
        distributed: {bucket_mb: 0.02}
        \(extra)
        """.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    private func train(_ config: URL, ranks: Int, _ name: String, _ overrides: [String] = []) throws -> [String: [Float]] {
        try TrainingRun.finalTensors(config: config, runDirectory: directory.appendingPathComponent(name), ranks: ranks,
                                     overrides: overrides)
    }

    /// On 3 ranks the overlapped buckets give the blocking buckets' bits (the same all-reduces, in the
    /// same order); on 2, also those of one all-reduce over the whole buffer (two terms add alike).
    func testOverlapGivesTheBitsOfTheBlockingReduction() throws {
        let config = try configuration()
        for ranks in [2, 3] {
            let overlapped = try train(config, ranks: ranks, "overlap-\(ranks)", ["distributed.overlap=true"])
            let blocking = try train(config, ranks: ranks, "blocking-\(ranks)")
            TrainingRun.assertBitwiseEqual(overlapped, blocking, "\(ranks) ranks: overlapped against blocking buckets")
            // The noise scale too (AdaScale's rate follows it): each rank's squared norm is summed bucket by bucket alike.
            let noise = { (name: String) in try TrainingRun.stepRecords(in: self.directory.appendingPathComponent(name))
                .map { ($0["noise_trace"] as? Double, $0["noise_grad_sq"] as? Double) } }
            let overlappedNoise = try noise("overlap-\(ranks)"), blockingNoise = try noise("blocking-\(ranks)")
            XCTAssertEqual(overlappedNoise.map { $0.0 }, blockingNoise.map { $0.0 }, "\(ranks) ranks: noise_trace")
            XCTAssertEqual(overlappedNoise.map { $0.1 }, blockingNoise.map { $0.1 }, "\(ranks) ranks: noise_grad_sq")
            XCTAssertTrue(overlappedNoise.contains { $0.0 != nil }, "the noise scale is estimated")
            if ranks == 2 {
                let whole = try train(config, ranks: 2, "whole-2", ["distributed.bucket_mb=0"])
                TrainingRun.assertBitwiseEqual(overlapped, whole, "2 ranks: overlapped against one all-reduce")
            }
        }
        // Not vacuous: another decomposition of the same batch does move the last bits.
        let other = try train(config, ranks: 2, "micro-16", ["distributed.overlap=true", "batch.micro=16"])
        let overlapped = try TrainingRun.tensors(in: directory.appendingPathComponent("overlap-2/final.safetensors"))
        XCTAssertTrue(overlapped.contains { name, values in other[name].map { $0.map(\.bitPattern) != values.map(\.bitPattern) } ?? true },
                      "float sums of another decomposition happened to agree bit for bit")
    }

    /// `seconds.exposed` is recorded for every step; with overlap it is at most the communication
    /// (plus the scalars' small reduction, which both include), without it the same.
    func testMetricsSplitCommunicationFromItsExposedPart() throws {
        let config = try configuration()
        for overlap in [true, false] {
            _ = try train(config, ranks: 2, "metrics-\(overlap)", ["distributed.overlap=\(overlap)"])
            let steps = try TrainingRun.stepRecords(in: directory.appendingPathComponent("metrics-\(overlap)"))
            XCTAssertEqual(steps.count, 20)
            for record in steps {
                let seconds = try XCTUnwrap(record["seconds"] as? [String: Double])
                let communication = try XCTUnwrap(seconds["communication"]), exposed = try XCTUnwrap(seconds["exposed"])
                XCTAssertGreaterThan(communication, 0)
                if overlap {
                    XCTAssertGreaterThanOrEqual(exposed, 0)
                } else {
                    XCTAssertEqual(exposed, communication, "without overlap the step waits for all of it")
                }
            }
        }
    }

    /// Settings overlap cannot work with are refused, naming the key and why.
    func testSettingsThatCannotOverlapAreClearErrors() throws {
        let config = try configuration()
        for (overrides, expected) in [
            (["distributed.bucket_mb=0"], "distributed.bucket_mb > 0"),
            (["distributed.compress=bf16"], "distributed.compress"),
            (["distributed.reproducible=true"], "distributed.reproducible"),
            (["distributed.shard_optimizer=true", "distributed.bucket_mb=0.02"], "distributed.bucket_mb"),
        ] {
            let result = try ProcessRunner.run(["train", "--config", config.path, "--run-dir", directory.appendingPathComponent("bad").path,
                                                "--quiet", "--set", "distributed.overlap=true"] + overrides.flatMap { ["--set", $0] },
                                               timeout: 120)
            XCTAssertNotEqual(result.status, 0, "\(overrides)")
            XCTAssertTrue(result.error.contains(expected), "\(overrides): \(result.error)")
        }
    }
}
