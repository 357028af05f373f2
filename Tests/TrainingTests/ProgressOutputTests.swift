import Foundation
import TestSupport
import XCTest

/// What `bigbatch train` prints when its output is a log, not a person's terminal.
final class ProgressOutputTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("bigbatch-progress-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: directory)
    }

    /// Under mpirun a rank's stdout is OpenMPI's pseudo-terminal, though mpirun's own output here goes
    /// to a file: the progress must still be plain lines, never redraws.
    func testUnderMPIRunProgressIsPlainLines() throws {
        let config = directory.appendingPathComponent("config.yaml")
        try """
        model: {kind: mlp, hidden: [16]}
        data: {dataset: fashion-mnist}
        batch: {global: 64, micro: 32}
        train: {steps: 6, seed: 1, log_every: 2, eval_every: 1000000, eval_batch: 2000}
        optimizer: {name: sgd, lr: 0.05}
        logging: {tensorboard: false, histogram_every: 0}
        """.write(to: config, atomically: true, encoding: .utf8)
        let run = directory.appendingPathComponent("run").path
        let result = try ProcessRunner.run(["train", "--config", config.path, "--run-dir", run], ranks: 2, timeout: 300)
        XCTAssertEqual(result.status, 0, result.error)
        XCTAssertFalse(result.output.contains("\u{1B}"), "escape codes in: \(result.output.debugDescription)")
        XCTAssertFalse(result.output.contains("\r"), "carriage returns in: \(result.output.debugDescription)")
        let steps = result.output.split(separator: "\n").filter { $0.hasPrefix("step ") }.map { $0.split(separator: " ")[1] }
        XCTAssertEqual(steps, ["2/6", "4/6", "6/6"], result.output)
    }
}
