import Checkpoints

/// The per-channel mean and standard deviation, on the [0, 1] scale, that a model's inputs were
/// normalised with: recorded in its checkpoints so that a model trained with `normalize: auto` can be
/// evaluated anywhere without the training set that was measured.
///
/// Stored under `normalize_mean` and `normalize_std` as comma-separated decimals, each the shortest
/// one that reads back as the same Float.
public struct InputNormalization: Equatable, Sendable {
    public var mean: [Float]
    public var std: [Float]

    public init(mean: [Float], std: [Float]) {
        self.mean = mean
        self.std = std
    }

    var strings: [String: String] {
        [CheckpointMetadata.Key.normalizationMean: mean.map { String($0) }.joined(separator: ","),
         CheckpointMetadata.Key.normalizationStd: std.map { String($0) }.joined(separator: ",")]
    }

    /// The normalisation recorded in `checkpoint`, nil if it predates the record; one key without the
    /// other, an unreadable value, unequal lengths or a deviation that is not positive is an error
    /// naming the file and the key.
    public init?(reading checkpoint: Checkpoint) throws(ResumeError) {
        let meanKey = CheckpointMetadata.Key.normalizationMean, stdKey = CheckpointMetadata.Key.normalizationStd
        let file = checkpoint.source
        switch (checkpoint.metadata[meanKey], checkpoint.metadata[stdKey]) {
        case (nil, nil):
            return nil
        case (let mean?, let std?):
            func floats(_ text: String, _ key: String) throws(ResumeError) -> [Float] {
                let values = text.split(separator: ",", omittingEmptySubsequences: false).map { Float($0) }
                guard !values.isEmpty, values.allSatisfy({ $0?.isFinite ?? false }) else {
                    throw .mismatch(file: file, what: "metadata '\(key)' = '\(text)' is not a list of numbers")
                }
                return values.map { $0! }
            }
            self.init(mean: try floats(mean, meanKey), std: try floats(std, stdKey))
            guard self.mean.count == self.std.count else {
                throw .mismatch(file: file, what: "metadata '\(meanKey)' has \(self.mean.count) values but '\(stdKey)' has \(self.std.count)")
            }
            guard self.std.allSatisfy({ $0 > 0 }) else {
                throw .mismatch(file: file, what: "metadata '\(stdKey)' = '\(std)' has a deviation that is not positive")
            }
        case (nil, _?):
            throw .mismatch(file: file, what: "metadata '\(meanKey)' is missing beside '\(stdKey)'")
        case (_?, nil):
            throw .mismatch(file: file, what: "metadata '\(stdKey)' is missing beside '\(meanKey)'")
        }
    }
}
