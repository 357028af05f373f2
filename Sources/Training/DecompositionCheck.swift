import Configuration
import Distributed
import Tensors

/// One way to run a configuration's global batch on a world: the micro-batch each rank processes
/// at a time and the threads each rank splits it over (the number of ranks is the world's).
public struct Decomposition: Hashable, Sendable, CustomStringConvertible {
    public var microBatch: Int
    public var threads: Int

    public init(microBatch: Int, threads: Int) {
        precondition(microBatch > 0 && threads > 0, "micro-batch \(microBatch) and threads \(threads) must be positive")
        self.microBatch = microBatch
        self.threads = threads
    }

    public var description: String { "micro \(microBatch), \(threads) thread\(threads == 1 ? "" : "s")" }
}

/// The product's promise as a check anyone can run: a configuration trained under any
/// decomposition of its global batch ends where one rank, one thread and one batch end, up to
/// float rounding.
///
/// "Up to rounding" needs a model whose output is continuous in its parameters. ReLU and max
/// pooling are not: a pre-activation within rounding of 0 (or two pooled values within rounding of
/// each other) takes a different branch when the summation order changes, that sample's whole
/// gradient row moves by O(lr/B), and training amplifies it from there. That is arithmetic, not a
/// bug (measured: one pre-activation of 0.0 against 8.9e-8 at step 19 moved the shipped MLP's
/// weights by 1e-2 after 30 SGD steps), so checks at a rounding bound use smooth activations and
/// average pooling; bit-identical training of ReLU networks needs an exact reduction instead.
public enum DecompositionCheck {
    /// Trains `configuration` on `world` with `decomposition` and returns every tensor of the final
    /// state (parameters and optimizer state) by its checkpoint name. Nothing is written to disk.
    public static func finalState(of configuration: TrainingConfiguration, _ decomposition: Decomposition,
                                  world: any Communicator) throws -> [String: [Float]] {
        let variant = try configuration.setting("batch.micro", to: .int(decomposition.microBatch))
        return try BLAS.withThreadCount(decomposition.threads) {
            let session = try TrainingSession(configuration: variant, world: world, runDirectory: nil, resume: nil,
                                              quiet: true)
            _ = try session.run()
            return try session.finalState()
        }
    }

    /// The one-rank, one-thread, one-batch run with the optimizer unsharded that every decomposition
    /// is compared with.
    public static func referenceState(of configuration: TrainingConfiguration) throws -> [String: [Float]] {
        let plain = configuration.shardsOptimizer
            ? try configuration.setting("distributed.shard_optimizer", to: .bool(false)) : configuration
        return try finalState(of: plain, Decomposition(microBatch: configuration.globalBatch, threads: 1),
                              world: LocalCommunicator())
    }

    /// max |a − b| / (1 + |b|) over every element of every tensor whose bits differ: infinite when the
    /// tensors differ in name or size, or such an element is NaN.
    public static func worstDeviation(_ a: [String: [Float]], from b: [String: [Float]]) -> Double {
        guard a.keys.sorted() == b.keys.sorted() else { return .infinity }
        var worst = 0.0
        for (name, reference) in b {
            guard let values = a[name], values.count == reference.count else { return .infinity }
            // Bits first: packed state (SMMF's sign words) holds patterns that read as NaN.
            for (x, y) in zip(values, reference) where x.bitPattern != y.bitPattern {
                let deviation = abs(Double(x) - Double(y)) / (1 + abs(Double(y)))
                worst = deviation.isNaN ? .infinity : max(worst, deviation)
            }
        }
        return worst
    }
}
