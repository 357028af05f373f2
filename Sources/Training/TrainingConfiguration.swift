import Configuration
import Data
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
    /// The resolved configuration tree (file plus overrides).
    public let tree: ConfigValue
    public let source: String

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
    /// Test-set samples per evaluation forward pass.
    public let evalBatch: Int
    public let checkpointEvery: Int
    public let checkpointKeep: Int
    /// Gradient reduction bucket size in bytes (0: one reduction for the whole buffer).
    public let bucketBytes: Int
    public let faults: FaultInjection

    /// The raw `optimizer` and `schedule` sections, read once the model's layout is known.
    public let optimizerTree: ConfigValue
    public let scheduleTree: ConfigValue

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
    }

    public static let topLevelKeys = ["model", "data", "batch", "train", "optimizer", "schedule", "checkpoint",
                                      "distributed", "debug", "logging"]

    /// Reads a configuration file and applies `key.path=value` overrides.
    public static func load(path: String, overrides: [String]) throws -> TrainingConfiguration {
        var tree = try ConfigValue.parse(file: path)
        for override in overrides {
            guard let equals = override.firstIndex(of: "=") else { throw ConfigError.invalidOverride(override) }
            let key = String(override[..<equals]), value = String(override[override.index(after: equals)...])
            try tree.set(path: key, to: ConfigValue.parse(scalar: value))
        }
        return try TrainingConfiguration(tree: tree, source: path)
    }

    public init(tree: ConfigValue, source: String) throws {
        self.tree = tree
        self.source = source
        let root = try ConfigSection(tree)
        model = try ModelSpec(section: root.section("model"))
        data = try DataConfig(section: root.section("data"))

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
        evalBatch = try train.int("eval_batch", default: 1000, range: 1...Int.max)
        try train.finish()
        logging = try LoggingSettings(section: root.section("logging"))

        let checkpoint = try root.section("checkpoint")
        checkpointEvery = try checkpoint.int("every", default: 0, range: 0...Int.max)
        checkpointKeep = try checkpoint.int("keep", default: 2, range: 1...Int.max)
        try checkpoint.finish()

        let distributed = try root.section("distributed")
        bucketBytes = Int(try distributed.double("bucket_mb", default: 0, range: 0...4096) * 1_048_576)
        try distributed.finish()

        let debug = try root.section("debug")
        var faults = FaultInjection()
        faults.nonFiniteSteps = try debug.ints("nonfinite_steps", default: [])
        faults.failAtStep = try debug.optionalInt("fail_at_step", range: 0...Int.max)
        faults.rank = try debug.int("rank", default: 0, range: 0...Int.max)
        faults.naiveAccumulation = try debug.bool("naive_accumulation", default: false)
        try debug.finish()
        self.faults = faults

        optimizerTree = root.value("optimizer") ?? .null
        scheduleTree = root.value("schedule") ?? .null
        guard optimizerTree != .null else { throw ConfigError.missingKey(key: "optimizer") }
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
        let layout = ParameterLayout([ParameterSpec(name: "check.weight", shape: [2, 2], role: .weight),
                                      ParameterSpec(name: "check.bias", shape: [2], role: .bias)])
        let optimizer = try ConfigSection(optimizerTree, path: "optimizer")
        _ = try OptimizerCatalog.make(section: optimizer, layout: layout)
        _ = try makeSchedule(totalSteps: 1)
    }

    /// The learning-rate schedule over `totalSteps`, its peak scaled for the global batch: the one
    /// place a schedule is built from a configuration.
    public func makeSchedule(totalSteps: Int) throws -> Schedule {
        try Schedule(section: ConfigSection(scheduleTree, path: "schedule"),
                     baseLearningRate: OptimizerCatalog.learningRate(section: ConfigSection(optimizerTree, path: "optimizer")),
                     globalBatch: globalBatch, totalSteps: totalSteps)
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
