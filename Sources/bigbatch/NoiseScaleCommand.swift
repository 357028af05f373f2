import ArgumentParser
import Checkpoints
import Distributed
import Foundation
import Training

struct NoiseScaleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "noise-scale",
        abstract: "The gradient noise scale of a checkpoint, measured directly at two batch sizes (under mpirun or alone).",
        discussion: """
            B_simple = tr Σ / |G|² (McCandlish et al. 2018, appendix A) from the mean squared norm of the \
            mean gradient over --batches independent batches of --small and of --big samples, at the \
            checkpoint's parameters: an independent check of the grad_noise_scale that training records.
            """)

    @Option(help: "A checkpoint file, or a run directory (its latest checkpoint).") var checkpoint: String
    @Option(help: """
        The configuration (default: the one stored in the checkpoint, else config.yaml beside it).
        """) var config: String?
    @Option(name: .customLong("set"), help: "Override a configuration key (repeatable).") var overrides: [String] = []
    @Option(help: "The small batch size (default: batch.micro).") var small: Int?
    @Option(help: "The big batch size (default: batch.global).") var big: Int?
    @Option(help: "Independent batches at each size.") var batches = 20
    @Flag(help: "Print {\"b_simple\":…,\"trace\":…,\"grad_sq\":…,…}.") var json = false

    func run() throws {
        try withWorld { world in
            let (file, configuration) = try agree(world) {
                try CheckpointEvaluation.open(checkpoint, explicit: config, overrides: overrides)
            }
            let measured = try NoiseScaleMeasurement.run(checkpoint: file, configuration: configuration,
                                                         small: small ?? configuration.microBatch,
                                                         big: big ?? configuration.globalBatch, batches: batches, world: world)
            guard world.isRoot else { return }
            let estimate = measured.estimate
            let noiseScale = estimate.noiseScale
            if json {
                let path = String(decoding: try JSONEncoder().encode(file.source), as: UTF8.self)
                print("{\"checkpoint\":\(path),\"b_simple\":\(noiseScale.map { String(format: "%.6g", $0) } ?? "null"),"
                      + String(format: "\"trace\":%.6g,\"grad_sq\":%.6g,\"small\":%d,\"big\":%d,\"batches\":%d,",
                               estimate.trace, estimate.gradientSquared, measured.smallBatch, measured.bigBatch, measured.batches)
                      // B_simple and tr Σ are per counted item: tokens for a language model, samples otherwise.
                      + String(format: "\"small_items\":%.6g,\"big_items\":%.6g}", measured.smallItems, measured.bigItems))
            } else {
                print("checkpoint \(file.source)")
                print(String(format: "batches of %d and %d samples (%.0f and %.0f counted items), %d of each", measured.smallBatch,
                             measured.bigBatch, measured.smallItems, measured.bigItems, measured.batches))
                print(String(format: "tr Σ %.6g  |G|² %.6g  B_simple %@", estimate.trace, estimate.gradientSquared,
                             noiseScale.map { String(format: "%.0f", $0) } ?? "undefined (the signal estimate is not positive)"))
            }
        }
    }
}
