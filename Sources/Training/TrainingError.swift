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
        }
    }
}
