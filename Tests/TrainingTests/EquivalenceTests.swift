import Checkpoints
import Foundation
import TestSupport
import Training
import XCTest

/// The product's promise, checked with real processes: R ranks × micro-batch b × k accumulation
/// steps train exactly like one batch of R·b·k — with even shares and uneven ones, and across a
/// resume on another number of ranks.
///
/// **The bound is measured, not assumed.** In the default mode a decomposition changes only the
/// order in which float sums are taken, and 30 steps of Adam amplify that rounding wherever a
/// gradient is near zero — by how much depends on the CPU's BLAS kernels (a fixed 1e-5 passed on one
/// machine and sat at 1.5e-5 on another). So each configuration first measures its own noise floor:
/// the one-process run repeated with its batch split over 2 and over 3 threads, which changes the
/// summation order and nothing else. A decomposition is a perturbation of the same kind and size,
/// so it must stay within `amplification` × that floor (measured here: decompositions at 0.3–4× the
/// floor). A real accumulation error is not rounding: averaging micro-batch means is off by more than
/// a thousand times the bound (`testShortLastBatchMatchesSingleProcess`), and a bug in the split, the masks or
/// the reduction by at least one sample's share of a gradient. The floor itself must stay small, so
/// that a thread-count bug cannot widen the bound unnoticed (and `DecompositionMatrixTests` holds the
/// thread splits of smooth models to a fixed bound). Bit-identical training needs the reproducible
/// mode (`ReproducibleTrainingTests`).
final class EquivalenceTests: XCTestCase {
    /// How far above the measured noise floor a decomposition may land.
    static let amplification = 20.0
    /// A floor above this means the thread split itself changes more than rounding.
    static let largestFloor = 1e-4

    /// A small MLP with dropout on real Fashion-MNIST: fast, yet every code path of a step runs.
    func configuration(optimizer: String, extra: String = "") -> String {
        """
        model:
          kind: mlp
          hidden: [48]
          activation: relu
          dropout: 0.2
        data:
          dataset: fashion-mnist
          last_batch: drop
        batch:
          global: 256
          micro: 256
        train:
          steps: 30
          seed: 7
          eval_every: 1000
          checksum_every: 10
        optimizer:
        \(optimizer)
        \(extra)
        """
    }

    static let optimizers: [(name: String, yaml: String)] = [
        ("sgd", "  name: sgd\n  lr: 0.05\n  momentum: 0.9\n  weight_decay: 0.0001"),
        ("adamw", "  name: adamw\n  lr: 0.002\n  weight_decay: 0.01"),
        ("adalo", "  name: adalo"),
    ]

    /// (ranks, micro-batch) decompositions of the global batch 256: even shares, then 3 ranks
    /// (shares 86, 85, 85) and 5 ranks (52, 51, 51, 51, 51; oversubscribed on a small machine).
    static let decompositions = [(1, 32), (2, 32), (4, 16), (3, 32), (5, 32)]

    /// The one-process, one-thread run of `config` and its noise floor: the worst deviation of the
    /// same run on 2 and on 3 threads.
    private func reference(_ config: URL, overrides: [String] = [], label: String) throws
        -> (state: [String: [Float]], bound: Double)
    {
        let runs = try ["1", "2", "3"].map { threads in
            try train(config: config, ranks: 1, overrides: overrides, environment: ["OPENBLAS_NUM_THREADS": threads])
        }
        let floor = max(worstDeviation(runs[1], runs[0]), worstDeviation(runs[2], runs[0]), 1e-8)
        XCTAssertLessThan(floor, Self.largestFloor, "\(label): 2 or 3 threads change the result by \(floor)")
        return (runs[0], Self.amplification * floor)
    }

    func testDecompositionsTrainIdentically() throws {
        for optimizer in Self.optimizers {
            let config = try write(configuration(optimizer: optimizer.yaml), name: "\(optimizer.name).yaml")
            let (reference, bound) = try reference(config, overrides: ["batch.micro=256"], label: optimizer.name)
            for (ranks, micro) in Self.decompositions {
                let parameters = try train(config: config, ranks: ranks, overrides: ["batch.micro=\(micro)"])
                let deviation = worstDeviation(parameters, reference)
                XCTAssertLessThanOrEqual(deviation, bound,
                                         "\(optimizer.name): \(ranks) ranks × micro \(micro) vs 1 × 256 (bound \(bound))")
            }
        }
    }

    /// `distributed.compress: bf16` really sends rounded sums (the result is not the float one) and trains
    /// as well: over 30 AdamW steps on 2 ranks the mean loss of the last 10 steps stays within 2% of the
    /// float reduction's, and test accuracy within a point.
    func testBFloat16CompressionTrainsAlikeButNotExactly() throws {
        let config = try write(configuration(optimizer: Self.optimizers[1].yaml), name: "bf16.yaml")
        func run(_ compress: String) throws -> (state: [String: [Float]], loss: Double, accuracy: Double) {
            let directory = self.directory.appendingPathComponent("compress-\(compress)")
            let state = try TrainingRun.finalTensors(config: config, runDirectory: directory, ranks: 2,
                                                     overrides: ["batch.micro=32", "distributed.compress=\(compress)"])
            let lines = try String(contentsOf: directory.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
                .split(separator: "\n").compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            let losses = lines.filter { $0["type"] as? String == "step" }.compactMap { $0["loss"] as? Double }.suffix(10)
            let accuracy = try XCTUnwrap(lines.last { $0["type"] as? String == "eval" }?["test_accuracy"] as? Double)
            return (state, losses.reduce(0, +) / Double(losses.count), accuracy)
        }
        let float = try run("none"), bf16 = try run("bf16")
        XCTAssertGreaterThan(DecompositionCheck.worstDeviation(bf16.state, from: float.state), 0, "bf16 sums equal float ones")
        XCTAssertEqual(bf16.loss, float.loss, accuracy: 0.02 * float.loss)
        XCTAssertEqual(bf16.accuracy, float.accuracy, accuracy: 0.01)
    }

    /// A global batch of 576 on 4 ranks × micro 16 (k = 9): 60000 = 104 × 576 + 96, so the last batch of
    /// the epoch (step 105) holds 96 samples spread over 36 micro-batches of 2 or 3 — uneven counts.
    static let shortBatchOverrides = ["data.last_batch=keep", "batch.global=576", "train.steps=106", "model.dropout=0.0"]

    /// A short, unevenly spread last global batch still equals one process; averaging per-micro-batch
    /// means — the common accumulation bug — does not, by far more than the bound.
    func testShortLastBatchMatchesSingleProcess() throws {
        let config = try write(configuration(optimizer: Self.optimizers[1].yaml), name: "keep.yaml")
        let (single, bound) = try reference(config, overrides: Self.shortBatchOverrides + ["batch.micro=576"], label: "keep")
        let spread = try train(config: config, ranks: 4, overrides: Self.shortBatchOverrides + ["batch.micro=16"])
        XCTAssertLessThanOrEqual(worstDeviation(spread, single), bound)
        let naive = try train(config: config, ranks: 4, overrides: Self.shortBatchOverrides
                              + ["batch.micro=16", "debug.naive_accumulation=true"])
        XCTAssertGreaterThan(worstDeviation(naive, single), 1000 * bound,
                             "averaging micro-batch means must fail the equivalence check by far")
    }

    /// A run checkpointed on 2 ranks continues on 3 (uneven shares) and on 1, ending where the
    /// uninterrupted run ends; on the same 2 ranks bit for bit.
    func testResumeOnAnotherNumberOfRanks() throws {
        let config = try write(configuration(optimizer: Self.optimizers[1].yaml, extra: "checkpoint: {every: 10, keep: 3}"),
                               name: "resume.yaml")
        let (_, bound) = try reference(config, overrides: ["batch.micro=32"], label: "resume")
        let whole = try train(config: config, ranks: 2, overrides: ["batch.micro=32"])
        let broken = directory.appendingPathComponent("broken")
        let failed = try ProcessRunner.run(["train", "--config", config.path, "--run-dir", broken.path, "--quiet",
                                            "--set", "batch.micro=32", "--set", "debug.fail_at_step=15"], ranks: 2,
                                           timeout: 300)
        XCTAssertNotEqual(failed.status, 0)
        for (ranks, name) in [(2, "same"), (3, "three"), (1, "one")] {
            let copy = directory.appendingPathComponent(name)
            try FileManager.default.copyItem(at: broken, to: copy)
            let resumed = try TrainingRun.finalTensors(config: config, runDirectory: copy, ranks: ranks,
                                                       overrides: ["batch.micro=32"], resume: true)
            if ranks == 2 {
                XCTAssertEqual(resumed, whole, "resumed on the same ranks: not bit-identical")
            } else {
                XCTAssertLessThanOrEqual(worstDeviation(resumed, whole), bound, "resumed on \(ranks) ranks")
            }
        }
    }

    func testSameConfigurationTwiceIsBitwiseIdentical() throws {
        let config = try write(configuration(optimizer: Self.optimizers[1].yaml), name: "twice.yaml")
        let first = try train(config: config, ranks: 2, overrides: ["batch.micro=32"])
        let second = try train(config: config, ranks: 2, overrides: ["batch.micro=32"])
        XCTAssertEqual(first.keys.sorted(), second.keys.sorted())
        for (name, values) in first { XCTAssertEqual(values, second[name], "tensor \(name) differs between runs") }
    }

    // MARK: Helpers

    private lazy var directory: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("bigbatch-equivalence-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    override func tearDown() {
        try? FileManager.default.removeItem(at: directory)
    }

    private func write(_ text: String, name: String) throws -> URL {
        let url = directory.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    private var runCounter = 0

    /// Trains and returns every tensor of `final.safetensors` (parameters and optimizer state).
    private func train(config: URL, ranks: Int, overrides: [String],
                       environment: [String: String] = [:]) throws -> [String: [Float]] {
        runCounter += 1
        let tensors = try TrainingRun.finalTensors(config: config, runDirectory: directory.appendingPathComponent("run-\(runCounter)"),
                                                   ranks: ranks, overrides: overrides, environment: environment)
        XCTAssertFalse(tensors.isEmpty)
        return tensors
    }

    /// max |a − b| / (1 + |b|) over every element of every tensor; tensors missing on one side fail.
    private func worstDeviation(_ a: [String: [Float]], _ b: [String: [Float]]) -> Double {
        XCTAssertEqual(a.keys.sorted(), b.keys.sorted())
        return DecompositionCheck.worstDeviation(a, from: b)
    }
}
