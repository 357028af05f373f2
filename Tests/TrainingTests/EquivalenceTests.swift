import Checkpoints
import Foundation
import TestSupport
import Training
import XCTest

/// The product's promise, checked with real processes: R ranks × micro-batch b × k accumulation
/// steps train exactly like one batch of R·b·k.
final class EquivalenceTests: XCTestCase {
    static let tolerance = 1e-5

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

    /// (ranks, micro-batch) decompositions of the global batch 256.
    static let decompositions = [(1, 256), (1, 32), (2, 32), (4, 16)]

    func testDecompositionsTrainIdentically() throws {
        for optimizer in Self.optimizers {
            let config = try write(configuration(optimizer: optimizer.yaml), name: "\(optimizer.name).yaml")
            var reference: [String: [Float]]?
            for (ranks, micro) in Self.decompositions {
                let parameters = try train(config: config, ranks: ranks, overrides: ["batch.micro=\(micro)"])
                if let reference {
                    let deviation = worstDeviation(parameters, reference)
                    XCTAssertLessThanOrEqual(deviation, Self.tolerance,
                                             "\(optimizer.name): \(ranks) ranks × micro \(micro) vs 1 × 256")
                } else {
                    reference = parameters
                }
            }
        }
    }

    /// A global batch of 576 on 4 ranks × micro 16 (k = 9): 60000 = 104 × 576 + 96, so the last batch of
    /// the epoch (step 105) holds 96 samples spread over 36 micro-batches of 2 or 3 — uneven counts.
    static let shortBatchOverrides = ["data.last_batch=keep", "batch.global=576", "train.steps=106", "model.dropout=0.0"]

    /// A short, unevenly spread last global batch still equals one process.
    func testShortLastBatchMatchesSingleProcess() throws {
        let config = try write(configuration(optimizer: Self.optimizers[1].yaml), name: "keep.yaml")
        let single = try train(config: config, ranks: 1, overrides: Self.shortBatchOverrides + ["batch.micro=576"])
        let spread = try train(config: config, ranks: 4, overrides: Self.shortBatchOverrides + ["batch.micro=16"])
        XCTAssertLessThanOrEqual(worstDeviation(spread, single), Self.tolerance)
    }

    /// The common accumulation bug — averaging per-micro-batch means — must fail the same comparison
    /// once micro-batches hold different item counts.
    func testNaiveAccumulationIsCaught() throws {
        let config = try write(configuration(optimizer: Self.optimizers[1].yaml), name: "naive.yaml")
        let single = try train(config: config, ranks: 1, overrides: Self.shortBatchOverrides + ["batch.micro=576"])
        let naive = try train(config: config, ranks: 4, overrides: Self.shortBatchOverrides
                              + ["batch.micro=16", "debug.naive_accumulation=true"])
        XCTAssertGreaterThan(worstDeviation(naive, single), Self.tolerance,
                             "averaging micro-batch means must fail the equivalence check")
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
    private func train(config: URL, ranks: Int, overrides: [String]) throws -> [String: [Float]] {
        runCounter += 1
        let runDirectory = directory.appendingPathComponent("run-\(runCounter)")
        let arguments = ["train", "--config", config.path, "--run-dir", runDirectory.path, "--quiet"]
            + overrides.flatMap { ["--set", $0] }
        let result = try ProcessRunner.run(arguments, ranks: ranks > 1 ? ranks : nil, timeout: 300)
        XCTAssertEqual(result.status, 0, "\(arguments.joined(separator: " ")) on \(ranks) ranks:\n\(result.error)")
        let checkpoint = try Checkpoint.read(from: runDirectory.appendingPathComponent("final.safetensors"))
        var tensors: [String: [Float]] = [:]
        for tensor in checkpoint.tensors { tensors[tensor.name] = tensor.floats() ?? [] }
        XCTAssertFalse(tensors.isEmpty)
        return tensors
    }

    /// max |a − b| / (1 + |b|) over every element of every tensor; tensors missing on one side fail.
    private func worstDeviation(_ a: [String: [Float]], _ b: [String: [Float]]) -> Double {
        XCTAssertEqual(a.keys.sorted(), b.keys.sorted())
        return DecompositionCheck.worstDeviation(a, from: b)
    }
}
