import ArgumentParser
import Configuration
import Distributed
import Foundation
import Training

/// Trains one configuration under many decompositions of its global batch on this world and
/// compares each with one rank, one thread, one batch: the product's promise, checked on the
/// user's own machines. The test suite runs it under real `mpirun`.
struct EquivalenceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "equivalence",
        abstract: "Check that every decomposition of a global batch trains like one rank with one batch.",
        discussion: """
            Every combination of --micro, --threads and each --vary key's values is trained on this \
            world's ranks and compared with the same variant on one rank, one thread and micro-batch = \
            global batch (max |a - b| / (1 + |b|) over parameters and optimizer state). Exits non-zero \
            when any exceeds --tolerance. Use a smooth activation (gelu, silu, tanh) and average \
            pooling: ReLU and max pooling turn rounding into a different branch now and then, which \
            no rounding bound covers.
            """)

    @Option(help: "The YAML configuration.") var config: String
    @Option(name: .customLong("set"), help: "Override a key by its dotted path (repeatable).")
    var overrides: [String] = []
    @Option(help: "Micro-batch sizes, comma-separated (default: the configuration's).") var micro: String?
    @Option(help: "BLAS thread counts per rank, comma-separated.") var threads = "1"
    @Option(help: "A key and its values, KEY=V1,V2,... (repeatable; every combination is trained).")
    var vary: [String] = []
    @Option(help: "The largest deviation allowed.") var tolerance = 1e-6

    func run() throws {
        try withWorld { world in
            // Every rank reads the same arguments; agreeing prints a mistake once and ends all ranks cleanly.
            let (threadCounts, microBatches, variants) = try agree(world) {
                let base = try TrainingConfiguration.load(path: config, overrides: overrides)
                let microBatches = try micro.map { try Self.integers($0, option: "--micro") } ?? [base.microBatch]
                for microBatch in microBatches {
                    do {
                        _ = try base.setting("batch.micro", to: .int(microBatch))
                            .batchPlan(sampleCount: base.globalBatch, worldSize: world.size)
                    } catch {
                        throw CommandFailure("--micro \(microBatch): \(error)")
                    }
                }
                return (try Self.integers(threads, option: "--threads"), microBatches,
                        try Self.variants(of: base, varying: vary))
            }
            var checked = 0, failed = 0
            for (label, variant) in variants {
                let reference = try DecompositionCheck.referenceState(of: variant)
                for microBatch in microBatches {
                    for threadCount in threadCounts {
                        let decomposition = Decomposition(microBatch: microBatch, threads: threadCount)
                        let state = try DecompositionCheck.finalState(of: variant, decomposition, world: world)
                        // Rank 0's verdict for all: with a sharded optimizer only it holds the whole state.
                        let deviation = try world.allReduce(
                            world.isRoot ? DecompositionCheck.worstDeviation(state, from: reference) : -.infinity, .max)
                        checked += 1
                        if !(deviation <= tolerance) { failed += 1 }
                        if world.isRoot {
                            let verdict = deviation <= tolerance ? "ok" : "EXCEEDS \(tolerance)"
                            print("\(label)\(world.size) ranks × \(decomposition): deviation "
                                  + String(format: "%.2e", deviation) + "  \(verdict)")
                        }
                    }
                }
            }
            if world.isRoot { print("equivalence: \(checked - failed) of \(checked) decompositions within \(tolerance)") }
            // Every rank counted the same deviations, so all fail together with one message.
            try agree(world) {
                if failed > 0 { throw CommandFailure("\(failed) of \(checked) decompositions exceed \(tolerance)") }
            }
        }
    }

    static func integers(_ text: String, option: String) throws -> [Int] {
        let values = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) > 0 }) else {
            throw CommandFailure("\(option) \(text): expected positive whole numbers separated by commas")
        }
        return values.map { $0! }
    }

    /// Every combination of the `--vary` values applied to `base`, each with a label naming them.
    static func variants(of base: TrainingConfiguration, varying: [String]) throws
        -> [(label: String, configuration: TrainingConfiguration)] {
        var trees: [(String, ConfigValue)] = [("", base.tree)]
        for axis in varying {
            guard let equals = axis.firstIndex(of: "="), equals != axis.startIndex else {
                throw CommandFailure("--vary \(axis): expected KEY=V1,V2,...")
            }
            let key = String(axis[..<equals])
            let values = axis[axis.index(after: equals)...].split(separator: ",").map(String.init)
            guard !values.isEmpty else { throw CommandFailure("--vary \(axis): no values") }
            trees = try trees.flatMap { label, tree in
                try values.map { value in
                    var copy = tree
                    try copy.set(path: key, to: ConfigValue.parse(scalar: value))
                    return (label + "\(key)=\(value)  ", copy)
                }
            }
        }
        return try trees.map { ($0.0, try TrainingConfiguration(tree: $0.1, source: base.source)) }
    }
}
