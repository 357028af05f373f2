import Foundation
import Tensors

/// Failures of a training run that are not configuration or data problems.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    /// Ranks were started with different configurations.
    case configurationMismatch(localFingerprint: UInt64)
    /// Parameters differ between ranks: a bug or a hardware fault, never to be trained through.
    case parameterDivergence(step: Int, minimum: Double, maximum: Double)
    /// A fault injected by the `debug` section.
    case injectedFailure(rank: Int, step: Int)
    case runDirectory(path: String, reason: String)
    case emptyTrainingSet
    /// The model's task expects another number of targets per sample than the data set holds.
    case targetsMismatch(model: Int, data: Int)
    /// A batch setting whose pass would need more memory than is available (`needed` nil: more than `Int` counts).
    case insufficientMemory(setting: String, needed: Int?, available: Int)
    /// A fresh run was asked to start in a directory that holds another run.
    case runDirectoryHoldsAnotherRun(path: String, runID: String?, latestStep: Int?, resumeHint: String)
    /// A resume from a checkpoint of one run into a directory that holds a different run.
    case resumeIntoAnotherRun(path: String, checkpoint: String, runID: String?)
    /// `--overwrite` together with `--resume` from a checkpoint in the directory it would clear.
    case overwriteWouldDeleteResumeCheckpoint(checkpoint: String)
    /// `train.max_consecutive_skips` steps in a row had a non-finite loss or gradient.
    case diverged(step: Int, consecutiveSkips: Int, lastFiniteLoss: Double?, lastFiniteStep: Int?, learningRate: Double)
    /// An update made some parameter infinite or NaN.
    case nonFiniteParameters(step: Int, lastFiniteLoss: Double?, lastFiniteStep: Int?, learningRate: Double)
    /// A state tensor of a sharded optimizer that is no slice of the unsharded one along its last axis.
    case unshardableState(optimizer: String, tensor: String, shard: [Int], whole: [Int])

    public var description: String {
        switch self {
        case .configurationMismatch(let fingerprint):
            "ranks run different configurations (this rank's fingerprint \(String(fingerprint, radix: 16))); "
                + "start every rank with the same file and overrides"
        case .parameterDivergence(let step, let minimum, let maximum):
            "parameters diverged across ranks at step \(step): checksums range from \(minimum) to \(maximum)"
        case .injectedFailure(let rank, let step):
            "injected failure on rank \(rank) at step \(step) (debug.fail_at_step)"
        case .runDirectory(let path, let reason):
            "run directory \(path): \(reason)"
        case .emptyTrainingSet:
            "the training set is empty"
        case .targetsMismatch(let model, let data):
            "the model's task takes \(model) target(s) per sample, the data set has \(data)"
        case .insufficientMemory(let setting, let needed, let available):
            "\(setting) needs \(needed.map(CheckedSize.gibibytes) ?? "more bytes than can be counted") for this model's "
                + "parameters, gradients and activations, but \(CheckedSize.gibibytes(available)) of memory is available; "
                + "use a smaller batch or model"
        case .runDirectoryHoldsAnotherRun(let path, let runID, let latestStep, let resumeHint):
            "run directory \(path) already holds a run" + (runID.map { " (run id \($0)" + (latestStep.map { ", checkpoint at step \($0))" } ?? ")") } ?? latestStep.map { " (checkpoint at step \($0))" } ?? "")
                + "; continue it with \(resumeHint), start over with --overwrite (deletes its checkpoints and metrics), "
                + "or choose another --run-dir"
        case .resumeIntoAnotherRun(let path, let checkpoint, let runID):
            "run directory \(path) holds another run" + (runID.map { " (run id \($0))" } ?? "")
                + " than \(checkpoint); resume into that run's own directory, an empty --run-dir, or add --overwrite to replace it"
        case .overwriteWouldDeleteResumeCheckpoint(let checkpoint):
            "--overwrite would delete \(checkpoint), the checkpoint to resume from; drop --overwrite to continue the run"
        case .diverged(let step, let skips, let loss, let lossStep, let learningRate):
            "training diverged at step \(step): \(skips) consecutive steps had a non-finite loss or gradient "
                + "(train.max_consecutive_skips = \(skips)); " + Self.lastFinite(loss, lossStep)
                + ", learning rate \(Self.number(learningRate)); lower optimizer.lr or add warm-up or clipping"
        case .nonFiniteParameters(let step, let loss, let lossStep, let learningRate):
            "training diverged at step \(step): the update made parameters non-finite; " + Self.lastFinite(loss, lossStep)
                + ", learning rate \(Self.number(learningRate)); lower optimizer.lr or add warm-up or clipping"
        case .unshardableState(let optimizer, let tensor, let shard, let whole):
            "distributed.shard_optimizer: \(optimizer)'s state tensor \(tensor) has shape \(shard) on a shard but "
                + (whole.isEmpty ? "no counterpart in the unsharded optimizer" : "\(whole) unsharded, which is not a slice of it along the last axis")
                + "; run this optimizer without distributed.shard_optimizer"
        }
    }

    private static func lastFinite(_ loss: Double?, _ step: Int?) -> String {
        guard let loss, let step else { return "no step had a finite loss" }
        return "last finite loss \(number(loss)) at step \(step)"
    }

    private static func number(_ value: Double) -> String { String(format: "%.6g", value) }
}
