import Checkpoints
import Foundation
import TestSupport
import Training
import XCTest

/// Checkpoints, exact resume and failure behaviour, with real processes.
final class FailureTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("bigbatch-failure-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: directory)
    }

    private func config(steps: Int = 40, extra: String = "") throws -> URL {
        let url = directory.appendingPathComponent("config-\(UUID().uuidString.prefix(8)).yaml")
        try """
        model: {kind: mlp, hidden: [32], dropout: 0.1}
        data: {dataset: fashion-mnist}
        batch: {global: 192, micro: 32}
        train: {steps: \(steps), seed: 3, eval_every: 1000000, checksum_every: 5}
        optimizer: {name: adamw, lr: 0.003, weight_decay: 0.01}
        schedule: {warmup_steps: 5, decay: cosine}
        checkpoint: {every: 10, keep: 2}
        \(extra)
        """.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    private func train(_ config: URL, run: String, ranks: Int, _ extra: [String] = [], timeout: Double = 300) throws -> ProcessResult {
        let arguments = ["train", "--config", config.path, "--run-dir", directory.appendingPathComponent(run).path,
                         "--quiet"] + extra
        return try ProcessRunner.run(arguments, ranks: ranks > 1 ? ranks : nil, timeout: timeout)
    }

    private func finalTensors(_ run: String) throws -> [String: [Float]] {
        try TrainingRun.tensors(in: directory.appendingPathComponent(run).appendingPathComponent("final.safetensors"))
    }

    private func metricsLines(_ run: String) throws -> [[String: Any]] {
        let text = try String(contentsOf: directory.appendingPathComponent(run).appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    /// A run that fails after its checkpoint at step 20 and is resumed matches the uninterrupted run bit for bit.
    func testResumeIsBitwiseExact() throws {
        let config = try self.config()
        let whole = try train(config, run: "whole", ranks: 2)
        XCTAssertEqual(whole.status, 0, whole.error)
        let failed = try train(config, run: "broken", ranks: 2, ["--set", "debug.fail_at_step=25", "--set", "debug.rank=1"])
        XCTAssertNotEqual(failed.status, 0)
        XCTAssertTrue(failed.error.contains("injected failure on rank 1 at step 25"), failed.error)
        let checkpoints = CheckpointDirectory(url: directory.appendingPathComponent("broken"), keep: 2).checkpoints()
        XCTAssertEqual(checkpoints.map(\.step), [10, 20], "keep: 2 retains the last two")
        let resumed = try train(config, run: "broken", ranks: 2, ["--resume", directory.appendingPathComponent("broken").path])
        XCTAssertEqual(resumed.status, 0, resumed.error)
        let resumes = try String(contentsOf: directory.appendingPathComponent("broken/resumes.jsonl"), encoding: .utf8)
        XCTAssertTrue(resumes.contains("\"step\":20") && resumes.contains("checkpoint-00000020"), resumes)
        let a = try finalTensors("whole"), b = try finalTensors("broken")
        XCTAssertEqual(a.keys.sorted(), b.keys.sorted())
        XCTAssertTrue(a.keys.contains { $0.hasPrefix("optimizer.") }, "optimizer state is saved: \(a.keys.sorted())")
        for (name, values) in a { XCTAssertEqual(values, b[name], "\(name) differs after resume") }
    }

    /// Resuming on another number of ranks (same global batch) continues the same trajectory.
    func testResumeOnOtherRankCount() throws {
        let config = try self.config()
        XCTAssertEqual(try train(config, run: "whole", ranks: 1).status, 0)
        let failed = try train(config, run: "moved", ranks: 3, ["--set", "debug.fail_at_step=15"])
        XCTAssertNotEqual(failed.status, 0)
        let resumed = try train(config, run: "moved", ranks: 2, ["--resume", directory.appendingPathComponent("moved/checkpoint-00000010.safetensors").path])
        XCTAssertEqual(resumed.status, 0, resumed.error)
        let resumes = try String(contentsOf: directory.appendingPathComponent("moved/resumes.jsonl"), encoding: .utf8)
        XCTAssertTrue(resumes.contains("\"checkpoint_world_size\":3") && resumes.contains("\"world_size\":2"), resumes)
        let a = try finalTensors("whole"), b = try finalTensors("moved")
        for (name, values) in a {
            let other = try XCTUnwrap(b[name])
            XCTAssertLessThanOrEqual(DecompositionCheck.worstDeviation([name: values], from: [name: other]), 1e-5, name)
        }
    }

    /// SIGKILL of one rank ends the whole job promptly; the last checkpoint then finishes the run exactly.
    func testKilledRankEndsJobAndResumeRecovers() throws {
        let config = try self.config(steps: 400, extra: "")
        XCTAssertEqual(try train(config, run: "whole", ranks: 3).status, 0)
        let runDirectory = directory.appendingPathComponent("killed")
        let job = try ProcessRunner.start(["train", "--config", config.path, "--run-dir", runDirectory.path, "--quiet"], ranks: 3)
        let checkpoints = CheckpointDirectory(url: runDirectory, keep: 2)
        let deadline = Date().addingTimeInterval(120)
        while checkpoints.checkpoints().isEmpty && Date() < deadline && job.process.isRunning { Thread.sleep(forTimeInterval: 0.05) }
        XCTAssertFalse(checkpoints.checkpoints().isEmpty, "a checkpoint was written before the kill")
        let ranks = childProcesses(of: job.process.processIdentifier)
        XCTAssertEqual(ranks.count, 3, "mpirun's children are the ranks")
        let killedAt = Date()
        kill(try XCTUnwrap(ranks.last), SIGKILL)
        let result = job.wait(timeout: 60)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertLessThan(Date().timeIntervalSince(killedAt), 30, "the job ends within 30 s of the kill")
        let resumed = try train(config, run: "killed", ranks: 3, ["--resume", runDirectory.path])
        XCTAssertEqual(resumed.status, 0, resumed.error)
        let a = try finalTensors("whole"), b = try finalTensors("killed")
        for (name, values) in a { XCTAssertEqual(values, b[name], "\(name) differs after kill and resume") }
    }

    /// `launch/train.sh --max-restarts 2`: a rank killed twice during one run, and the launcher relaunches
    /// the job from its latest checkpoint each time; the run completes, records both restarts as resumes,
    /// and ends bit-identical to the uninterrupted run. A third failure would be its exit status.
    func testMaxRestartsCarriesARunThroughTwoKills() throws {
        let config = try self.config(steps: 400, extra: "")
        XCTAssertEqual(try train(config, run: "whole", ranks: 2).status, 0)
        let run = directory.appendingPathComponent("restarted")
        let launcher = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("launch/train.sh").path
        let job = try ProcessRunner.startTool(launcher, ["-n", "2", "--max-restarts", "2", "--config", config.path,
                                                         "--run-dir", run.path, "--quiet"],
                                              environment: ["BIGBATCH_BINARY": try ProcessRunner.executable.path])
        let checkpoints = CheckpointDirectory(url: run, keep: 2)
        var killedAfter = 0
        for kill in 1...2 {
            let deadline = Date().addingTimeInterval(120)
            while (checkpoints.checkpoints().last?.step ?? 0) <= killedAfter && Date() < deadline && job.process.isRunning {
                Thread.sleep(forTimeInterval: 0.05)
            }
            let ranks = rankProcesses(writing: run)
            XCTAssertEqual(ranks.count, 2, "kill \(kill): the job's two ranks")
            killedAfter = checkpoints.checkpoints().last?.step ?? 0
            XCTAssertLessThan(killedAfter, 400, "kill \(kill) comes before the end")
            if let victim = ranks.last { Foundation.kill(victim, SIGKILL) }
            // The ranks of this launch are gone before the next is looked for.
            while !rankProcesses(writing: run).filter(ranks.contains).isEmpty { Thread.sleep(forTimeInterval: 0.05) }
        }
        let result = job.wait(timeout: 300)
        XCTAssertEqual(result.status, 0, result.error)
        XCTAssertEqual(result.error.components(separatedBy: "train.sh: the job failed").count - 1, 2, result.error)
        let resumes = try String(contentsOf: run.appendingPathComponent("resumes.jsonl"), encoding: .utf8)
        XCTAssertEqual(resumes.split(separator: "\n").count, 2, resumes)
        let a = try finalTensors("whole"), b = try finalTensors("restarted")
        for (name, values) in a { XCTAssertEqual(values.map(\.bitPattern), b[name]?.map(\.bitPattern), "\(name) after two restarts") }
    }

    /// The bigbatch processes whose command line names `run` (the ranks of the job writing it).
    private func rankProcesses(writing run: URL) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int32($0) }.filter { pid in
            guard let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe"),
                  URL(fileURLWithPath: executable).lastPathComponent == "bigbatch",
                  let arguments = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: arguments, as: UTF8.self).contains(run.path)
        }.sorted()
    }

    /// An error on one rank ends every rank, with the reason printed once.
    func testErrorOnOneRankEndsAllRanks() throws {
        let result = try train(try config(), run: "error", ranks: 3, ["--set", "debug.fail_at_step=3", "--set", "debug.rank=2"], timeout: 60)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertLessThan(result.seconds, 30)
        XCTAssertEqual(result.error.components(separatedBy: "injected failure on rank 2 at step 3").count - 1, 1, result.error)
    }

    /// A configuration error is the same on every rank: printed once, every rank exits non-zero.
    func testConfigurationErrorPrintedOnce() throws {
        let result = try train(try config(), run: "bad", ranks: 2, ["--set", "optimizer.lrr=0.1"], timeout: 60)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertEqual(result.error.components(separatedBy: "unknown configuration key 'optimizer.lrr'").count - 1, 1, result.error)
    }

    /// A non-finite gradient on one rank skips the step on all ranks; training goes on.
    func testNonFiniteGradientSkipsStepEverywhere() throws {
        let result = try train(try config(steps: 12), run: "nan", ranks: 2,
                               ["--set", "debug.nonfinite_steps=[4, 7]", "--set", "debug.rank=1"])
        XCTAssertEqual(result.status, 0, result.error)
        let steps = try metricsLines("nan").filter { $0["type"] as? String == "step" }
        XCTAssertEqual(steps.count, 12)
        XCTAssertEqual(steps.filter { $0["skipped"] as? Bool == true }.compactMap { $0["step"] as? Int }, [5, 8])
        let final = try finalTensors("nan")
        XCTAssertTrue(final.values.allSatisfy { $0.allSatisfy(\.isFinite) })
    }

    /// SIGTERM to every rank (as Slurm delivers it) with --checkpoint-on-signal: a checkpoint at the
    /// next step boundary, then exit status 75 with the resume command.
    func testSignalToRanksWritesCheckpointAndExitsCleanly() throws {
        try checkStopOnSignal(run: "term") { job in
            for rank in childProcesses(of: job.process.processIdentifier) { kill(rank, SIGTERM) }
        }
    }

    /// SIGUSR1 to mpirun, which forwards it to every rank (launch/train.sh turns SIGINT/SIGTERM into it).
    func testSignalThroughMPIRunWritesCheckpointAndExitsCleanly() throws {
        try checkStopOnSignal(run: "usr1") { job in kill(job.process.processIdentifier, SIGUSR1) }
    }

    private func checkStopOnSignal(run: String, send: (RunningProcess) -> Void) throws {
        let runDirectory = directory.appendingPathComponent(run)
        let config = try self.config(steps: 100_000)
        let job = try ProcessRunner.start(["train", "--config", config.path, "--run-dir", runDirectory.path,
                                           "--quiet", "--checkpoint-on-signal"], ranks: 2)
        let metrics = runDirectory.appendingPathComponent("metrics.jsonl")
        let deadline = Date().addingTimeInterval(120)
        while ((try? String(contentsOf: metrics, encoding: .utf8))?.split(separator: "\n").count ?? 0) < 15
                && Date() < deadline && job.process.isRunning {
            Thread.sleep(forTimeInterval: 0.05)
        }
        send(job)
        let result = job.wait(timeout: 60)
        XCTAssertEqual(result.status, 75, "a stopped run exits with 75: \(result.error)")
        let saved = CheckpointDirectory(url: runDirectory, keep: 2).checkpoints()
        let last = try XCTUnwrap(saved.last)
        XCTAssertTrue(result.output.contains("stopped at step \(last.step) of 100000 after a signal; checkpoint \(last.url.path); "
                                             + "resume with `bigbatch train --config \(runDirectory.path)/config.yaml --resume \(runDirectory.path)`"),
                      result.output)
        // The accuracy printed is the model's at the stop: an evaluation of that very step.
        let evaluations = try metricsLines(run).filter { $0["type"] as? String == "eval" }
        XCTAssertEqual(evaluations.last?["step"] as? Int, last.step)
        XCTAssertGreaterThanOrEqual(last.step, 15)
        XCTAssertLessThan(last.step, 100_000)
        let lines = try metricsLines(run).filter { $0["type"] as? String == "step" }
        XCTAssertEqual(lines.last?["step"] as? Int, last.step, "the checkpoint is at the last completed step")
    }

    /// An unwritable run directory is reported before training starts.
    func testUnwritableRunDirectoryFailsBeforeTraining() throws {
        let blocker = directory.appendingPathComponent("file")
        try Data("x".utf8).write(to: blocker)
        let result = try ProcessRunner.run(["train", "--config", try config().path, "--run-dir",
                                            blocker.appendingPathComponent("run").path, "--quiet"], timeout: 60)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.error.contains(blocker.path), result.error)
    }

    /// A checkpoint from another model, or a damaged one, is refused with the file and the reason.
    func testMismatchedOrCorruptCheckpointIsRefused() throws {
        let config = try self.config(steps: 10)
        XCTAssertEqual(try train(config, run: "source", ranks: 1).status, 0)
        let file = directory.appendingPathComponent("source/final.safetensors")
        let other = try train(config, run: "other", ranks: 1, ["--set", "model.hidden=[16]", "--resume", file.path])
        XCTAssertNotEqual(other.status, 0)
        XCTAssertTrue(other.error.contains(file.path), other.error)
        let batch = try train(config, run: "batch", ranks: 1, ["--set", "batch.global=96", "--resume", file.path])
        XCTAssertTrue(batch.error.contains("batch.global: 192 in the checkpoint, 96 configured"), batch.error)

        var bytes = try Data(contentsOf: file)
        bytes.removeLast(100)
        let truncated = directory.appendingPathComponent("truncated.safetensors")
        try bytes.write(to: truncated)
        let damaged = try train(config, run: "damaged", ranks: 2, ["--resume", truncated.path], timeout: 60)
        XCTAssertNotEqual(damaged.status, 0)
        XCTAssertEqual(damaged.error.components(separatedBy: truncated.path).count - 1, 1, damaged.error)
    }

    private func childProcesses(of pid: Int32) -> [Int32] {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8) else { return [] }
        return text.split(separator: " ").compactMap { Int32($0) }
    }

    /// A rank stopped (SIGSTOP) in the middle of a run on 3 ranks: the watchdog ends the job within
    /// its deadline plus 30 s, and the roll call names the stopped rank in one line, from rank 0.
    func testWatchdogNamesTheRankThatStoppedAnswering() throws {
        let config = directory.appendingPathComponent("watchdog.yaml")
        try """
        model: {kind: mlp, hidden: [32], activation: relu}
        data: {dataset: fashion-mnist, last_batch: drop}
        batch: {global: 96, micro: 32}
        train: {steps: 1000000, seed: 2, eval_every: 1000000, checksum_every: 1000}
        optimizer: {name: sgd, lr: 0.01}
        distributed: {timeout_s: 3}
        """.write(to: config, atomically: true, encoding: .utf8)
        let run = directory.appendingPathComponent("stuck")
        let job = try ProcessRunner.start(["train", "--config", config.path, "--run-dir", run.path], ranks: 3)
        let metrics = run.appendingPathComponent("metrics.jsonl")
        let deadline = Date().addingTimeInterval(120)
        while ((try? Data(contentsOf: metrics))?.count ?? 0) < 2000 && Date() < deadline && job.process.isRunning {
            Thread.sleep(forTimeInterval: 0.05)
        }
        XCTAssertTrue(job.process.isRunning, "training is under way")
        let target = try XCTUnwrap(Self.rankProcess(1), "rank 1's process")
        kill(target, SIGSTOP)
        let stoppedAt = Date()
        let result = job.wait(timeout: 60)
        let seconds = Date().timeIntervalSince(stoppedAt)
        kill(target, SIGKILL)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertLessThan(seconds, 3 + 30, "the job ended within the deadline plus 30 s")
        let lines = result.error.split(separator: "\n").filter { $0.contains("has not completed after 3.0 s") }
        XCTAssertEqual(lines.count, 1, result.error)
        XCTAssertTrue(lines.first?.hasPrefix("bigbatch: rank 0: ") == true, result.error)
        XCTAssertTrue(lines.first?.contains("rank 1 did not answer the watchdog's roll call") == true, result.error)
    }

    /// The bigbatch process mpirun started as `rank`, found by its environment.
    static func rankProcess(_ rank: Int) -> pid_t? {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in entries {
            guard let pid = pid_t(entry),
                  let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe"),
                  executable == (try? ProcessRunner.executable.resolvingSymlinksInPath().path),
                  let environment = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { continue }
            let variables = environment.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            if variables.contains("OMPI_COMM_WORLD_RANK=\(rank)") { return pid }
        }
        return nil
    }
}
