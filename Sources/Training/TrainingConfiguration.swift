import Configuration
import Data
import Distributed
import Foundation
import Layers
import Optimizers
import Tensors

/// Everything a training run is told, read strictly from YAML plus `--set` overrides.
///
/// Each module reads its own section (`model`, `data`, `optimizer`, `schedule`); this type reads
/// the trainer's own keys and keeps the resolved tree so that the run directory records exactly
/// what ran.
public struct TrainingConfiguration {
    /// The resolved configuration tree (file plus overrides), without `run_id`.
    public let tree: ConfigValue
    public let source: String
    /// The `run_id` a run directory's `config.yaml` records, when this configuration was read from
    /// one. Kept out of `tree` (and so out of every fingerprint): it names a run, it does not shape it.
    public let recordedRunID: String?

    public let model: ModelSpec
    public let data: DataConfig
    public let globalBatch: Int
    public let microBatch: Int
    public let duration: Duration
    public let seed: UInt64
    /// Evaluate every this many optimizer steps (0: only at the end).
    public let evalEvery: Int
    /// Plain progress lines every this many steps when not on a terminal.
    public let logEvery: Int
    /// The `logging` section: TensorBoard event files and histograms.
    public let logging: LoggingSettings
    /// Compare a parameter checksum across ranks every this many steps (0: never).
    public let checksumEvery: Int
    /// Steps skipped in a row (non-finite loss or gradient) after which the run is declared diverged
    /// and ends with an error (0: never). A run that skips this many steps in a row is not coming back,
    /// and one that silently skips all of them wastes the whole budget and exits as if it had trained.
    public let maxConsecutiveSkips: Int
    public static let defaultMaxConsecutiveSkips = 20
    /// `loss.aggregation`: the mean (default) or the soft median of the per-sample losses.
    public let lossAggregation: LossAggregation
    /// `train.noise_beta`: the averaging factor of the online gradient noise scale (`GradientNoiseScale`).
    public let noiseBeta: Double
    /// Test-set samples per evaluation forward pass.
    public let evalBatch: Int
    public let checkpointEvery: Int
    public let checkpointKeep: Int
    /// Gradient reduction bucket size in bytes (0: one reduction for the whole buffer).
    public let bucketBytes: Int
    /// `distributed.compress: bf16`: gradient sums reduced as bfloat16 (half the bytes; not exact).
    public let compressesGradients: Bool
    /// `distributed.timeout_s`: how long one collective may take before the watchdog ends the job
    /// (`CollectiveWatchdog`; 0: never).
    public let timeoutSeconds: Double
    /// `distributed.reproducible`: bit-identical training for every decomposition of the global batch
    /// (`FixedPointGradientSum`), at the price of computing it in whole chunks.
    public let reproducible: Bool
    /// `distributed.shard_optimizer` (ZeRO stage 1): each rank keeps the optimizer state of its own
    /// range of the parameters, the gradient sums are reduce-scattered and the parameters all-gathered.
    public let shardsOptimizer: Bool
    /// `distributed.overlap`: each bucket of the gradient reduction starts as soon as the last
    /// micro-step's backward has finished it (`OverlappedReduction`).
    public let overlapsReduction: Bool
    /// `distributed.chunk`: the samples the reproducible mode computes as one forward/backward pass.
    public let chunk: Int
    /// `distributed.chunk`'s default for `model`: 64 samples for the MLP and the CNN, 16 sequences for
    /// the GPT. Each chunk costs a pass over the gradient buffer and BLAS repacks every weight matrix
    /// per chunk, so a chunk must hold enough work to hide that. An image is one row of the dense
    /// products: 64 of them bring the shipped MLP from 0.66× the float mode (chunks of 16) to 0.96×,
    /// and the CNN from 0.92× to 0.96× (`launch/bench/reproducible.sh 300 5 CHUNK`). A sequence is
    /// `block_size` rows: 16 of the shipped GPT's are 2048 rows per product, and its global batch of
    /// 64 still makes 4 chunks. A micro-batch smaller than a chunk computes one chunk (`BatchPlan`),
    /// so the default serves small per-rank batches too; a global batch needs one chunk per rank.
    public static func defaultChunk(for model: ModelSpec) -> Int {
        switch model {
        case .mlp, .cnn: 64
        case .gpt: 16
        }
    }
    /// The most chunks one optimizer step sums (a short last batch has fewer): the fixed-point sums' term count.
    public var chunksPerGlobalBatch: Int { Self.chunks(globalBatch: globalBatch, chunk: chunk) }
    static func chunks(globalBatch: Int, chunk: Int) -> Int { (globalBatch + chunk - 1) / chunk }
    public let faults: FaultInjection

    /// The raw `optimizer` and `schedule` sections, read once the model's layout is known.
    public let optimizerTree: ConfigValue
    public let scheduleTree: ConfigValue
    /// `schedule.adascale.base_batch`: the batch whose schedule AdaScale runs at this batch (nil: off).
    public let adascaleBaseBatch: Int?

    /// How long to train.
    public enum Duration: Equatable, Sendable {
        case epochs(Int)
        case steps(Int)
    }

    /// Test hooks that make one rank misbehave, for the failure-behaviour tests.
    public struct FaultInjection: Equatable, Sendable {
        /// Steps at which `rank` produces a non-finite gradient.
        public var nonFiniteSteps: [Int] = []
        /// Step at which `rank` fails with an error.
        public var failAtStep: Int?
        public var rank: Int = 0
        /// Average per-micro-batch means instead of dividing global sums once: the common
        /// accumulation bug, kept only to show that the equivalence tests catch it.
        public var naiveAccumulation = false
        /// The soft median's weights from each rank's own samples instead of the whole global batch:
        /// the mistake that makes them depend on the decomposition, kept only to show the tests catch it.
        public var localLossWeights = false
    }

    public static let topLevelKeys = ["model", "data", "batch", "train", "optimizer", "schedule", "checkpoint",
                                      "distributed", "debug", "logging", "loss"]
    /// The key under which a run directory's `config.yaml` names its run.
    public static let runIDKey = "run_id"

    /// Token data takes its window length from the GPT's block size (unless `data.sequence_length`
    /// is given, no longer than it) and, for `tokens`, its vocabulary from `model.vocab_size`.
    static func resolveTokenData(_ data: DataConfig, model: ModelSpec) throws(ConfigError) -> DataConfig {
        guard data.kind.isTokenSequence else { return data }
        guard case .gpt(let settings) = model else {
            throw .invalid(key: "model.kind", reason: "data.dataset: \(data.kind.rawValue) holds token sequences, "
                           + "which kind: gpt learns (not \(model.kind))")
        }
        var data = data
        let length = data.sequenceLength ?? settings.blockSize
        guard length <= settings.blockSize else {
            throw .outOfRange(key: "data.sequence_length", value: "\(length)",
                              allowed: "at most model.block_size = \(settings.blockSize)")
        }
        data.sequenceLength = length
        if data.kind == .tokens {
            guard let vocabulary = settings.vocabularySize else { throw .missingKey(key: "model.vocab_size") }
            data.classes = vocabulary
        } else {
            data.classes = 256
        }
        return data
    }

    /// Reads a configuration file and applies `key.path=value` overrides.
    public static func load(path: String, overrides: [String]) throws -> TrainingConfiguration {
        try ConfigurationFile.checkReadable(path)
        return try resolve(ConfigValue.parse(file: path), source: path, overrides: overrides)
    }

    /// `tree` with `key.path=value` overrides applied, checked like a file.
    public static func resolve(_ tree: ConfigValue, source: String, overrides: [String]) throws -> TrainingConfiguration {
        var tree = tree
        for override in overrides {
            guard let equals = override.firstIndex(of: "=") else { throw ConfigError.invalidOverride(override) }
            let key = String(override[..<equals]), value = String(override[override.index(after: equals)...])
            try tree.set(path: key, to: ConfigValue.parse(scalar: value))
        }
        return try TrainingConfiguration(tree: tree, source: source)
    }

    public init(tree: ConfigValue, source: String) throws {
        var tree = tree
        var recordedRunID: String?
        if case .map(var map) = tree, let value = map[Self.runIDKey] {
            guard case .string(let id) = value else {
                throw ConfigError.wrongType(key: Self.runIDKey, expected: "string", found: value.kindName)
            }
            recordedRunID = id
            map[Self.runIDKey] = nil
            tree = .map(map)
        }
        self.tree = tree
        self.source = source
        self.recordedRunID = recordedRunID
        let root = try ConfigSection(tree)
        model = try ModelSpec(section: root.section("model"))
        data = try Self.resolveTokenData(DataConfig(section: root.section("data")), model: model)

        let batch = try root.section("batch")
        globalBatch = try batch.requiredInt("global", range: 1...Int.max)
        microBatch = try batch.requiredInt("micro", range: 1...Int.max)
        try batch.finish()

        let train = try root.section("train")
        let epochs = try train.optionalInt("epochs", range: 1...Int.max)
        let steps = try train.optionalInt("steps", range: 1...Int.max)
        // `steps` takes precedence, so that `--set train.steps=20` shortens any run for a quick look.
        switch (epochs, steps) {
        case (_, let steps?): duration = .steps(steps)
        case (let epochs?, nil): duration = .epochs(epochs)
        case (nil, nil): throw ConfigError.missingKey(key: "train.epochs (or train.steps)")
        }
        seed = UInt64(try train.int("seed", default: 0, range: 0...Int.max))
        evalEvery = try train.int("eval_every", default: 0, range: 0...Int.max)
        logEvery = try train.int("log_every", default: 20, range: 1...Int.max)
        checksumEvery = try train.int("checksum_every", default: 100, range: 0...Int.max)
        maxConsecutiveSkips = try train.int("max_consecutive_skips", default: Self.defaultMaxConsecutiveSkips,
                                            range: 0...Int.max)
        evalBatch = try train.int("eval_batch", default: 1000, range: 1...Int.max)
        noiseBeta = try train.double("noise_beta", default: GradientNoiseScale.defaultBeta, range: 0...1, openUpper: true)
        try train.finish()
        logging = try LoggingSettings(section: root.section("logging"))
        lossAggregation = try LossAggregation.read(from: root.section("loss"))

        let checkpoint = try root.section("checkpoint")
        checkpointEvery = try checkpoint.int("every", default: 0, range: 0...Int.max)
        checkpointKeep = try checkpoint.int("keep", default: 2, range: 1...Int.max)
        try checkpoint.finish()

        let distributed = try root.section("distributed")
        bucketBytes = Int(try distributed.double("bucket_mb", default: 0, range: 0...4096) * 1_048_576)
        timeoutSeconds = try distributed.double("timeout_s", default: CollectiveWatchdog.defaultTimeout, range: 0...604_800)
        compressesGradients = try distributed.choice("compress", default: "none", from: ["none", "bf16"]) == "bf16"
        reproducible = try distributed.bool("reproducible", default: false)
        if compressesGradients && reproducible {
            throw ConfigError.invalid(key: "distributed.compress", reason: "bf16 sums are not exact; distributed.reproducible needs exact ones")
        }
        shardsOptimizer = try distributed.bool("shard_optimizer", default: false)
        if shardsOptimizer && compressesGradients {
            throw ConfigError.invalid(key: "distributed.compress", reason: "bf16 sums travel in an all-reduce; with "
                                      + "distributed.shard_optimizer the gradient sums are reduce-scattered in float32")
        }
        if shardsOptimizer && bucketBytes > 0 {
            throw ConfigError.invalid(key: "distributed.bucket_mb", reason: "buckets split the all-reduce; with "
                                      + "distributed.shard_optimizer the gradient sums are reduce-scattered in one call")
        }
        overlapsReduction = try distributed.bool("overlap", default: false)
        if overlapsReduction {
            for (key, conflicts, reason) in [
                ("distributed.compress", compressesGradients, "bf16 sums are reduced in one call after backward"),
                ("distributed.reproducible", reproducible, "its exact sums are reduced once every chunk is in"),
                ("distributed.shard_optimizer", shardsOptimizer, "its reduce-scatter runs in one call after backward"),
            ] where conflicts {
                throw ConfigError.invalid(key: "distributed.overlap", reason: "cannot be combined with \(key): \(reason)")
            }
            if bucketBytes == 0 {
                throw ConfigError.invalid(key: "distributed.overlap", reason: "needs distributed.bucket_mb > 0: "
                                          + "with one bucket nothing can start before backward ends")
            }
        }
        let chunk = try distributed.optionalInt("chunk", range: 1...65_536)
        if chunk != nil && !reproducible {
            throw ConfigError.invalid(key: "distributed.chunk", reason: "applies only with distributed.reproducible: true")
        }
        self.chunk = reproducible ? chunk ?? Self.defaultChunk(for: model) : 1
        if reproducible && Self.chunks(globalBatch: globalBatch, chunk: self.chunk) > 1 << FixedPointGradientSum.maximumTermBits {
            throw ConfigError.outOfRange(key: "distributed.chunk", value: "\(self.chunk)",
                                         allowed: "at most 2^\(FixedPointGradientSum.maximumTermBits) chunks per global batch "
                                             + "(batch.global \(globalBatch))")
        }
        try distributed.finish()

        let debug = try root.section("debug")
        var faults = FaultInjection()
        faults.nonFiniteSteps = try debug.ints("nonfinite_steps", default: [])
        faults.failAtStep = try debug.optionalInt("fail_at_step", range: 0...Int.max)
        faults.rank = try debug.int("rank", default: 0, range: 0...Int.max)
        faults.naiveAccumulation = try debug.bool("naive_accumulation", default: false)
        faults.localLossWeights = try debug.bool("local_loss_weights", default: false)
        if faults.naiveAccumulation && reproducible {
            throw ConfigError.invalid(key: "debug.naive_accumulation", reason: "cannot be combined with distributed.reproducible")
        }
        try debug.finish()
        self.faults = faults

        optimizerTree = root.value("optimizer") ?? .null
        scheduleTree = root.value("schedule") ?? .null
        guard optimizerTree != .null else { throw ConfigError.missingKey(key: "optimizer") }
        adascaleBaseBatch = try AdaScale.read(from: scheduleTree, globalBatch: globalBatch)
        try root.finish()
    }

    /// Checks the `optimizer` and `schedule` sections without the model: every key, name and range
    /// they hold is read as the trainer will read it, against a stand-in layout. Lets a sweep reject
    /// a bad variant before any variant trains.
    /// This configuration with the key at the dotted `path` replaced, checked like any other.
    public func setting(_ path: String, to value: ConfigValue) throws -> TrainingConfiguration {
        var tree = self.tree
        try tree.set(path: path, to: value)
        return try TrainingConfiguration(tree: tree, source: source)
    }

    public func validateOptimization() throws {
        try OptimizerCatalog.check(section: try ConfigSection(optimizerTree, path: "optimizer"))
        _ = try makeSchedule(totalSteps: 1)
    }

    /// The learning-rate schedule over `totalSteps`, its peak scaled for the global batch: the one
    /// place a schedule is built from a configuration.
    /// A schedule whose peak is 0 trains nothing, so it is refused here rather than run to the end.
    public func makeSchedule(totalSteps: Int) throws -> Schedule {
        let base = try OptimizerCatalog.learningRate(section: ConfigSection(optimizerTree, path: "optimizer"))
        let schedule = try Schedule(section: ConfigSection(scheduleTree, path: "schedule"), baseLearningRate: base,
                                    globalBatch: globalBatch, totalSteps: totalSteps)
        guard schedule.peak > 0 else {
            throw ConfigError.outOfRange(key: "optimizer.lr", value: "\(base)",
                                         allowed: "> 0 (with this schedule every step's learning rate would be 0)")
        }
        return schedule
    }

    /// The resolved configuration as a run directory records it: `run_id` first, then the tree.
    public func recordedYAML(runID: String) -> String {
        "\(Self.runIDKey): \(runID)\n" + tree.yaml()
    }

    /// The batch plan of this configuration on `worldSize` ranks over a training set of `sampleCount`.
    public func batchPlan(sampleCount: Int, worldSize: Int) throws(BatchPlanError) -> BatchPlan {
        try BatchPlan(sampleCount: sampleCount, globalBatch: globalBatch, microBatch: microBatch, worldSize: worldSize,
                      lastBatch: data.lastBatch, seed: seed, chunk: chunk)
    }

    /// The AdaScale schedule's length in base steps (the configured duration at the base batch), or nil
    /// without AdaScale.
    public func adascaleBaseSteps(sampleCount: Int) -> Int? {
        guard let base = adascaleBaseBatch else { return nil }
        let perEpoch = data.lastBatch == .drop ? sampleCount / base : (sampleCount + base - 1) / base
        return totalSteps(stepsPerEpoch: max(perEpoch, 1))
    }

    /// Optimizer steps of the run, given the steps of one epoch.
    public func totalSteps(stepsPerEpoch: Int) -> Int {
        switch duration {
        case .epochs(let epochs): epochs * stepsPerEpoch
        case .steps(let steps): steps
        }
    }

    /// A stable 64-bit fingerprint of the whole resolved configuration (FNV-1a over its YAML).
    public var fingerprint: UInt64 { fnv1a(tree.yaml()) }

    /// A fingerprint of what decides the trajectory: model, data, batch and seed. Learning rate and
    /// schedule may change on resume, so they are not part of it.
    public var trajectoryFingerprint: UInt64 {
        guard case .map(let map) = tree else { return 0 }
        var relevant = ConfigMap()
        for key in ["model", "data", "batch"] { relevant[key] = map[key] }
        relevant["seed"] = .int(Int(seed))
        return fnv1a(ConfigValue.map(relevant).yaml())
    }
}

/// FNV-1a, 64 bits: a tiny stable hash (Swift's `Hasher` is seeded per process).
func fnv1a(_ text: String) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 {
        hash ^= UInt64(byte)
        hash = hash &* 0x0000_0100_0000_01b3
    }
    return hash
}
