import Checkpoints
import Configuration
import Distributed
import Foundation
import Layers
import Optimizers
import Reporting
import Tensors

/// What a finished (or stopped) run reports.
public struct TrainingSummary: Sendable {
    public var steps: Int
    /// The steps the run was to train.
    public var totalSteps: Int
    public var skippedSteps: Int
    public var testLoss: Double
    public var testAccuracy: Double
    public var seconds: Double
    public var samplesPerSecond: Double
    /// How the run ended.
    public var outcome: Outcome
    /// The checkpoint written last (the one to resume from), when the run has a directory.
    public var checkpoint: URL?

    public enum Outcome: Sendable, Equatable {
        /// Trained every step.
        case finished
        /// Stopped at a step boundary after a signal, with a checkpoint to resume from.
        case stoppedBySignal
        /// Resumed from a checkpoint of a run that had already finished: nothing was trained or written.
        case alreadyFinished
    }
}

/// A training run: the loop that asks the trainer for steps and, between them, writes the metrics,
/// evaluates, checks that ranks agree and checkpoints — each explicitly, in that order. With a run
/// directory it keeps `config.yaml`, `metrics.jsonl`, periodic and final checkpoints, resumes exactly
/// and stops cleanly on request; without one it only trains (in-process checks and tests).
///
/// Starting is all-or-nothing: the run directory, the configuration, the data and the checkpoint to
/// resume from are all checked before anything is written, so a start that fails leaves the
/// directory as it was.
public final class TrainingSession {
    let trainer: Trainer
    public let configuration: TrainingConfiguration
    public let runDirectory: URL?
    let checkpoints: CheckpointDirectory?
    let world: any Communicator
    let metrics: MetricsWriter?
    let progress: ProgressReporter?
    /// The run's identity, written into `config.yaml`, every checkpoint and every metrics line.
    public let runID: String
    /// The checkpoint this session continues from, and its metadata.
    public let resumedFrom: (file: String, metadata: CheckpointMetadata)?
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
    /// The model being trained (its parameters are the run's current ones on every rank).
    public var model: Model { trainer.model }
    /// Whether the checkpoint resumed from had already trained every step (then `run` changes nothing).
    public var isAlreadyFinished: Bool { resumedFrom != nil && trainer.isFinished }

    /// - Parameter overwrite: clear a run directory that holds another run before starting (only
    ///   once every check has passed); without it such a directory is refused.
    public init(configuration: TrainingConfiguration, world: any Communicator, runDirectory: URL?, resume: URL?,
                overwrite: Bool = false, quiet: Bool = false) throws {
        self.configuration = configuration
        self.world = world
        self.runDirectory = runDirectory
        let checkpoints = runDirectory.map { CheckpointDirectory(url: $0, keep: configuration.checkpointKeep) }
        self.checkpoints = checkpoints
        // 1. Read only: what the run directory holds, and the checkpoint to resume from.
        let contents = try agree(world) { () throws -> RunDirectoryContents? in
            guard let runDirectory, world.isRoot else { return nil }
            return try RunDirectoryContents.inspect(runDirectory)
        }
        let resumeFile = try resume.map { url in
            try agree(world) { () throws -> Checkpoint in
                let file = try TrainingSession.checkpointFile(for: url)
                return try Checkpoint.read(from: file)
            }
        }
        try agree(world) {
            guard let contents, let runDirectory else { return }
            try Self.checkNotMixing(contents, runDirectory: runDirectory, resume: resumeFile, overwrite: overwrite)
        }
        // 2. Configuration, data and resume compatibility.
        let trainer = try Trainer(configuration: configuration, world: world)
        self.trainer = trainer
        var resumedFrom: CheckpointMetadata?
        if let resumeFile {
            resumedFrom = try agree(world) { try trainer.restore(from: resumeFile) }
        }
        if let resumeFile, let resumedFrom { self.resumedFrom = (resumeFile.source, resumedFrom) } else { self.resumedFrom = nil }
        // The run continues under its own identity; a fresh one gets a new one (rank 0's, which writes).
        let runID = try Self.agreedRunID(resumedFrom?.runID ?? (resumeFile != nil ? contents?.runID : nil) ?? RunID.make(),
                                         world: world)
        self.runID = runID
        elapsedBefore = resumedFrom?.elapsed ?? 0
        let finished = resumedFrom != nil && trainer.isFinished
        progress = world.isRoot && !quiet && !finished
            ? ProgressReporter(totalSteps: trainer.totalSteps, logEvery: configuration.logEvery,
                               unit: configuration.data.kind.isTokenSequence ? "tokens" : "samples") : nil
        // 3. Only a run that will train writes anything: a refused or finished resume leaves the directory as it was.
        metrics = try agree(world) { () throws -> MetricsWriter? in
            guard let runDirectory, let checkpoints, world.isRoot, !finished else { return nil }
            try RunDirectoryContents.create(runDirectory)
            try checkpoints.preflight()
            if overwrite, let contents { try contents.clear() }
            let url = runDirectory.appendingPathComponent("metrics.jsonl")
            // A fresh run starts a fresh log; a resumed one appends (the reader replaces the steps it redoes).
            if resumeFile == nil { unlink(url.path) }
            let metrics = try MetricsWriter(url: url, runID: runID)
            try Self.writeConfiguration(configuration, runID: runID, to: runDirectory)
            if let resumeFile, let resumedFrom {
                try Self.recordResume(in: runDirectory, from: resumeFile, metadata: resumedFrom, trainer: trainer,
                                      configuration: configuration, worldSize: world.size, runID: runID)
            }
            return metrics
        }
        let writing = metrics != nil
        eventLog = try agree(world) { () throws -> TrainingEventLog? in
            guard let runDirectory, writing else { return nil }
            return try TrainingEventLog(directory: runDirectory, configuration: configuration,
                                        layout: trainer.model.layout, resumedStep: resumedFrom?.step)
        }
        if let eventLog, eventLog.settings.histogramEvery > 0 { trainer.gradientInspector = eventLog.inspectGradients }
    }

    /// Refuses to start a run over another one: a fresh start needs a directory without a run (or
    /// `--overwrite`); a resume must continue the run the directory holds.
    static func checkNotMixing(_ contents: RunDirectoryContents, runDirectory: URL, resume: Checkpoint?,
                               overwrite: Bool) throws {
        let source = resume.map { URL(fileURLWithPath: $0.source).standardizedFileURL }
        let sameDirectory = source?.deletingLastPathComponent().path == runDirectory.standardizedFileURL.path
        if overwrite {
            if let resume, sameDirectory { throw TrainingError.overwriteWouldDeleteResumeCheckpoint(checkpoint: resume.source) }
            return
        }
        guard contents.holdsRun else { return }
        guard let resume else {
            throw TrainingError.runDirectoryHoldsAnotherRun(
                path: runDirectory.path, runID: contents.runID, latestStep: contents.latestStep,
                resumeHint: "--resume \(runDirectory.path)")
        }
        let checkpointRun = resume.metadata[CheckpointMetadata.Key.runID]
        let sameRun = checkpointRun != nil && checkpointRun == contents.runID
        if !sameDirectory && !sameRun {
            throw TrainingError.resumeIntoAnotherRun(path: runDirectory.path, checkpoint: resume.source,
                                                     runID: contents.runID)
        }
    }

    /// Rank 0's run id on every rank.
    static func agreedRunID(_ local: String, world: any Communicator) throws -> String {
        guard world.size > 1 else { return local }
        var bytes = [UInt8](repeating: 0, count: 128)
        for (i, byte) in local.utf8.prefix(bytes.count).enumerated() { bytes[i] = byte }
        try bytes.withUnsafeMutableBytes { try world.broadcast(bytes: $0, root: 0) }
        return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }

    static func writeConfiguration(_ configuration: TrainingConfiguration, runID: String, to runDirectory: URL) throws {
        let url = runDirectory.appendingPathComponent("config.yaml")
        do {
            try AtomicFile.write(Data(configuration.recordedYAML(runID: runID).utf8), to: url)
        } catch {
            throw TrainingError.runDirectory(path: runDirectory.path, reason: "cannot write config.yaml: \(error)")
        }
    }

    /// A checkpoint file, or the latest checkpoint of a run directory.
    static func checkpointFile(for url: URL) throws -> URL {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw ResumeError.notFound(path: url.path)
        }
        guard isDirectory.boolValue else { return url }
        guard let latest = CheckpointDirectory.latest(in: url) else {
            throw ResumeError.noCheckpoint(directory: url.path)
        }
        return latest
    }

    /// The checkpoint `url` stands for (a file, or a run directory's latest checkpoint), read.
    public static func readCheckpoint(_ url: URL) throws -> Checkpoint {
        try Checkpoint.read(from: checkpointFile(for: url))
    }

    /// Trains to the end (or to a requested stop), then writes the final checkpoint and `final.safetensors`.
    ///
    /// A run that diverges (`train.max_consecutive_skips` skipped steps in a row, or non-finite
    /// parameters) ends on every rank with `TrainingError.diverged` or `.nonFiniteParameters`.
    public func run() throws -> TrainingSummary {
        if isAlreadyFinished {
            return TrainingSummary(steps: trainer.step, totalSteps: trainer.totalSteps, skippedSteps: trainer.skippedSteps,
                                   testLoss: .nan, testAccuracy: .nan, seconds: 0, samplesPerSecond: 0,
                                   outcome: .alreadyFinished, checkpoint: resumedFrom.map { URL(fileURLWithPath: $0.file) })
        }
        let startTime = monotonicSeconds()
        let loader = trainer.makeLoader()
        defer { loader.stop() }
        let stepsPerEpoch = trainer.stepsPerEpoch
        let evalEvery = configuration.evalEvery > 0 ? configuration.evalEvery : stepsPerEpoch
        var lastEvaluation = EvaluationResult(loss: .nan, metrics: [])
        var samplesSeen = 0, consecutiveSkips = 0, stopped = false
        var lastFinite: (step: Int, loss: Double)?
        func elapsed() -> Double { elapsedBefore + monotonicSeconds() - startTime }
        func evaluate(step: Int, epoch: Double) throws {
            lastEvaluation = try trainer.evaluate()
            let evaluation = EvaluationRecord(step: step, epoch: epoch, elapsed: elapsed(),
                                              testLoss: lastEvaluation.loss, testAccuracy: lastEvaluation.headline,
                                              bitsPerByte: lastEvaluation.bitsPerByte(configuration.data))
            try metrics?.write(evaluation)
            try eventLog?.record(lastEvaluation, step: step)
            progress?.report(evaluation)
        }
        while !trainer.isFinished {
            let result = try trainer.step(from: loader, stopRequested: stopRequested())
            samplesSeen += result.items
            let step = result.step, epoch = Double(step) / Double(stepsPerEpoch)
            let record = StepRecord(
                step: step, epoch: epoch, loss: result.meanLoss, learningRate: Double(result.learningRate),
                gradientNorm: result.gradientNorm, items: result.items,
                samplesPerSecond: result.scalars.items / max(result.seconds, 1e-9), seconds: result.timings,
                elapsed: elapsed(), skipped: result.skipped,
                recomputed: trainer.isReproducible ? result.recomputations : nil,
                gradientNoiseScale: result.noiseScale.noiseScale, noiseTrace: result.noiseScale.smoothed?.trace,
                noiseGradientSquared: result.noiseScale.smoothed?.gradientSquared,
                gainRatio: result.gainRatio, progress: result.progress)
            try metrics?.write(record)
            try eventLog?.record(record, parameters: trainer.model.store.parameters)
            progress?.update(record, epochs: stepsPerEpoch)

            // Divergence: decided from reduced values, so every rank ends after the same step.
            consecutiveSkips = result.skipped ? consecutiveSkips + 1 : 0
            if !result.parametersFinite {
                progress?.finish()
                try agree(world) {
                    throw TrainingError.nonFiniteParameters(step: step, lastFiniteLoss: lastFinite?.loss,
                                                            lastFiniteStep: lastFinite?.step,
                                                            learningRate: Double(result.learningRate))
                }
            }
            if !result.skipped { lastFinite = (step, result.meanLoss) }
            if configuration.maxConsecutiveSkips > 0 && consecutiveSkips >= configuration.maxConsecutiveSkips {
                progress?.finish()
                try agree(world) {
                    throw TrainingError.diverged(step: step, consecutiveSkips: consecutiveSkips,
                                                 lastFiniteLoss: lastFinite?.loss, lastFiniteStep: lastFinite?.step,
                                                 learningRate: Double(result.learningRate))
                }
            }

            if configuration.checksumEvery > 0 && step % configuration.checksumEvery == 0 {
                try trainer.verifyParametersAgree()
            }
            // A stop is evaluated too, so that the accuracy it reports is the model's at the stop.
            if step % evalEvery == 0 || trainer.isFinished || result.stopRequested {
                try evaluate(step: step, epoch: epoch)
            }
            let every = configuration.checkpointEvery
            if every > 0 && step % every == 0 && !trainer.isFinished && !result.stopRequested {
                try saveCheckpoint(elapsed: elapsed())
            }
            if result.stopRequested && !trainer.isFinished {
                stopped = true
                break
            }
        }
        progress?.finish()
        let seconds = monotonicSeconds() - startTime
        let checkpoint = try saveCheckpoint(elapsed: elapsedBefore + seconds)
        if let runDirectory, trainer.isFinished {
            let final = try trainer.snapshot(elapsed: elapsedBefore + seconds, runID: runID)
            try agree(world) {
                try final?.write(to: runDirectory.appendingPathComponent("final.safetensors"))
            }
        }
        return TrainingSummary(steps: trainer.step, totalSteps: trainer.totalSteps, skippedSteps: trainer.skippedSteps,
                               testLoss: lastEvaluation.loss, testAccuracy: lastEvaluation.headline, seconds: seconds,
                               samplesPerSecond: samplesSeen > 0 ? Double(samplesSeen) / seconds : 0,
                               outcome: stopped ? .stoppedBySignal : .finished, checkpoint: checkpoint)
    }

    /// Every tensor of the training state by its checkpoint name (parameters and optimizer state);
    /// with a sharded optimizer a collective, and the optimizer's state on rank 0 only.
    public func finalState() throws -> [String: [Float]] {
        var state: [String: [Float]] = [:]
        for tensor in try trainer.stateTensors() { state[tensor.name] = tensor.values }
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
    @discardableResult
    func saveCheckpoint(elapsed: Double) throws -> URL? {
        guard let checkpoints else { return nil }
        let snapshot = try trainer.snapshot(elapsed: elapsed, runID: runID)
        try agree(world) {
            if let snapshot { _ = try checkpoints.save(snapshot, step: trainer.step) }
        }
        return checkpoints.url(step: trainer.step)
    }

    /// Appends to `resumes.jsonl` where the run continued from and with which learning rate, so that
    /// a schedule changed on resume (allowed) stays visible next to the metrics.
    static func recordResume(in runDirectory: URL, from checkpoint: Checkpoint, metadata: CheckpointMetadata,
                             trainer: Trainer, configuration: TrainingConfiguration, worldSize: Int,
                             runID: String) throws {
        let record: [String: Any] = [
            "step": metadata.step,
            "checkpoint": checkpoint.source,
            // The shortest decimal of the stored Float (0.05, not 0.05000000074505806).
            "checkpoint_learning_rate": Double(String(metadata.learningRate)) ?? .nan,
            "learning_rate": Double(trainer.learningRate(afterStep: metadata.step)),
            "world_size": worldSize,
            "run_id": runID,
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
    case notFound(path: String)
    case noCheckpoint(directory: String)
    case mismatch(file: String, what: String)

    public var description: String {
        switch self {
        case .notFound(let path): "\(path): no such checkpoint file or run directory"
        case .noCheckpoint(let directory): "\(directory): no checkpoint-*.safetensors to resume from"
        case .mismatch(let file, let what): "\(file): cannot resume: \(what)"
        }
    }
}
