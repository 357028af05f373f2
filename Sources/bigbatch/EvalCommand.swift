import ArgumentParser
import Checkpoints
import Distributed
import Foundation
import Training

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval", abstract: "Test loss and accuracy of a checkpoint (under mpirun or alone).")

    @Option(help: "A checkpoint file, or a run directory (its latest checkpoint).") var checkpoint: String
    @Option(help: """
        The configuration (default: the one stored in the checkpoint, else config.yaml beside it).
        """) var config: String?
    @Option(name: .customLong("set"), help: "Override a configuration key (repeatable).") var overrides: [String] = []
    @Flag(help: "Print {\"checkpoint\":…,\"step\":…,\"test_loss\":…,\"test_accuracy\":…}.") var json = false

    func run() throws {
        try withWorld { world in
            let (file, configuration) = try agree(world) {
                try CheckpointEvaluation.open(checkpoint, explicit: config, overrides: overrides)
            }
            let step = (try? CheckpointMetadata(reading: file))?.step
            let result = try CheckpointEvaluation.run(checkpoint: file, configuration: configuration, world: world)
            guard world.isRoot else { return }
            let bits = result.bitsPerByte(configuration.data)
            if json {
                let path = String(decoding: try JSONEncoder().encode(file.source), as: UTF8.self)
                let figures = bits.map { String(format: "\"val_loss\":%.6f,\"bits_per_byte\":%.6f,\"token_accuracy\":%.6f}",
                                                result.loss, $0, result.headline) }
                    ?? String(format: "\"test_loss\":%.6f,\"test_accuracy\":%.6f}", result.loss, result.headline)
                print("{\"checkpoint\":\(path),\"step\":\(step.map(String.init) ?? "null")," + figures)
            } else if let bits {
                print("checkpoint \(file.source)" + (step.map { " (step \($0))" } ?? ""))
                print(String(format: "val loss %.4f  %.4f bits/byte  next-byte accuracy %.2f%%", result.loss, bits,
                             100 * result.headline))
            } else {
                print("checkpoint \(file.source)" + (step.map { " (step \($0))" } ?? ""))
                print(String(format: "test loss %.4f  test accuracy %.2f%%", result.loss, 100 * result.headline))
            }
        }
    }
}
