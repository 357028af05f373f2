import Checkpoints
import Foundation
import TestSupport
import Training
import XCTest

/// The GPT under real processes: any decomposition of the global batch trains like one process
/// when micro-batches count different numbers of tokens (documents, `pack: false`), the naive
/// accumulation does not, and bad token data is one clear error on every rank.
final class GPTTrainingTests: XCTestCase {
    static let tolerance = 1e-5
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("bigbatch-gpt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: directory)
    }

    /// Documents of 5 to 60 bytes from a small alphabet, separated by blank lines: windows of 16
    /// bytes end inside documents, so samples count from 4 to 16 targets.
    private func corpus() throws -> URL {
        var state: UInt64 = 12345
        func next(_ bound: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(bound))
        }
        let alphabet = Array("abcdefgh ,.")
        var text = ""
        for _ in 0..<400 {
            text += String((0..<(5 + next(56))).map { _ in alphabet[next(alphabet.count)] }) + "\n\n"
        }
        let url = directory.appendingPathComponent("corpus.txt")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    private func configuration(corpus: URL, extra: String = "") throws -> URL {
        let url = directory.appendingPathComponent("gpt-\(UUID().uuidString.prefix(6)).yaml")
        try """
        model: {kind: gpt, block_size: 16, n_layer: 2, n_head: 2, n_embd: 16, dropout: 0.1}
        data: {dataset: text, path: \(corpus.path), val_fraction: 0.1, pack: false, document_separator: "\\n\\n"}
        batch: {global: 32, micro: 32}
        train: {steps: 20, seed: 5, eval_every: 1000000, checksum_every: 5}
        optimizer: {name: adamw, lr: 0.003, weight_decay: 0.01}
        \(extra)
        """.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    private var runs = 0

    private func train(_ config: URL, ranks: Int, _ overrides: [String], run name: String? = nil,
                       expectFailure: Bool = false) throws -> [String: [Float]] {
        runs += 1
        let run = directory.appendingPathComponent(name ?? "run-\(runs)")
        let settings = overrides.filter { $0 != "--resume" }
        if expectFailure {
            let arguments = ["train", "--config", config.path, "--run-dir", run.path, "--quiet"] + settings.flatMap { ["--set", $0] }
            let result = try ProcessRunner.run(arguments, ranks: ranks > 1 ? ranks : nil, timeout: 300)
            XCTAssertNotEqual(result.status, 0, "\(arguments.joined(separator: " ")) should have failed")
            return [:]
        }
        return try TrainingRun.finalTensors(config: config, runDirectory: run, ranks: ranks, overrides: settings,
                                            resume: overrides.contains("--resume"))
    }

    func testDecompositionsTrainIdenticallyWithUnevenTokenCounts() throws {
        let config = try configuration(corpus: corpus())
        let reference = try train(config, ranks: 1, ["batch.micro=32"])
        XCTAssertTrue(reference.keys.contains("param.transformer.wte.weight"))
        for (ranks, micro) in [(1, 8), (2, 8), (4, 4)] {
            let parameters = try train(config, ranks: ranks, ["batch.micro=\(micro)"])
            let deviation = DecompositionCheck.worstDeviation(parameters, from: reference)
            XCTAssertLessThanOrEqual(deviation, Self.tolerance, "\(ranks) ranks × micro \(micro) vs 1 × 32")
        }
        // Averaging per-micro-batch means weighs a 4-token micro-batch like a 16-token one: caught.
        let naive = try train(config, ranks: 4, ["batch.micro=4", "debug.naive_accumulation=true"])
        XCTAssertGreaterThan(DecompositionCheck.worstDeviation(naive, from: reference), 100 * Self.tolerance)
    }

    /// A run that fails after its checkpoint at step 10 and is resumed matches the uninterrupted run
    /// bit for bit on the same ranks, and within the tolerance on another number of ranks.
    func testResumeIsExact() throws {
        let config = try configuration(corpus: corpus(), extra: "checkpoint: {every: 10, keep: 2}")
        let whole = try train(config, ranks: 2, ["batch.micro=8"])
        _ = try train(config, ranks: 2, ["batch.micro=8", "debug.fail_at_step=15", "debug.rank=1"], run: "broken",
                      expectFailure: true)
        let resumed = try train(config, ranks: 2, ["batch.micro=8", "--resume"], run: "broken")
        XCTAssertEqual(resumed.keys.sorted(), whole.keys.sorted())
        for (name, values) in whole { XCTAssertEqual(resumed[name], values, "\(name) differs after the resume") }
        _ = try train(config, ranks: 2, ["batch.micro=8", "debug.fail_at_step=15", "debug.rank=0"], run: "elsewhere",
                      expectFailure: true)
        let onOne = try train(config, ranks: 1, ["batch.micro=8", "--resume"], run: "elsewhere")
        XCTAssertLessThanOrEqual(DecompositionCheck.worstDeviation(onOne, from: whole), Self.tolerance)
    }

    func testBadTokenDataIsOneClearErrorOnEveryRank() throws {
        let empty = directory.appendingPathComponent("empty.txt")
        try Data().write(to: empty)
        let config = try configuration(corpus: empty)
        let run = directory.appendingPathComponent("bad")
        let result = try ProcessRunner.run(["train", "--config", config.path, "--run-dir", run.path, "--quiet"], ranks: 2,
                                           timeout: 60)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertEqual(result.error.components(separatedBy: "empty.txt: the text file is empty").count - 1, 1, result.error)
        // A window longer than the model's positions.
        let long = try configuration(corpus: corpus(), extra: "")
        let tooLong = try ProcessRunner.run(["train", "--config", long.path, "--run-dir", run.path, "--quiet",
                                             "--set", "data.sequence_length=32"], timeout: 60)
        XCTAssertNotEqual(tooLong.status, 0)
        XCTAssertTrue(tooLong.error.contains("data.sequence_length") && tooLong.error.contains("model.block_size = 16"),
                      tooLong.error)
        // Documents shorter than a window, with padding refused: the error names the file and the document.
        let unpadded = try ProcessRunner.run(["train", "--config", long.path, "--run-dir", run.path, "--quiet",
                                              "--set", "data.pad=false"], ranks: 2, timeout: 60)
        XCTAssertNotEqual(unpadded.status, 0)
        XCTAssertEqual(unpadded.error.components(separatedBy: "corpus.txt (training part): document ").count - 1, 1,
                       unpadded.error)
    }
}
