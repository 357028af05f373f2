import Foundation
import TestSupport
import Training
import XCTest

/// `loss.aggregation: soft_median` with real processes: the weights come from the whole global
/// batch, so every decomposition trains alike — bit for bit in the reproducible mode, and within
/// the measured noise floor in the default one (as `EquivalenceTests` bounds it).
final class SoftMedianTrainingTests: XCTestCase {
    private var directory: URL!
    private var runs = 0

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("bigbatch-soft-median-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: directory)
    }

    private func configuration(reproducible: Bool, aggregation: String = "soft_median") throws -> URL {
        let url = directory.appendingPathComponent("\(UUID().uuidString.prefix(8)).yaml")
        try """
        model: {kind: mlp, hidden: [48], activation: relu, dropout: 0.2}
        data: {dataset: fashion-mnist, last_batch: drop}
        batch: {global: 256, micro: 256}
        train: {steps: 20, seed: 7, eval_every: 1000, checksum_every: 10}
        optimizer: {name: adamw, lr: 0.002, weight_decay: 0.01}
        loss: {aggregation: \(aggregation)}
        \(reproducible ? "distributed: {reproducible: true, chunk: 16}" : "")
        """.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    private func train(_ config: URL, ranks: Int, micro: Int, threads: Int = 1, _ extra: [String] = []) throws -> [String: [Float]] {
        runs += 1
        return try TrainingRun.finalTensors(config: config, runDirectory: directory.appendingPathComponent("run-\(runs)"),
                                            ranks: ranks, overrides: ["batch.micro=\(micro)"] + extra,
                                            environment: ["OPENBLAS_NUM_THREADS": "\(threads)"])
    }

    /// 1 × 256 against k = 8 on one rank, 2 ranks, and 3 uneven ranks (6, 5 and 5 chunks): the same
    /// bits. Weights from each rank's own share (`debug.local_loss_weights`: other medians, other
    /// ranks) fail the check, and the mean differs: the soft median changes the trajectory.
    func testEveryDecompositionIsBitwiseIdenticalInTheReproducibleMode() throws {
        let config = try configuration(reproducible: true)
        let reference = try train(config, ranks: 1, micro: 256)
        for (ranks, micro) in [(1, 32), (2, 32), (3, 32)] {
            TrainingRun.assertBitwiseEqual(try train(config, ranks: ranks, micro: micro), reference,
                                           "soft median: \(ranks) ranks × micro \(micro)")
        }
        let local = try train(config, ranks: 2, micro: 32, ["debug.local_loss_weights=true"])
        XCTAssertGreaterThan(DecompositionCheck.worstDeviation(local, from: reference), 1e-5,
                             "weights from each rank's own share trained like the global ones")
        let mean = try train(try configuration(reproducible: true, aggregation: "mean"), ranks: 1, micro: 256)
        XCTAssertGreaterThan(DecompositionCheck.worstDeviation(mean, from: reference), 1e-4,
                             "the soft median trained like the mean")
    }

    /// The default mode: decompositions within 20× the noise floor of the one-process run on 2 and
    /// 3 threads, as for the mean.
    func testDecompositionsTrainAlikeInTheDefaultMode() throws {
        let config = try configuration(reproducible: false)
        let reference = try train(config, ranks: 1, micro: 256)
        let floor = max(DecompositionCheck.worstDeviation(try train(config, ranks: 1, micro: 256, threads: 2), from: reference),
                        DecompositionCheck.worstDeviation(try train(config, ranks: 1, micro: 256, threads: 3), from: reference),
                        1e-8)
        XCTAssertLessThan(floor, 1e-4)
        for (ranks, micro) in [(2, 32), (3, 32)] {
            let deviation = DecompositionCheck.worstDeviation(try train(config, ranks: ranks, micro: micro), from: reference)
            XCTAssertLessThanOrEqual(deviation, 20 * floor, "\(ranks) ranks × micro \(micro) (floor \(floor))")
        }
    }
}
