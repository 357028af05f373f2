import Foundation
import Optimizers
import TestSupport
import Training
import XCTest

/// `distributed.shard_optimizer` (ZeRO stage 1), checked with real processes: every rank keeps the
/// optimizer state of its own range only, yet the run trains like the unsharded one, and its
/// checkpoints do not depend on the number of ranks.
///
/// The table runs in the reproducible mode, where every decomposition computes the same gradient
/// bits, so whatever differs is the sharding's doing: an optimizer over its shard must then give the
/// unsharded bits exactly, except where statistics of the whole model are summed over the shards in
/// another order (a global norm), which may move the last bits.
final class ShardedOptimizerTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("bigbatch-sharded-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: directory)
    }

    /// Two hidden layers with LayerNorm: matrices, biases and norm gains of several sizes, so that
    /// cuts fall between rows of a matrix and between tensors, and groups by role have members.
    private func configuration(optimizer: String = "{name: adamw}", reproducible: Bool = true, extra: String = "") throws -> URL {
        let url = directory.appendingPathComponent("\(UUID().uuidString.prefix(8)).yaml")
        try """
        model: {kind: mlp, hidden: [24, 20], activation: gelu, dropout: 0.1, norm: layernorm}
        data: {dataset: fashion-mnist, last_batch: drop}
        batch: {global: 96, micro: 16}
        train: {steps: 8, seed: 3, eval_every: 1000, checksum_every: 4}
        optimizer: \(optimizer)
        distributed: {shard_optimizer: true\(reproducible ? ", reproducible: true, chunk: 16" : "")}
        \(extra)
        """.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    /// `bigbatch equivalence` on `ranks` ranks: each variant sharded there against the same variant
    /// unsharded on one rank. Returns its report.
    private func equivalence(_ config: URL, ranks: Int, vary: [String] = [], tolerance: Double,
                             file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let arguments = ["equivalence", "--config", config.path, "--tolerance", "\(tolerance)"] + vary.flatMap { ["--vary", $0] }
        let result = try ProcessRunner.run(arguments, ranks: ranks, timeout: 600)
        XCTAssertEqual(result.status, 0, "\(arguments.joined(separator: " ")) on \(ranks) ranks:\n\(result.output)\n\(result.error)",
                       file: file, line: line)
        return result.output
    }

    /// Optimizers whose per-tensor norms are summed over shards that cut a tensor (LAMB's trust ratio,
    /// nSGDA's normalization): the order of those sums moves the last bits, so they are held to 1e-5.
    static let summingPerTensor = ["lamb", "nsgda"]

    /// Every other optimizer of the catalogue with its defaults, on 3 ranks: the same bits as unsharded.
    func testEveryCatalogueOptimizerShardedGivesTheUnshardedBits() throws {
        // Lookahead is a wrapper: below, with its inner optimizer.
        let names = OptimizerCatalog.names.filter { $0 != "lookahead" && !Self.summingPerTensor.contains($0) }
        XCTAssertEqual(names.count + 1 + Self.summingPerTensor.count, OptimizerCatalog.names.count)
        let report = try equivalence(try configuration(), ranks: 3, vary: ["optimizer.name=" + names.joined(separator: ",")],
                                     tolerance: 0)
        XCTAssertTrue(report.contains("equivalence: \(names.count) of \(names.count) decompositions within 0.0"), report)
    }

    /// The wrapper over an inner optimizer, parameter groups by role (the no-decay idiom) and Muon's
    /// own groups, on 2 ranks: the same bits as unsharded.
    func testWrappersAndGroupsShardedGiveTheUnshardedBits() throws {
        let optimizers = [
            "{name: lookahead, k: 3, inner: {optimizer: adamw, lr: 0.003}}",
            "{name: adamw, lr: 0.003, weight_decay: 0.1, groups: [{params: ['role:bias', 'role:scale'], weight_decay: 0.0}]}",
            "{name: muon, groups: [{params: ['role:bias', 'role:scale'], use_muon: false, lr: 0.001}]}",
        ]
        for optimizer in optimizers {
            let report = try equivalence(try configuration(optimizer: optimizer), ranks: 2, tolerance: 0)
            XCTAssertTrue(report.contains("1 of 1 decompositions within 0.0"), "\(optimizer): \(report)")
        }
    }

    /// Global clipping, cautious masking and stable weight decay sum their statistics over the shards
    /// in another order than one sum over the whole buffer: within 1e-5 of unsharded (measured 3e-8).
    /// `ShardingTests` shows that shards using only their own statistics would be far off.
    func testWholeModelStatisticsAreSummedOverTheShards() throws {
        let transforms = "[{name: clip_norm, max_norm: 0.5}, {name: cautious}, {name: swd}]"
        let config = try configuration(optimizer: "{name: adamw, transforms: \(transforms)}")
        let report = try equivalence(config, ranks: 3, vary: ["optimizer.name=sgd,adamw,lamb"], tolerance: 1e-5)
        XCTAssertTrue(report.contains("equivalence: 3 of 3 decompositions within"), report)
        // Per-tensor norms of the tensors the shards cut between their rows, summed over the shards.
        let perTensor = try equivalence(try configuration(optimizer: "{name: lamb, weight_decay: 0.01}"), ranks: 3,
                                        vary: ["optimizer.name=" + Self.summingPerTensor.joined(separator: ",")], tolerance: 1e-5)
        XCTAssertTrue(perTensor.contains("equivalence: \(Self.summingPerTensor.count) of \(Self.summingPerTensor.count) decompositions within"),
                      perTensor)
    }

    /// The float mode: the gradient sums reduce-scattered instead of all-reduced. Two ranks add two
    /// terms, in either order the same bits; three may add them in another order than the all-reduce.
    func testFloatSumsMatchTheAllReduce() throws {
        for ranks in [2, 3] {
            let config = try configuration(reproducible: false)
            let sharded = try TrainingRun.finalTensors(config: config, runDirectory: directory.appendingPathComponent("sharded-\(ranks)"),
                                                       ranks: ranks, overrides: ["train.steps=20"])
            let plain = try TrainingRun.finalTensors(config: config, runDirectory: directory.appendingPathComponent("plain-\(ranks)"),
                                                     ranks: ranks, overrides: ["train.steps=20", "distributed.shard_optimizer=false"])
            if ranks == 2 {
                TrainingRun.assertBitwiseEqual(sharded, plain, "2 ranks, sharded against all-reduced")
            } else {
                XCTAssertEqual(sharded.keys.sorted(), plain.keys.sorted())
                let worst = DecompositionCheck.worstDeviation(sharded, from: plain)
                XCTAssertLessThanOrEqual(worst, 1e-5, "3 ranks, sharded against all-reduced")
            }
        }
    }

    /// Checkpointed sharded on 2 ranks, resumed sharded on 3 and unsharded on 1: bit-identical to the
    /// uninterrupted sharded run, whose checkpoint is the unsharded run's, tensor for tensor.
    func testCheckpointsDoNotDependOnTheNumberOfRanks() throws {
        let optimizer = "{name: adafactor, lr: 0.01}"  // factored state: per-tensor rows and columns, cut between tensors
        let config = try configuration(optimizer: optimizer, extra: "checkpoint: {every: 4, keep: 3}")
        let whole = try TrainingRun.finalTensors(config: config, runDirectory: directory.appendingPathComponent("whole"), ranks: 2)
        let unsharded = try TrainingRun.finalTensors(config: config, runDirectory: directory.appendingPathComponent("unsharded"),
                                                     ranks: 1, overrides: ["distributed.shard_optimizer=false"])
        TrainingRun.assertBitwiseEqual(whole, unsharded, "sharded on 2 ranks against unsharded on 1")
        XCTAssertTrue(whole.keys.contains { $0.hasPrefix("optimizer.") })

        let broken = directory.appendingPathComponent("broken")
        let failed = try ProcessRunner.run(["train", "--config", config.path, "--run-dir", broken.path, "--quiet",
                                            "--set", "debug.fail_at_step=6"], ranks: 2, timeout: 300)
        XCTAssertNotEqual(failed.status, 0)
        for (ranks, sharded) in [(3, true), (1, false)] {
            let copy = directory.appendingPathComponent("resumed-\(ranks)")
            try FileManager.default.copyItem(at: broken, to: copy)
            let resumed = try TrainingRun.finalTensors(config: config, runDirectory: copy, ranks: ranks,
                                                       overrides: ["distributed.shard_optimizer=\(sharded)"], resume: true)
            TrainingRun.assertBitwiseEqual(resumed, whole, "resumed on \(ranks) ranks, sharded: \(sharded)")
        }
    }

    /// Each rank holds its share of the state, as `bigbatch optimizers --ranks` reports it: half of
    /// AdamW's and LAMB's for two ranks on the shipped MLP (cut between rows; LAMB sums its norms over
    /// the cut tensors), more than half for Muon, whose orthogonalization needs whole tensors.
    func testTheReportShowsEachRanksShare() throws {
        let result = try ProcessRunner.run(["optimizers", "--ranks", "2"])
        XCTAssertEqual(result.status, 0, result.error)
        func share(_ name: String) -> Double? {
            guard let row = result.output.split(separator: "\n").first(where: { $0.hasPrefix(name + " ") }) else { return nil }
            let fields = row.split(separator: " ")
            return fields.count > 5 ? Double(fields[5].dropLast()) : nil
        }
        XCTAssertEqual(share("adamw") ?? 0, 50.0, accuracy: 0.1, result.output)
        XCTAssertEqual(share("lamb") ?? 0, 50.0, accuracy: 0.1, result.output)
        XCTAssertGreaterThan(share("muon") ?? 0, 50.0, result.output)
        XCTAssertLessThan(share("muon") ?? 100, 100.0, result.output)
        let refused = try ProcessRunner.run(["optimizers", "--ranks", "0"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.error.contains("--ranks"), refused.error)
    }

    /// Settings that cannot be combined with sharding are refused, naming the key.
    func testSettingsThatCannotShardAreClearErrors() throws {
        for (key, value) in [("distributed.compress", "bf16"), ("distributed.bucket_mb", "4")] {
            let config = try configuration(reproducible: false)
            let result = try ProcessRunner.run(["train", "--config", config.path, "--run-dir", directory.appendingPathComponent("bad").path,
                                                "--quiet", "--set", "\(key)=\(value)"], timeout: 120)
            XCTAssertNotEqual(result.status, 0)
            XCTAssertTrue(result.error.contains(key) && result.error.contains("shard_optimizer"), result.error)
        }
    }
}
