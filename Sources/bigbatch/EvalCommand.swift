import ArgumentParser
import Distributed
import Foundation
import Training

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval", abstract: "Test loss and accuracy of a checkpoint (under mpirun or alone).")

    @Option(help: "A checkpoint file, or a run directory (its latest checkpoint).") var checkpoint: String
    @Option(help: "The configuration (default: config.yaml in the checkpoint's run directory).") var config: String?
    @Option(name: .customLong("set"), help: "Override a configuration key (repeatable).") var overrides: [String] = []
    @Flag(help: "Print {\"test_loss\":…,\"test_accuracy\":…}.") var json = false

    func run() throws {
        try withWorld { world in
            let checkpointURL = URL(fileURLWithPath: checkpoint)
            let configuration = try agree(world) { () throws -> TrainingConfiguration in
                let directory = checkpointURL.hasDirectoryPath || checkpointURL.pathExtension.isEmpty
                    ? checkpointURL : checkpointURL.deletingLastPathComponent()
                let path = config ?? directory.appendingPathComponent("config.yaml").path
                return try TrainingConfiguration.load(path: path, overrides: overrides)
            }
            let result = try CheckpointEvaluation.run(checkpoint: checkpointURL, configuration: configuration, world: world)
            guard world.isRoot else { return }
            if json {
                print(String(format: "{\"test_loss\":%.6f,\"test_accuracy\":%.6f}", result.loss, result.headline))
            } else {
                print(String(format: "test loss %.4f  test accuracy %.2f%%", result.loss, 100 * result.headline))
            }
        }
    }
}
