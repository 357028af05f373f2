import Checkpoints

/// Where a run stood when a checkpoint was written, and what it must match to continue: written
/// and read here only, under the string keys of the safetensors `__metadata__`.
///
/// The keys are those of `bigbatch-checkpoint-1` since its first release, so every checkpoint of
/// that format loads; a file of another format is refused by `Checkpoint` before it gets here.
public struct CheckpointMetadata: Equatable, Sendable {
    /// Optimizer steps completed (applied or skipped).
    public var step: Int
    /// Updates actually applied: the optimizer's own step counter.
    public var appliedSteps: Int
    public var skippedSteps: Int
    public var epoch: Int
    /// Steps into that epoch.
    public var position: Int
    public var seed: UInt64
    public var globalBatch: Int
    public var worldSize: Int
    /// `TrainingConfiguration.trajectoryFingerprint` in hexadecimal: model, data, batch and seed.
    public var configurationHash: String
    public var optimizer: String
    /// The learning rate of the step the checkpoint was taken after.
    public var learningRate: Float
    /// The library version that wrote it.
    public var version: String
    /// Training seconds so far, resumes included.
    public var elapsed: Double
    /// The run the checkpoint belongs to (`run_id` in its `config.yaml` and metrics); nil in
    /// checkpoints written before runs had an identity.
    public var runID: String?
    /// The resolved configuration (YAML) that trained it, so that a checkpoint copied out of its run
    /// directory can still be evaluated, and a resume can name what differs; nil in older checkpoints.
    public var configuration: String?
    /// The input normalisation the model was trained with; nil in checkpoints written before it was recorded.
    public var normalization: InputNormalization?

    enum Key {
        static let step = "step", appliedSteps = "applied_steps", skippedSteps = "skipped_steps", epoch = "epoch"
        static let position = "position", seed = "seed", globalBatch = "global_batch", worldSize = "world_size"
        static let configurationHash = "config_hash", optimizer = "optimizer", learningRate = "learning_rate"
        static let version = "version", elapsed = "elapsed", runID = "run_id", configuration = "configuration"
        static let normalizationMean = "normalize_mean", normalizationStd = "normalize_std"
    }

    public init(step: Int, appliedSteps: Int, skippedSteps: Int, epoch: Int, position: Int, seed: UInt64,
                globalBatch: Int, worldSize: Int, configurationHash: String, optimizer: String, learningRate: Float,
                version: String, elapsed: Double, runID: String? = nil, configuration: String? = nil,
                normalization: InputNormalization? = nil) {
        self.step = step
        self.appliedSteps = appliedSteps
        self.skippedSteps = skippedSteps
        self.epoch = epoch
        self.position = position
        self.seed = seed
        self.globalBatch = globalBatch
        self.worldSize = worldSize
        self.configurationHash = configurationHash
        self.optimizer = optimizer
        self.learningRate = learningRate
        self.version = version
        self.elapsed = elapsed
        self.runID = runID
        self.configuration = configuration
        self.normalization = normalization
    }

    /// The metadata as stored.
    public var strings: [String: String] {
        var strings = [Key.step: String(step), Key.appliedSteps: String(appliedSteps), Key.skippedSteps: String(skippedSteps),
         Key.epoch: String(epoch), Key.position: String(position), Key.seed: String(seed),
         Key.globalBatch: String(globalBatch), Key.worldSize: String(worldSize),
         Key.configurationHash: configurationHash, Key.optimizer: optimizer,
         Key.learningRate: String(learningRate), Key.version: version, Key.elapsed: String(elapsed)]
        if let runID { strings[Key.runID] = runID }
        if let configuration { strings[Key.configuration] = configuration }
        return strings.merging(normalization?.strings ?? [:]) { $1 }
    }

    /// Reads the metadata of `checkpoint`; a missing or malformed entry names the file and the key.
    public init(reading checkpoint: Checkpoint) throws(ResumeError) {
        let strings = checkpoint.metadata, file = checkpoint.source
        func value<T>(_ key: String, _ parse: (String) -> T?) throws(ResumeError) -> T {
            guard let text = strings[key], let value = parse(text) else {
                throw .mismatch(file: file, what: "metadata '\(key)' is missing or malformed")
            }
            return value
        }
        self.init(step: try value(Key.step) { Int($0) }, appliedSteps: try value(Key.appliedSteps) { Int($0) },
                  skippedSteps: try value(Key.skippedSteps) { Int($0) }, epoch: try value(Key.epoch) { Int($0) },
                  position: try value(Key.position) { Int($0) }, seed: try value(Key.seed) { UInt64($0) },
                  globalBatch: try value(Key.globalBatch) { Int($0) }, worldSize: try value(Key.worldSize) { Int($0) },
                  configurationHash: try value(Key.configurationHash) { $0 },
                  optimizer: try value(Key.optimizer) { $0 },
                  learningRate: try value(Key.learningRate) { Float($0) }, version: try value(Key.version) { $0 },
                  // The earliest checkpoints of this format predate the elapsed time.
                  elapsed: strings[Key.elapsed] == nil ? 0 : try value(Key.elapsed) { Double($0) },
                  // Added later; optional so that every earlier checkpoint of the format still loads.
                  runID: strings[Key.runID], configuration: strings[Key.configuration],
                  normalization: try InputNormalization(reading: checkpoint))
    }
}
