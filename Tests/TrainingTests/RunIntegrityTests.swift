import Checkpoints
import Foundation
import TestSupport
import Training
import XCTest

/// Runs that never mix, fail loudly and say what happened: one test per problem a new user met
/// (run directories reused, divergence, refused or failed starts, interruption and resume, raw errors),
/// each with the real executable on a few steps of Fashion-MNIST.
final class RunIntegrityTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("bigbatch-integrity-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: directory)
    }

    private func config(_ extra: String = "") throws -> URL {
        let url = directory.appendingPathComponent("config-\(UUID().uuidString.prefix(8)).yaml")
        try """
        model: {kind: mlp, hidden: [32]}
        data: {dataset: fashion-mnist}
        batch: {global: 128, micro: 64}
        train: {steps: 20, eval_every: 10}
        optimizer: {name: adamw, lr: 0.003}
        checkpoint: {every: 10, keep: 5}
        \(extra)
        """.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    private func run(_ arguments: [String], ranks: Int? = nil) throws -> ProcessResult {
        try ProcessRunner.run(arguments, ranks: ranks, timeout: 120)
    }

    private func train(_ config: URL, _ run: URL, _ extra: [String] = [], ranks: Int? = nil) throws -> ProcessResult {
        try self.run(["train", "--config", config.path, "--run-dir", run.path, "--quiet"] + extra, ranks: ranks)
    }

    /// Every file of a directory with its contents, to prove that nothing changed.
    private func snapshot(_ url: URL) throws -> [String: Data] {
        var files: [String: Data] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? [] {
            files[name] = try Data(contentsOf: url.appendingPathComponent(name))
        }
        return files
    }

    private func runID(in run: URL) throws -> String {
        let text = try String(contentsOf: run.appendingPathComponent("config.yaml"), encoding: .utf8)
        let line = try XCTUnwrap(text.split(separator: "\n").first { $0.hasPrefix("run_id: ") })
        return String(line.dropFirst("run_id: ".count))
    }

    /// Problem 1: a second run in a used directory is refused (naming --resume and --overwrite) and
    /// changes nothing; --overwrite clears the old run's checkpoints; the run id is in config.yaml, the
    /// checkpoints and every metrics line; eval on the directory says which checkpoint it used.
    func testRunDirectoryIsNeverMixed() throws {
        let config = try self.config(), run = directory.appendingPathComponent("run")
        let first = try train(config, run)
        XCTAssertEqual(first.status, 0, first.error)
        let before = try snapshot(run)

        let second = try train(config, run, ["--set", "train.steps=10"])
        XCTAssertNotEqual(second.status, 0)
        XCTAssertTrue(second.error.contains("already holds a run") && second.error.contains("--resume \(run.path)")
                      && second.error.contains("--overwrite"), second.error)
        XCTAssertEqual(try snapshot(run), before, "a refused start changes nothing")

        let oldID = try runID(in: run)
        let overwritten = try train(config, run, ["--set", "train.steps=10", "--overwrite"])
        XCTAssertEqual(overwritten.status, 0, overwritten.error)
        let newID = try runID(in: run)
        XCTAssertNotEqual(newID, oldID)
        XCTAssertEqual(CheckpointDirectory(url: run, keep: 5).checkpoints().map(\.step), [10],
                       "the old run's step-20 checkpoint is gone")
        let lines = try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 11, "10 steps and one evaluation, none from the first run")
        for line in lines { XCTAssertTrue(line.contains("\"run_id\":\"\(newID)\""), String(line)) }
        for file in ["checkpoint-00000010.safetensors", "final.safetensors"] {
            let metadata = try CheckpointMetadata(reading: Checkpoint.read(from: run.appendingPathComponent(file)))
            XCTAssertEqual(metadata.runID, newID, file)
        }

        let evaluated = try self.run(["eval", "--checkpoint", run.path])
        XCTAssertEqual(evaluated.status, 0, evaluated.error)
        XCTAssertTrue(evaluated.output.contains("checkpoint \(run.path)/checkpoint-00000010.safetensors (step 10)"),
                      evaluated.output)
    }

    /// Problem 2: a diverged run ends with a non-zero exit on every rank, naming the step, the last
    /// finite loss and the learning rate, and progress summarises the skipped steps.
    func testDivergedRunFailsLoudly() throws {
        let config = try self.config()
        let arguments = ["train", "--config", config.path, "--set", "optimizer.lr=1e9", "--set", "train.steps=45",
                         "--set", "train.log_every=10", "--set", "train.eval_every=1000"]
        let both = try self.run(arguments + ["--run-dir", directory.appendingPathComponent("d2").path, "--quiet"], ranks: 2)
        XCTAssertNotEqual(both.status, 0)
        XCTAssertEqual(both.error.components(separatedBy: "training diverged at step").count - 1, 1, both.error)
        // Alone, so that progress goes to a file rather than mpirun's terminal.
        let result = try self.run(arguments + ["--run-dir", directory.appendingPathComponent("d").path])
        XCTAssertNotEqual(result.status, 0)
        let message = "consecutive steps had a non-finite loss or gradient (train.max_consecutive_skips = 20)"
        XCTAssertEqual(result.error.components(separatedBy: message).count - 1, 1, "printed once: \(result.error)")
        XCTAssertTrue(result.error.contains("training diverged at step ") && result.error.contains("last finite loss")
                      && result.error.contains("learning rate 1e+09"), result.error)
        XCTAssertFalse(result.output.contains("final test accuracy"), result.output)
        let progressLines = result.output.split(separator: "\n").filter { $0.hasPrefix("step ") }
        XCTAssertLessThan(progressLines.count, 8, "skips are summarised, not one line each: \(result.output)")
        XCTAssertTrue(result.output.contains("steps skipped since step"), result.output)
    }

    /// Problem 4: a refused resume and failed starts (missing data, missing checkpoint) leave the
    /// directory as it was; a fresh directory is not even created.
    func testFailedStartChangesNothing() throws {
        let config = try self.config(), run = directory.appendingPathComponent("run")
        XCTAssertEqual(try train(config, run).status, 0)
        let before = try snapshot(run)
        let refused = try train(config, run, ["--resume", run.path, "--set", "train.steps=5"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.error.contains("beyond the run's 5 steps"), refused.error)
        XCTAssertEqual(try snapshot(run), before)

        let missingData = directory.appendingPathComponent("no-data")
        let noData = try train(config, missingData, ["--set", "data.dataset=npy", "--set", "data.path=\(directory.path)/nowhere"])
        XCTAssertNotEqual(noData.status, 0)
        let missingCheckpoint = directory.appendingPathComponent("no-checkpoint")
        let noCheckpoint = try train(config, missingCheckpoint, ["--resume", directory.appendingPathComponent("nothing").path])
        XCTAssertNotEqual(noCheckpoint.status, 0)
        XCTAssertTrue(noCheckpoint.error.contains("nothing: no such checkpoint file or run directory"), noCheckpoint.error)
        let mismatched = directory.appendingPathComponent("mismatched")
        let other = try train(config, mismatched, ["--set", "model.hidden=[16]", "--resume", run.path])
        XCTAssertNotEqual(other.status, 0)
        for url in [missingData, missingCheckpoint, mismatched] {
            XCTAssertFalse(FileManager.default.fileExists(atPath: url.path), "\(url.lastPathComponent) was not created")
        }
    }

    /// Problem 5: a resume says from where; a resume mismatch names each differing field with both
    /// values; resuming a finished run says so and changes nothing; `--resume DIR` continues in DIR.
    func testResumeSaysWhatItDoes() throws {
        let config = try self.config(), run = directory.appendingPathComponent("run")
        XCTAssertEqual(try train(config, run, ["--set", "train.steps=10"]).status, 0)
        let resumed = try self.run(["train", "--config", config.path, "--resume", run.path, "--quiet"])
        XCTAssertEqual(resumed.status, 0, resumed.error)
        XCTAssertTrue(resumed.output.contains("resumed from \(run.path)/checkpoint-00000010.safetensors at step 10 of 20"),
                      resumed.output)
        XCTAssertEqual(CheckpointDirectory(url: run, keep: 5).checkpoints().map(\.step), [10, 20],
                       "without --run-dir the run continues in the directory it resumes")

        let before = try snapshot(run)
        let again = try self.run(["train", "--config", config.path, "--resume", run.path, "--quiet"])
        XCTAssertEqual(again.status, 0, again.error)
        XCTAssertTrue(again.output.contains("already finished at step 20 of 20"), again.output)
        XCTAssertFalse(again.output.contains("nan"), again.output)
        XCTAssertEqual(try snapshot(run), before, "a finished run resumed changes nothing")

        let mismatch = try train(config, directory.appendingPathComponent("other"),
                                 ["--resume", run.path, "--set", "model.hidden=[16]", "--set", "batch.global=256",
                                  "--set", "train.seed=7"])
        XCTAssertNotEqual(mismatch.status, 0)
        for field in ["model.hidden: [32] in the checkpoint, [16] configured",
                      "batch.global: 128 in the checkpoint, 256 configured", "train.seed: 0 in the checkpoint, 7 configured"] {
            XCTAssertTrue(mismatch.error.contains(field), "\(field) in: \(mismatch.error)")
        }
    }

    /// Problem 6: errors name the path and the reason in plain words, and a checkpoint copied out of
    /// its run is evaluated with the configuration stored in it.
    func testErrorsArePlainAndBareCheckpointsEvaluate() throws {
        let config = try self.config()
        let cases: [([String], String)] = [
            (["train", "--config", config.path, "--run-dir", "/proc/bigbatch-run"],
             "run directory /proc/bigbatch-run: cannot create /proc/bigbatch-run: No such file or directory"),
            (["train", "--config", directory.path], "cannot read configuration \(directory.path): is a directory"),
            (["train", "--config", directory.appendingPathComponent("missing.yaml").path], "missing.yaml: no such file"),
            (["eval", "--checkpoint", directory.appendingPathComponent("no-such-dir").path],
             "no-such-dir: no such checkpoint file or run directory"),
        ]
        for (arguments, expected) in cases {
            let result = try run(arguments)
            XCTAssertNotEqual(result.status, 0, arguments.joined(separator: " "))
            XCTAssertTrue(result.error.contains(expected), "expected '\(expected)' in: \(result.error)")
            XCTAssertFalse(result.error.contains("NSCocoaErrorDomain"), result.error)
        }
        let blocker = directory.appendingPathComponent("file")
        try Data("x".utf8).write(to: blocker)
        let underFile = try train(config, blocker.appendingPathComponent("run"))
        XCTAssertTrue(underFile.error.contains("\(blocker.path) is a file, not a directory"), underFile.error)

        let run = directory.appendingPathComponent("run")
        XCTAssertEqual(try train(config, run, ["--set", "train.steps=10", "--set", "model.hidden=[24]"]).status, 0)
        let bare = directory.appendingPathComponent("copied.safetensors")
        try FileManager.default.copyItem(at: run.appendingPathComponent("final.safetensors"), to: bare)
        let fromRun = try self.run(["eval", "--checkpoint", run.appendingPathComponent("final.safetensors").path, "--json"])
        let fromCopy = try self.run(["eval", "--checkpoint", bare.path, "--json"])
        XCTAssertEqual(fromCopy.status, 0, fromCopy.error)
        func accuracy(_ result: ProcessResult) throws -> Double {
            let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
            return try XCTUnwrap(json["test_accuracy"] as? Double)
        }
        XCTAssertEqual(try accuracy(fromCopy), try accuracy(fromRun), "the stored configuration (hidden [24]) is used")
    }
}

/// Problem 7: help, README and behaviour agree.
final class HelpAndDocsTests: XCTestCase {
    private var repository: URL {
        var url = URL(fileURLWithPath: "\(#filePath)")
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }

    /// Every subcommand that `bigbatch --help` lists is shown in the README.
    func testEverySubcommandIsInTheReadme() throws {
        let help = try ProcessRunner.run(["--help"])
        XCTAssertEqual(help.status, 0, help.error)
        let section = try XCTUnwrap(help.output.components(separatedBy: "SUBCOMMANDS:").last)
        // A subcommand line is indented by two spaces; wrapped descriptions by more.
        let names = section.split(separator: "\n").filter { $0.hasPrefix("  ") && !$0.hasPrefix("   ") }
            .compactMap { $0.split(separator: " ").first.map(String.init) }.filter { $0 != "See" }
        XCTAssertGreaterThanOrEqual(names.count, 10, section)
        let readme = try String(contentsOf: repository.appendingPathComponent("README.md"), encoding: .utf8)
        for name in names { XCTAssertTrue(readme.contains("bigbatch \(name)"), "README shows `bigbatch \(name)`") }
        let version = try ProcessRunner.run(["--version"])
        XCTAssertEqual(version.status, 0, version.error)
        XCTAssertTrue(version.output.hasPrefix("bigbatch \(TrainingSession.version)"), version.output)
    }

    /// `bigbatch optimizers` works outside the repository and lists each optimizer's settings with defaults.
    func testOptimizersListsSettingsFromAnyDirectory() throws {
        let result = try ProcessRunner.run(["optimizers"], in: FileManager.default.temporaryDirectory)
        XCTAssertEqual(result.status, 0, result.error)
        let adamw = try XCTUnwrap(result.output.split(separator: "\n").first { $0.hasPrefix("adamw ") })
        XCTAssertTrue(adamw.contains("lr=0.001 betas=[0.9, 0.999] eps=1e-08 weight_decay=0.01"), String(adamw))
        XCTAssertTrue(result.output.contains("sgd") && result.output.contains("momentum=0.0"), result.output)
    }

    /// A learning rate of 0 is refused before training; one-rank `bench allreduce` says there is nothing to reduce.
    func testZeroLearningRateAndOneRankAllReduceAreRefused() throws {
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("bigbatch-lr0-\(UUID().uuidString).yaml")
        defer { try? FileManager.default.removeItem(at: config) }
        try """
        model: {kind: mlp, hidden: [8]}
        data: {dataset: fashion-mnist}
        batch: {global: 64, micro: 64}
        train: {steps: 2}
        optimizer: {name: sgd, lr: 0}
        schedule: {warmup_steps: 1}
        """.write(to: config, atomically: true, encoding: .utf8)
        let run = FileManager.default.temporaryDirectory.appendingPathComponent("bigbatch-lr0-run-\(UUID().uuidString)")
        let zero = try ProcessRunner.run(["train", "--config", config.path, "--run-dir", run.path, "--quiet"])
        XCTAssertNotEqual(zero.status, 0)
        XCTAssertTrue(zero.error.contains("optimizer.lr") && zero.error.contains("learning rate would be 0"), zero.error)
        XCTAssertFalse(FileManager.default.fileExists(atPath: run.path))
        let bench = try ProcessRunner.run(["bench", "allreduce", "--rounds", "1"])
        XCTAssertNotEqual(bench.status, 0)
        XCTAssertTrue(bench.error.contains("one rank has nothing to reduce"), bench.error)
    }
}
