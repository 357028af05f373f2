import ArgumentParser
import Distributed
import Foundation
import Training

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train", abstract: "Train a model: under mpirun on N ranks, or alone.")

    @Option(help: "The YAML configuration.") var config: String
    @Option(name: .customLong("set"), help: "Override a key by its dotted path (repeatable): --set optimizer.lr=0.02")
    var overrides: [String] = []
    @Option(help: "Where to write config.yaml, metrics.jsonl and checkpoints (default: runs/<config name>).")
    var runDir: String?
    @Option(help: "Continue from a checkpoint file or a run directory's latest checkpoint.") var resume: String?
    @Flag(help: "On SIGINT/SIGTERM, write a checkpoint at the next step boundary before exiting.")
    var checkpointOnSignal = false
    @Flag(help: "No progress output.") var quiet = false

    func run() throws {
        try withWorld { world in
            let configuration = try agree(world) {
                try TrainingConfiguration.load(path: config, overrides: overrides)
            }
            let directory = URL(fileURLWithPath: runDir ?? "runs/" + URL(fileURLWithPath: config)
                .deletingPathExtension().lastPathComponent)
            let session = try TrainingSession(configuration: configuration, world: world, runDirectory: directory,
                                              resume: resume.map { URL(fileURLWithPath: $0) }, quiet: quiet)
            if checkpointOnSignal { session.installSignalHandlers() }
            let summary = try session.run()
            if world.isRoot {
                print(String(format: "final test accuracy %.2f%%  test loss %.4f  (%d steps, %d skipped, %.1f s, %.0f samples/s)",
                             100 * summary.testAccuracy, summary.testLoss, summary.steps, summary.skippedSteps,
                             summary.seconds, summary.samplesPerSecond))
                print("run directory: \(directory.path)")
            }
        }
    }
}
