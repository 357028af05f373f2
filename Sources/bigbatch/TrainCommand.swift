import ArgumentParser
import Distributed
import Foundation
import Training

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train", abstract: "Train a model: under mpirun on N ranks, or alone.",
        discussion: """
            A run directory holds one run. Starting a run in a directory that holds another one is refused: \
            continue it with --resume DIR, or clear it with --overwrite. With --checkpoint-on-signal a \
            stopped run exits with status \(TrainCommand.stoppedExitStatus) after its checkpoint and prints \
            the command that resumes it.
            """)

    /// The exit status of a run stopped by a signal after writing its checkpoint: not finished, not
    /// failed, to be resumed (EX_TEMPFAIL of sysexits.h: "try again later"). Every rank exits with it,
    /// so it is also what `mpirun` and `launch/train.sh` return.
    static let stoppedExitStatus: Int32 = 75

    @Option(help: "The YAML configuration.") var config: String
    @Option(name: .customLong("set"), help: "Override a key by its dotted path (repeatable): --set optimizer.lr=0.02")
    var overrides: [String] = []
    @Option(help: """
        Where to write config.yaml, metrics.jsonl and checkpoints (default: the --resume directory, \
        else runs/<config name>).
        """)
    var runDir: String?
    @Option(help: "Continue from a checkpoint file or a run directory's latest checkpoint.") var resume: String?
    @Flag(help: "Clear the run directory's run (config, metrics, checkpoints) before starting a new one in it.")
    var overwrite = false
    @Flag(help: "On SIGINT/SIGTERM/SIGUSR1, write a checkpoint at the next step boundary and exit with status 75.")
    var checkpointOnSignal = false
    @Flag(help: "No progress output.") var quiet = false

    /// The run directory: given, else the one being resumed (a run continues where it lives), else
    /// `runs/<config name>`.
    var directory: URL {
        if let runDir { return URL(fileURLWithPath: runDir) }
        if let resume {
            var isDirectory: ObjCBool = false
            let url = URL(fileURLWithPath: resume)
            if FileManager.default.fileExists(atPath: resume, isDirectory: &isDirectory) {
                return isDirectory.boolValue ? url : url.deletingLastPathComponent()
            }
        }
        return URL(fileURLWithPath: "runs/" + URL(fileURLWithPath: config).deletingPathExtension().lastPathComponent)
    }

    func run() throws {
        var status: Int32 = 0
        try withWorld { world in
            let configuration = try agree(world) {
                try TrainingConfiguration.load(path: config, overrides: overrides)
            }
            let directory = self.directory
            let session = try TrainingSession(configuration: configuration, world: world, runDirectory: directory,
                                              resume: resume.map { URL(fileURLWithPath: $0) }, overwrite: overwrite,
                                              quiet: quiet)
            // With AdaScale the run ends when its progress completes the base schedule: at most this many steps.
            let of = configuration.adascaleBaseBatch == nil ? "of" : "of at most"
            if world.isRoot, let resumed = session.resumedFrom, !session.isAlreadyFinished {
                print("resumed from \(resumed.file) at step \(resumed.metadata.step) \(of) \(session.totalSteps) (run \(session.runID))")
                fflush(nil)
            }
            if checkpointOnSignal { session.installSignalHandlers() }
            let summary = try session.run()
            guard world.isRoot else {
                if summary.outcome == .stoppedBySignal { status = Self.stoppedExitStatus }
                return
            }
            let checkpoint = summary.checkpoint?.path ?? "none"
            switch summary.outcome {
            case .alreadyFinished:
                print("the run in \(directory.path) already finished at step \(summary.steps) \(of) \(summary.totalSteps) "
                      + "(\(checkpoint)); nothing was trained or changed. Train longer with --set train.steps=N "
                      + "(or train.epochs) and --resume, or start over with --overwrite")
            case .stoppedBySignal:
                print(String(format: "test accuracy at the stop %.2f%%  test loss %.4f", 100 * summary.testAccuracy,
                             summary.testLoss))
                print("stopped at step \(summary.steps) \(of) \(summary.totalSteps) after a signal; checkpoint \(checkpoint); "
                      + "resume with `bigbatch train --config \(directory.appendingPathComponent("config.yaml").path) "
                      + "--resume \(directory.path)`")
                status = Self.stoppedExitStatus
            case .finished where configuration.data.kind == .text:
                print(String(format: "final val loss %.4f  %.4f bits/byte  next-byte accuracy %.2f%%  (%d steps, %d skipped, "
                             + "%.1f s, %.0f tokens/s)", summary.testLoss, summary.testLoss / log(2),
                             100 * summary.testAccuracy, summary.steps, summary.skippedSteps, summary.seconds,
                             summary.samplesPerSecond))
                let sample = try TextGeneration.continuation(of: "\n", model: session.model, bytes: 240, temperature: 0.8,
                                                             topK: 0, seed: configuration.seed)
                print("sample (temperature 0.8):\n" + sample.split(separator: "\n", omittingEmptySubsequences: false)
                    .map { "  | " + $0 }.joined(separator: "\n"))
            case .finished:
                print(String(format: "final test accuracy %.2f%%  test loss %.4f  (%d steps, %d skipped, %.1f s, %.0f samples/s)",
                             100 * summary.testAccuracy, summary.testLoss, summary.steps, summary.skippedSteps,
                             summary.seconds, summary.samplesPerSecond))
            }
            print("run directory: \(directory.path) (run \(session.runID))")
        }
        if status != 0 { throw ExitCode(status) }
    }
}
