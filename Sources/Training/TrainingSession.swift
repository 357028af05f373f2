import Checkpoints
import Configuration
import Distributed
import Foundation
import Optimizers
import Reporting
import Tensors

/// What a finished (or stopped) run reports.
public struct TrainingSummary: Sendable {
    public var steps: Int
    public var skippedSteps: Int
    public var testLoss: Double
    public var testAccuracy: Double
    public var seconds: Double
    public var samplesPerSecond: Double
}

/// A training run: the loop that asks the trainer for steps and, between them, writes the metrics,
/// evaluates, checks that ranks agree and checkpoints — each explicitly, in that order. With a run
/// directory it keeps `config.yaml`, `metrics.jsonl`, periodic and final checkpoints, resumes exactly
/// and stops cleanly on request; without one it only trains (in-process checks and tests).
public final class TrainingSession {
    let trainer: Trainer
    public let configuration: TrainingConfiguration
    public let runDirectory: URL?
    let checkpoints: CheckpointDirectory?
    let world: any Communicator
    let metrics: MetricsWriter?
    let progress: ProgressReporter?
    /// TensorBoard events and gradient histograms (rank 0 with a run directory).
    private var eventLog: TrainingEventLog?
    /// Training seconds of the run before a resume, so that `elapsed` continues across it.
    private var elapsedBefore = 0.0
    /// Polled once per step: true stops every rank after the same step (signals).
    public var stopRequested: () -> Bool = { false }

    /// The library version recorded in checkpoints.
    public static let version = "0.1.0"

    public var totalSteps: Int { trainer.totalSteps }
    public var peakLearningRate: Double { trainer.peakLearningRate }
    /// Steps completed so far.
    public var step: Int { trainer.step }

    public init(configuration: TrainingConfiguration, world: any Communicator, runDirectory: URL?, resume: URL?,
                quiet: Bool = false) throws {
        self.configuration = configuration
        self.world = world
        self.runDirectory = runDirectory
        let checkpoints = runDirectory.map { CheckpointDirectory(url: $0, keep: configuration.checkpointKeep) }
        self.checkpoints = checkpoints
        // An unwritable run directory is found before any training time is spent.
        try agree(world) {
            if let runDirectory, let checkpoints, world.isRoot {
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
        let trainer = try Trainer(configuration: configuration, world: world)
        self.trainer = trainer
        var resumedFrom: CheckpointMetadata?
        if let resumeFile {
            resumedFrom = try agree(world) { try trainer.restore(from: resumeFile) }
        }
        if let runDirectory, world.isRoot {
            let url = runDirectory.appendingPathComponent("metrics.jsonl")
            // A fresh run starts a fresh log; a resumed one appends (the reader replaces the steps it redoes).
            if resumeFile == nil { try? FileManager.default.removeItem(at: url) }
            metrics = try MetricsWriter(url: url)
        } else {
            metrics = nil
        }
        progress = world.isRoot && !quiet
            ? ProgressReporter(totalSteps: trainer.totalSteps, logEvery: configuration.logEvery) : nil
        elapsedBefore = resumedFrom?.elapsed ?? 0
        // Only a run that will start records its configuration (a refused resume leaves it as it was).
        try agree(world) {
            guard let runDirectory, world.isRoot else { return }
            try Self.writeConfiguration(configuration, to: runDirectory)
            if let resumeFile, let resumedFrom { try recordResume(from: resumeFile, metadata: resumedFrom) }
            eventLog = try TrainingEventLog(directory: runDirectory, configuration: configuration,
                                            layout: trainer.model.layout, resumedStep: resumedFrom?.step)
        }
        if let eventLog, eventLog.settings.histogramEvery > 0 { trainer.gradientInspector = eventLog.inspectGradients }
    }

    static func writeConfiguration(_ configuration: TrainingConfiguration, to runDirectory: URL) throws {
        do {
            try configuration.tree.yaml().write(to: runDirectory.appendingPathComponent("config.yaml"),
                                                atomically: true, encoding: .utf8)
        } catch {
            throw TrainingError.runDirectory(path: runDirectory.path, reason: error.localizedDescription)
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
        let startTime = monotonicSeconds()
        let loader = trainer.makeLoader()
        defer { loader.stop() }
        let stepsPerEpoch = trainer.stepsPerEpoch
        let evalEvery = configuration.evalEvery > 0 ? configuration.evalEvery : stepsPerEpoch
        var lastEvaluation = EvaluationResult(loss: .nan, metrics: [])
        var samplesSeen = 0
        func elapsed() -> Double { elapsedBefore + monotonicSeconds() - startTime }
        while trainer.step < trainer.totalSteps {
            let result = try trainer.step(from: loader, stopRequested: stopRequested())
            samplesSeen += result.items
            let step = result.step, epoch = Double(step) / Double(stepsPerEpoch)
            let record = StepRecord(
                step: step, epoch: epoch, loss: result.meanLoss, learningRate: Double(result.learningRate),
                gradientNorm: result.gradientNorm, items: result.items,
                samplesPerSecond: result.scalars.items / max(result.seconds, 1e-9), seconds: result.timings,
                elapsed: elapsed(), skipped: result.skipped)
            try metrics?.write(record)
            try eventLog?.record(record, parameters: trainer.model.store.parameters)
            progress?.update(record, epochs: stepsPerEpoch)

            if configuration.checksumEvery > 0 && step % configuration.checksumEvery == 0 {
                try trainer.verifyParametersAgree()
            }
            if step % evalEvery == 0 || step == trainer.totalSteps {
                lastEvaluation = try trainer.evaluate()
                let evaluation = EvaluationRecord(step: step, epoch: epoch, elapsed: elapsed(),
                                                  testLoss: lastEvaluation.loss, testAccuracy: lastEvaluation.headline)
                try metrics?.write(evaluation)
                try eventLog?.record(lastEvaluation, step: step)
                progress?.report(evaluation)
            }
            let every = configuration.checkpointEvery
            if every > 0 && step % every == 0 && step < trainer.totalSteps {
                try saveCheckpoint(elapsed: elapsed())
            }
            if result.stopRequested { break }
        }
        progress?.finish()
        let seconds = monotonicSeconds() - startTime
        try saveCheckpoint(elapsed: elapsedBefore + seconds)
        if let runDirectory, trainer.step >= trainer.totalSteps {
            try agree(world) {
                if world.isRoot {
                    try trainer.snapshot(elapsed: elapsedBefore + seconds)
                        .write(to: runDirectory.appendingPathComponent("final.safetensors"))
                }
            }
        }
        return TrainingSummary(steps: trainer.step, skippedSteps: trainer.skippedSteps, testLoss: lastEvaluation.loss,
                               testAccuracy: lastEvaluation.headline, seconds: seconds,
                               samplesPerSecond: samplesSeen > 0 ? Double(samplesSeen) / seconds : 0)
    }

    /// Every tensor of the training state by its checkpoint name (parameters and optimizer state).
    public func finalState() -> [String: [Float]] {
        var state: [String: [Float]] = [:]
        for tensor in trainer.stateTensors { state[tensor.name] = Array(tensor.values) }
        return state
    }

    /// Asks the trainer to stop at the next step boundary on SIGINT or SIGTERM (and SIGUSR1, which
    /// mpirun forwards to every rank without ending the job).
    public func installSignalHandlers() {
        for signalNumber in [SIGINT, SIGTERM, SIGUSR1] {
            signal(signalNumber) { _ in stopSignalReceived = 1 }
        }
        stopRequested = { stopSignalReceived != 0 }
    }

    /// Rank 0 writes atomically; every rank learns whether it worked before training goes on.
    func saveCheckpoint(elapsed: Double) throws {
        guard let checkpoints else { return }
        try agree(world) {
            if world.isRoot { _ = try checkpoints.save(trainer.snapshot(elapsed: elapsed), step: trainer.step) }
        }
    }

    /// Appends to `resumes.jsonl` where the run continued from and with which learning rate, so that
    /// a schedule changed on resume (allowed) stays visible next to the metrics.
    func recordResume(from checkpoint: Checkpoint, metadata: CheckpointMetadata) throws {
        guard let runDirectory else { return }
        let record: [String: Any] = [
            "step": metadata.step,
            "checkpoint": checkpoint.source,
            // The shortest decimal of the stored Float (0.05, not 0.05000000074505806).
            "checkpoint_learning_rate": Double(String(metadata.learningRate)) ?? .nan,
            "learning_rate": Double(trainer.learningRate(afterStep: metadata.step)),
            "world_size": world.size,
            "checkpoint_world_size": metadata.worldSize,
            "optimizer": configuration.optimizerTree.yaml().trimmingCharacters(in: .whitespacesAndNewlines),
            "schedule": configuration.scheduleTree.yaml().trimmingCharacters(in: .whitespacesAndNewlines),
        ]
        var line = try JSONSerialization.data(withJSONObject: record.filter { !(($0.value as? Double)?.isNaN ?? false) },
                                              options: [.sortedKeys])
        line.append(0x0A)
        let url = runDirectory.appendingPathComponent("resumes.jsonl")
        if !FileManager.default.fileExists(atPath: url.path) { _ = FileManager.default.createFile(atPath: url.path, contents: nil) }
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
