import ArgumentParser
import Foundation
import Training

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate", abstract: "Text from a byte-level GPT checkpoint (key/value cache: one position per byte).")

    @Option(help: "A checkpoint file, or a run directory (its latest checkpoint).") var checkpoint: String
    @Option(help: "The text to continue.") var prompt: String
    @Option(help: "Bytes to generate.") var tokens = 200
    @Option(help: "Sampling temperature (0: always the most likely byte).") var temperature = 0.8
    @Option(name: .customLong("top-k"), help: "Sample from the K most likely bytes (0: all).") var topK = 0
    @Option(help: "Seed of the sampling.") var seed: UInt64 = 0
    @Option(help: "The configuration (default: the one stored in the checkpoint, else config.yaml beside it).")
    var config: String?
    @Option(name: .customLong("set"), help: "Override a configuration key (repeatable).") var overrides: [String] = []

    func validate() throws {
        guard tokens >= 0 else { throw ValidationError("--tokens must be 0 or more, got \(tokens)") }
        guard temperature >= 0, temperature.isFinite else {
            throw ValidationError("--temperature must be a finite number ≥ 0, got \(temperature)")
        }
        guard topK >= 0 else { throw ValidationError("--top-k must be 0 or more, got \(topK)") }
    }

    func run() throws {
        let (file, configuration) = try CheckpointEvaluation.open(checkpoint, explicit: config, overrides: overrides)
        let model = try TextGeneration.model(checkpoint: file, configuration: configuration)
        let text = try TextGeneration.continuation(of: prompt, model: model, bytes: tokens, temperature: temperature, topK: topK,
                                               seed: seed)
        print(prompt + text)
    }
}
