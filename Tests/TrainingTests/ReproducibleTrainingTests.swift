import Foundation
import TestSupport
import Training
import XCTest

/// `distributed.reproducible: true`, checked with real processes: every decomposition of the global
/// batch — ranks × micro-batch × accumulation steps, even or uneven shares, any thread count — and a
/// resume on another number of ranks end with **bit-identical** parameters and optimizer state.
final class ReproducibleTrainingTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("bigbatch-reproducible-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: directory)
    }

    /// The MLP of the equivalence tests (ReLU, dropout): with float sums its kinks and Adam's
    /// normalisation make decompositions drift apart; with exact sums nothing can.
    private func configuration(optimizer: String, extra: String = "", reproducible: Bool = true) throws -> URL {
        let url = directory.appendingPathComponent("\(UUID().uuidString.prefix(8)).yaml")
        try """
        model: {kind: mlp, hidden: [48], activation: relu, dropout: 0.2}
        data: {dataset: fashion-mnist, last_batch: drop}
        batch: {global: 256, micro: 256}
        train: {steps: 20, seed: 7, eval_every: 1000, checksum_every: 10}
        optimizer: \(optimizer)
        \(reproducible ? "distributed: {reproducible: true, chunk: 16}" : "")
        \(extra)
        """.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    static let optimizers = [
        ("sgd", "{name: sgd, lr: 0.05, momentum: 0.9, weight_decay: 0.0001}"),
        ("adamw", "{name: adamw, lr: 0.002, weight_decay: 0.01}"),
        ("adalo", "{name: adalo}"),
        ("lamb", "{name: lamb, lr: 0.01, weight_decay: 0.01}"),
        ("adafactor", "{name: adafactor, lr: 0.01}"),
    ]

    /// (ranks, micro-batch, BLAS threads) against 1 × 256 on one thread: k = 8, 4, 4; 3 ranks hold 6, 5
    /// and 5 chunks of 16 (uneven); one rank on two threads computes two chunks at a time.
    static let decompositions = [(1, 32, 1), (2, 32, 1), (4, 16, 1), (3, 32, 1), (1, 64, 2)]

    private var runs = 0

    private func train(_ config: URL, ranks: Int, micro: Int, threads: Int = 1, _ extra: [String] = [],
                       run name: String? = nil, resume: Bool = false) throws -> [String: [Float]] {
        runs += 1
        return try TrainingRun.finalTensors(config: config, runDirectory: directory.appendingPathComponent(name ?? "run-\(runs)"),
                                            ranks: ranks, overrides: ["batch.micro=\(micro)"] + extra, resume: resume,
                                            environment: ["OPENBLAS_NUM_THREADS": "\(threads)"])
    }

    private func assertBitwiseEqual(_ a: [String: [Float]], _ b: [String: [Float]], _ label: String,
                                    file: StaticString = #filePath, line: UInt = #line) {
        TrainingRun.assertBitwiseEqual(a, b, label, file: file, line: line)
    }

    func testEveryDecompositionIsBitwiseIdentical() throws {
        for (name, optimizer) in Self.optimizers {
            let config = try configuration(optimizer: optimizer)
            let reference = try train(config, ranks: 1, micro: 256)
            XCTAssertNotNil(reference["reproducible.exponents"])
            for (ranks, micro, threads) in Self.decompositions {
                let state = try train(config, ranks: ranks, micro: micro, threads: threads)
                assertBitwiseEqual(state, reference, "\(name): \(ranks) ranks × micro \(micro) × \(threads) threads")
            }
        }
    }

    /// Chunks of 64, larger than most of these micro-batches (each micro-step then holds one chunk): the
    /// same decompositions — 4 ranks × 16, 3 ranks sharing 4 chunks 2 + 1 + 1 — are still the same bits,
    /// so a chunk can be chosen for speed without giving up small per-rank batches.
    func testChunksLargerThanTheMicroBatchAreBitwiseIdentical() throws {
        let config = try configuration(optimizer: Self.optimizers[1].1)
        let chunk = ["distributed.chunk=64"]
        let reference = try train(config, ranks: 1, micro: 256, chunk)
        for (ranks, micro, threads) in Self.decompositions {
            let state = try train(config, ranks: ranks, micro: micro, threads: threads, chunk)
            assertBitwiseEqual(state, reference, "chunk 64: \(ranks) ranks × micro \(micro) × \(threads) threads")
        }
    }

    /// The default chunk follows the model: 64 images (one row of each dense product apiece), 16 of the
    /// GPT's sequences; the shipped configurations' global batches split into one chunk per rank or more
    /// on the ranks they are launched with here (2), and beyond that the error names the chunk to use.
    func testTheDefaultChunkFollowsTheModel() throws {
        let configs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("configs")
        for (name, chunk) in [("fashion-mlp", 64), ("fashion-cnn", 64), ("gpt-kjv", 16)] {
            let path = configs.appendingPathComponent("\(name).yaml").path
            let exact = try TrainingConfiguration.load(path: path, overrides: ["distributed.reproducible=true"])
            XCTAssertEqual(exact.chunk, chunk, name)
            XCTAssertEqual(try TrainingConfiguration.load(path: path, overrides: []).chunk, 1, name)
            let plan = try exact.batchPlan(sampleCount: 60_000, worldSize: 2)
            XCTAssertEqual(plan.chunk, chunk, name)
        }
        let mlp = try TrainingConfiguration.load(path: configs.appendingPathComponent("fashion-mlp.yaml").path,
                                                 overrides: ["distributed.reproducible=true"])
        XCTAssertThrowsError(try mlp.batchPlan(sampleCount: 60_000, worldSize: 4)) { error in
            XCTAssertTrue("\(error)".contains("use distributed.chunk 32 or less"), "\(error)")
        }
    }

    /// Without the mode the same decompositions are not bit-identical: the assertion above is not
    /// vacuous on this data.
    func testTheDefaultModeDiffersInTheLastBits() throws {
        let config = try configuration(optimizer: Self.optimizers[1].1, reproducible: false)
        let exact = try train(config, ranks: 1, micro: 256)
        let split = try train(config, ranks: 2, micro: 32)
        let differing = exact.keys.filter { exact[$0].map { $0.map(\.bitPattern) } != split[$0].map { $0.map(\.bitPattern) } }
        XCTAssertFalse(differing.isEmpty, "float sums happened to agree bit for bit")
    }

    /// Checkpointed on 2 ranks, resumed on 3 and on 1: bit-identical to the uninterrupted run (the
    /// fixed-point bounds travel in the checkpoint).
    func testResumeOnAnotherNumberOfRanksIsBitwiseIdentical() throws {
        let config = try configuration(optimizer: Self.optimizers[1].1, extra: "checkpoint: {every: 10, keep: 3}")
        let whole = try train(config, ranks: 2, micro: 32)
        let broken = directory.appendingPathComponent("broken")
        let failed = try ProcessRunner.run(["train", "--config", config.path, "--run-dir", broken.path, "--quiet",
                                            "--set", "batch.micro=32", "--set", "debug.fail_at_step=15"], ranks: 2,
                                           timeout: 300)
        XCTAssertNotEqual(failed.status, 0)
        for ranks in [3, 1] {
            let copy = directory.appendingPathComponent("resumed-\(ranks)")
            try FileManager.default.copyItem(at: broken, to: copy)
            let resumed = try train(config, ranks: ranks, micro: 32, run: copy.lastPathComponent, resume: true)
            assertBitwiseEqual(resumed, whole, "resumed on \(ranks) ranks")
        }
    }

    /// Inputs scaled up 10⁵ times make the first step's gradients outgrow the initial fixed-point
    /// bound: the step is computed again with wider bounds (recorded in metrics.jsonl), and the
    /// result is still the same bits for every decomposition.
    func testGradientsBeyondTheBoundAreRecomputedExactly() throws {
        let config = try configuration(optimizer: Self.optimizers[1].1)
        let huge = ["data.normalize.mean=0", "data.normalize.std=0.00001", "train.steps=5"]
        let reference = try train(config, ranks: 1, micro: 256, huge, run: "huge")
        let split = try train(config, ranks: 3, micro: 32, huge)
        assertBitwiseEqual(split, reference, "3 ranks × micro 32 with recomputed steps")
        let metrics = try String(contentsOf: directory.appendingPathComponent("huge/metrics.jsonl"), encoding: .utf8)
        let steps = metrics.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }.filter { $0["type"] as? String == "step" }
        XCTAssertEqual(steps.count, 5)
        XCTAssertGreaterThanOrEqual(steps.first?["recomputed"] as? Int ?? 0, 1, "the first step was not recomputed")
        XCTAssertEqual(steps.last?["recomputed"] as? Int, 0, "bounds did not follow the gradients")
    }

    func testSettingsThatCannotWorkAreClearErrors() throws {
        let config = try configuration(optimizer: Self.optimizers[0].1)
        let run = directory.appendingPathComponent("bad").path
        let notWhole = try ProcessRunner.run(["train", "--config", config.path, "--run-dir", run, "--quiet",
                                              "--set", "batch.micro=24"], timeout: 60)
        XCTAssertNotEqual(notWhole.status, 0)
        XCTAssertTrue(notWhole.error.contains("batch.micro 24 is not a multiple of distributed.chunk 16"), notWhole.error)
        let stray = try ProcessRunner.run(["train", "--config", config.path, "--run-dir", run, "--quiet",
                                           "--set", "distributed.reproducible=false"], timeout: 60)
        XCTAssertNotEqual(stray.status, 0)
        XCTAssertTrue(stray.error.contains("distributed.chunk") && stray.error.contains("reproducible"), stray.error)
        let naive = try ProcessRunner.run(["train", "--config", config.path, "--run-dir", run, "--quiet",
                                           "--set", "debug.naive_accumulation=true"], timeout: 60)
        XCTAssertNotEqual(naive.status, 0)
        XCTAssertTrue(naive.error.contains("debug.naive_accumulation"), naive.error)
    }
}
