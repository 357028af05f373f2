import Checkpoints
import Configuration
import Distributed
import Foundation
import Optimizers
import Tensors

/// A training run with its run directory: periodic and final checkpoints, exact resume, and a
/// clean stop on request.
public final class TrainingSession {
    public let trainer: Trainer
    public let runDirectory: URL
    let checkpoints: CheckpointDirectory
    let world: any Communicator

    /// The library version recorded in checkpoints.
    public static let version = "0.1.0"

    public init(configuration: TrainingConfiguration, world: any Communicator, runDirectory: URL, resume: URL?,
                quiet: Bool = false) throws {
        self.world = world
        self.runDirectory = runDirectory
        let checkpoints = CheckpointDirectory(url: runDirectory, keep: configuration.checkpointKeep)
        self.checkpoints = checkpoints
        // An unwritable run directory is found before any training time is spent.
        try agree(world) {
            if world.isRoot {
                try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
                try checkpoints.preflight()
            }
        }
        let resumeFile = try resume.map { url in
            try agree(world) { () throws -> Checkpoint in
                let file = try TrainingSession.checkpointFile(for: url)
                return try Checkpoint.read(from: file)
            }
        }
        trainer = try Trainer(configuration: configuration, world: world, runDirectory: runDirectory, quiet: quiet,
                              appendMetrics: resumeFile != nil)
        if let resumeFile {
            try agree(world) { try restore(from: resumeFile, configuration: configuration) }
        }
        trainer.onStepEnd = { [unowned self] trainer in
            let every = configuration.checkpointEvery
            if every > 0 && trainer.step % every == 0 && trainer.step < trainer.totalSteps { try self.saveCheckpoint() }
        }
    }

    /// A checkpoint file, or the latest checkpoint of a run directory.
    static func checkpointFile(for url: URL) throws -> URL {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw CheckpointError.fileNotFound(path: url.path)
        }
        guard isDirectory.boolValue else { return url }
        guard let latest = CheckpointDirectory.latest(in: url) else {
            throw ResumeError.noCheckpoint(directory: url.path)
        }
        return latest
    }

    /// Trains to the end (or to a requested stop), then writes the final checkpoint and `final.safetensors`.
    public func run() throws -> TrainingSummary {
        let summary = try trainer.run()
        try saveCheckpoint()
        if trainer.step >= trainer.totalSteps {
            try agree(world) {
                if world.isRoot { try snapshot().write(to: runDirectory.appendingPathComponent("final.safetensors")) }
            }
        }
        return summary
    }

    /// Asks the trainer to stop at the next step boundary on SIGINT or SIGTERM (and SIGUSR1, which
    /// mpirun forwards to every rank without ending the job).
    public func installSignalHandlers() {
        for signalNumber in [SIGINT, SIGTERM, SIGUSR1] {
            signal(signalNumber) { _ in stopSignalReceived = 1 }
        }
        trainer.stopRequested = { stopSignalReceived != 0 }
    }

    /// Parameters, optimizer state and the position in training, under stable names.
    public func snapshot() -> Checkpoint {
        let trainer = self.trainer
        let configuration = trainer.configuration
        var checkpoint = Checkpoint(metadata: [
            "step": String(trainer.step),
            "applied_steps": String(trainer.appliedSteps),
            "skipped_steps": String(trainer.skippedSteps),
            "epoch": String(trainer.plan.epoch(ofStep: trainer.step)),
            "position": String(trainer.step % trainer.plan.stepsPerEpoch),
            "seed": String(configuration.seed),
            "global_batch": String(configuration.globalBatch),
            "world_size": String(world.size),
            "config_hash": String(configuration.trajectoryFingerprint, radix: 16),
            "optimizer": trainer.optimizer.name,
            "learning_rate": String(trainer.schedule.learningRate(step: max(trainer.step, 1))),
            "version": TrainingSession.version,
            "elapsed": String(trainer.elapsed),
        ])
        checkpoint.tensors += Checkpoint.tensors(from: trainer.model.layout, buffer: trainer.model.store.parameters,
                                                 prefix: Checkpoint.parameterPrefix)
        for tensor in trainer.optimizer.state {
            checkpoint.append(TrainingSession.optimizerPrefix + tensor.name, shape: tensor.shape, from: tensor.storage)
        }
        return checkpoint
    }

    static let optimizerPrefix = "optimizer."

    /// Rank 0 writes atomically; every rank learns whether it worked before training goes on.
    func saveCheckpoint() throws {
        try agree(world) {
            if world.isRoot { _ = try checkpoints.save(snapshot(), step: trainer.step) }
        }
    }

    /// Puts parameters, optimizer state and counters back, after checking the checkpoint fits.
    func restore(from checkpoint: Checkpoint, configuration: TrainingConfiguration) throws {
        let file = checkpoint.source
        func number(_ key: String) throws -> Int {
            guard let text = checkpoint.metadata[key], let value = Int(text) else {
                throw ResumeError.mismatch(file: file, what: "metadata '\(key)' is missing or not a number")
            }
            return value
        }
        let fingerprint = String(configuration.trajectoryFingerprint, radix: 16)
        if let recorded = checkpoint.metadata["global_batch"], recorded != String(configuration.globalBatch) {
            throw ResumeError.mismatch(file: file, what: "global batch \(recorded) in the checkpoint, \(configuration.globalBatch) configured")
        }
        if let recorded = checkpoint.metadata["config_hash"], recorded != fingerprint {
            throw ResumeError.mismatch(file: file, what: "model, data, batch or seed differ from the configuration (hash \(recorded) vs \(fingerprint))")
        }
        if let recorded = checkpoint.metadata["optimizer"], recorded != trainer.optimizer.name {
            throw ResumeError.mismatch(file: file, what: "optimizer \(recorded) in the checkpoint, \(trainer.optimizer.name) configured")
        }
        let step = try number("step"), applied = try number("applied_steps"), skipped = try number("skipped_steps")
        guard step <= trainer.totalSteps else {
            throw ResumeError.mismatch(file: file, what: "checkpoint step \(step) is beyond the run's \(trainer.totalSteps) steps")
        }
        try checkpoint.restore(into: trainer.model.store.parameters, layout: trainer.model.layout,
                               prefix: Checkpoint.parameterPrefix)
        let state = trainer.optimizer.state
        let expected = Set(state.map { TrainingSession.optimizerPrefix + $0.name })
        if let extra = checkpoint.tensors.map(\.name).first(where: { $0.hasPrefix(TrainingSession.optimizerPrefix) && !expected.contains($0) }) {
            throw CheckpointError.unexpectedTensor(path: file, name: extra)
        }
        for tensor in state {
            try checkpoint.load(TrainingSession.optimizerPrefix + tensor.name, shape: tensor.shape, into: tensor.storage)
        }
        let elapsed = checkpoint.metadata["elapsed"].flatMap(Double.init) ?? 0
        trainer.restoreCounters(step: step, appliedSteps: applied, skippedSteps: skipped, elapsed: elapsed)
        if world.isRoot { try recordResume(from: checkpoint, step: step) }
    }

    /// Appends to `resumes.jsonl` where the run continued from and with which learning rate, so that
    /// a schedule changed on resume (allowed) stays visible next to the metrics.
    func recordResume(from checkpoint: Checkpoint, step: Int) throws {
        let record: [String: Any] = [
            "step": step,
            "checkpoint": checkpoint.source,
            "checkpoint_learning_rate": checkpoint.metadata["learning_rate"].flatMap(Double.init) ?? Double.nan,
            "learning_rate": Double(trainer.schedule.learningRate(step: max(step, 1))),
            "world_size": world.size,
            "checkpoint_world_size": checkpoint.metadata["world_size"].flatMap(Int.init) ?? 0,
            "optimizer": trainer.configuration.optimizerTree.yaml().trimmingCharacters(in: .whitespacesAndNewlines),
            "schedule": trainer.configuration.scheduleTree.yaml().trimmingCharacters(in: .whitespacesAndNewlines),
        ]
        var line = try JSONSerialization.data(withJSONObject: record.filter { !(($0.value as? Double)?.isNaN ?? false) },
                                              options: [.sortedKeys])
        line.append(0x0A)
        let url = runDirectory.appendingPathComponent("resumes.jsonl")
        if !FileManager.default.fileExists(atPath: url.path) { FileManager.default.createFile(atPath: url.path, contents: nil) }
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: line)
    }
}

nonisolated(unsafe) private var stopSignalReceived: sig_atomic_t = 0

/// A checkpoint that cannot continue this run.
public enum ResumeError: Error, CustomStringConvertible {
    case noCheckpoint(directory: String)
    case mismatch(file: String, what: String)

    public var description: String {
        switch self {
        case .noCheckpoint(let directory): "\(directory): no checkpoint-*.safetensors to resume from"
        case .mismatch(let file, let what): "\(file): cannot resume: \(what)"
        }
    }
}
