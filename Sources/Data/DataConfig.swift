import Configuration

/// Where a data set comes from and how its files are laid out.
public enum DatasetKind: String, Sendable, CaseIterable {
    /// Fashion-MNIST IDX files under their standard names (gzipped or plain).
    case fashionMNIST = "fashion-mnist"
    /// MNIST IDX files under their standard names (gzipped or plain).
    case mnist
    /// Bring-your-own IDX files (see `IDXReader`).
    case idx
    /// Bring-your-own NumPy files (see `NumpyReader`).
    case npy
    /// A UTF-8 text file read as bytes (vocabulary 256): its last `val_fraction` is the validation
    /// split, the rest is cut into windows of `sequence_length` next-token samples (`TokenWindows`).
    case text
    /// nanoGPT's `train.bin` and `val.bin` (uint16 little-endian token ids) in `path`, with the
    /// model's `vocab_size`: data tokenised elsewhere (GPT-2's BPE) trains here.
    case tokens

    /// Whether samples are token sequences for a language model rather than images.
    public var isTokenSequence: Bool { self == .text || self == .tokens }
}

/// What to do with the samples left over when the training set is not a multiple of the global batch.
public enum LastBatchPolicy: String, Sendable, CaseIterable {
    /// Skip them: steps per epoch = floor(N / G); a different remainder is skipped each epoch.
    case drop
    /// Train on them as one short batch: steps per epoch = ceil(N / G).
    case keep
}

/// Per-channel input normalization, applied after scaling pixels to [0, 1].
public enum Normalization: Sendable, Equatable {
    case none
    /// `(x - mean[c]) / std[c]`; one value applies to every channel.
    case fixed(mean: [Double], std: [Double])
    /// Mean and standard deviation per channel measured on the training set.
    case fromTrainingSet
}

/// Training-time augmentation; evaluation never augments.
public struct Augmentation: Sendable, Equatable {
    /// Pad each side with this many black pixels, then crop back to the original size at a random offset.
    public var cropPadding: Int
    /// Mirror left–right with probability 1/2.
    public var flip: Bool

    public init(cropPadding: Int = 0, flip: Bool = false) {
        precondition(cropPadding >= 0, "negative crop padding \(cropPadding)")
        self.cropPadding = cropPadding
        self.flip = flip
    }

    public var isEnabled: Bool { cropPadding > 0 || flip }
}

/// The `data` section of a run configuration.
///
/// ```yaml
/// data:
///   dataset: fashion-mnist        # fashion-mnist | mnist | idx | npy | text | tokens
///   path: /usr/share/datasets/fashion-mnist
///   # train_images / train_labels / test_images / test_labels: file names in `path` (idx, npy)
///   classes: 10
///   last_batch: drop              # drop | keep
///   normalize: {mean: 0.2860, std: 0.3530}   # or none, or auto (measured on the training set)
///   augment: {crop_padding: 0, flip: false}
/// ```
/// Without file names, fashion-mnist, mnist and idx use the standard MNIST names
/// (`train-images-idx3-ubyte[.gz]`, ...), and npy uses `train_images.npy`, `train_labels.npy`,
/// `test_images.npy`, `test_labels.npy`. File formats: `IDXReader`, `NumpyReader`.
public struct DataConfig: Sendable, Equatable {
    public var kind: DatasetKind
    /// The directory holding the files (for `text`, the text file itself).
    public var directory: String
    /// Configured file names (relative to `directory`, or absolute); nil means the standard name.
    public var trainImages: String?
    public var trainLabels: String?
    public var testImages: String?
    public var testLabels: String?
    public var classes: Int
    public var lastBatch: LastBatchPolicy
    public var normalization: Normalization
    public var augmentation: Augmentation
    /// Tokens per sample of `text`/`tokens` data; nil until the model's block size fills it in.
    public var sequenceLength: Int?
    /// The share of a `text` file, at its end, held out for validation.
    public var validationFraction: Double
    /// Splits `text` into documents; with `pack: false` no training sample crosses one.
    public var documentSeparator: String?
    /// Whether training windows run over the concatenated stream (`true`) or stay inside documents,
    /// their tails padded with ignored targets (`false`).
    public var pack: Bool
    /// With `pack: false`, whether a document's last window may be padded with ignored targets; without
    /// padding every document must hold a whole window (an error names the first that does not).
    public var pad: Bool

    public static let defaultDirectories: [DatasetKind: String] = [
        .fashionMNIST: "/usr/share/datasets/fashion-mnist",
        .mnist: "/usr/share/datasets/mnist",
    ]

    public init(kind: DatasetKind = .fashionMNIST, directory: String? = nil, trainImages: String? = nil,
                trainLabels: String? = nil, testImages: String? = nil, testLabels: String? = nil, classes: Int = 10,
                lastBatch: LastBatchPolicy = .drop, normalization: Normalization = .none,
                augmentation: Augmentation = Augmentation(), sequenceLength: Int? = nil, validationFraction: Double = 0.1,
                documentSeparator: String? = nil, pack: Bool = true, pad: Bool = true) {
        precondition(classes > 0, "classes \(classes) must be positive")
        self.kind = kind
        self.directory = directory ?? DataConfig.defaultDirectories[kind] ?? "."
        self.trainImages = trainImages
        self.trainLabels = trainLabels
        self.testImages = testImages
        self.testLabels = testLabels
        self.classes = classes
        self.lastBatch = lastBatch
        self.normalization = normalization
        self.augmentation = augmentation
        self.sequenceLength = sequenceLength
        self.validationFraction = validationFraction
        self.documentSeparator = documentSeparator
        self.pack = pack
        self.pad = pad
    }

    /// Reads the `data` section and rejects unknown keys.
    public init(section: ConfigSection) throws(ConfigError) {
        let kindName = try section.choice("dataset", default: DatasetKind.fashionMNIST.rawValue,
                                          from: DatasetKind.allCases.map(\.rawValue))
        let kind = DatasetKind(rawValue: kindName) ?? .fashionMNIST
        let directory = try section.optionalString("path")
        if directory == nil && DataConfig.defaultDirectories[kind] == nil {
            throw .missingKey(key: section.qualified("path"))
        }
        let policy = try section.choice("last_batch", default: LastBatchPolicy.drop.rawValue,
                                        from: LastBatchPolicy.allCases.map(\.rawValue))
        // Keys of token data only: named as errors for image data rather than silently ignored.
        let sequenceKeys = ["sequence_length", "val_fraction", "document_separator", "pack", "pad"]
        if !kind.isTokenSequence, let key = sequenceKeys.first(where: section.contains) {
            throw .invalid(key: section.qualified(key), reason: "applies to data.dataset: text or tokens only")
        }
        let separator = try section.optionalString("document_separator")
        if separator == "" { throw .invalid(key: section.qualified("document_separator"), reason: "must not be empty") }
        self.init(kind: kind, directory: directory,
                  trainImages: try section.optionalString("train_images"),
                  trainLabels: try section.optionalString("train_labels"),
                  testImages: try section.optionalString("test_images"),
                  testLabels: try section.optionalString("test_labels"),
                  classes: try section.int("classes", default: 10, range: 1...Int(Int32.max)),
                  lastBatch: LastBatchPolicy(rawValue: policy) ?? .drop,
                  normalization: try DataConfig.readNormalization(section),
                  augmentation: try DataConfig.readAugmentation(section),
                  sequenceLength: try section.optionalInt("sequence_length", range: 1...(1 << 24)),
                  validationFraction: try section.double("val_fraction", default: 0.1, range: 0...1, openLower: true,
                                                         openUpper: true),
                  documentSeparator: separator,
                  pack: try section.bool("pack", default: true),
                  pad: try section.bool("pad", default: true))
        if kind.isTokenSequence && (normalization != .none || augmentation.isEnabled) {
            throw .invalid(key: section.qualified(normalization != .none ? "normalize" : "augment"),
                           reason: "token data is neither normalized nor augmented")
        }
        try section.finish()
    }

    static func readNormalization(_ section: ConfigSection) throws(ConfigError) -> Normalization {
        let key = section.qualified("normalize")
        switch section.value("normalize") {
        case nil, .string("none")?, .bool(false)?:
            return .none
        case .string("auto")?:
            return .fromTrainingSet
        case .string(let other)?:
            throw .invalidChoice(key: key, value: other, valid: ["none", "auto", "{mean: ..., std: ...}"])
        case .map?:
            let inner = try section.section("normalize")
            let mean = try numbers(inner, "mean")
            let std = try numbers(inner, "std")
            try inner.finish()
            if mean.count != std.count && mean.count != 1 && std.count != 1 {
                throw .invalid(key: key, reason: "mean has \(mean.count) values but std has \(std.count)")
            }
            if let bad = std.first(where: { !($0 > 0) }) {
                throw .outOfRange(key: inner.qualified("std"), value: "\(bad)", allowed: "> 0")
            }
            return .fixed(mean: mean, std: std)
        case let other?:
            throw .wrongType(key: key, expected: "none, auto or a mapping {mean, std}", found: "\(other.kindName) \(other)")
        }
    }

    /// A number or a list of numbers (one per channel).
    private static func numbers(_ section: ConfigSection, _ key: String) throws(ConfigError) -> [Double] {
        if case .list? = section.value(key) {
            let values = try section.doubles(key, default: [])
            if values.isEmpty { throw .invalid(key: section.qualified(key), reason: "needs at least one number") }
            return values
        }
        return [try section.requiredDouble(key)]
    }

    static func readAugmentation(_ section: ConfigSection) throws(ConfigError) -> Augmentation {
        if case .string("none")? = section.value("augment") { return Augmentation() }
        let inner = try section.section("augment")
        let padding = try inner.int("crop_padding", default: 0, range: 0...1024)
        let flip = try inner.bool("flip", default: false)
        try inner.finish()
        return Augmentation(cropPadding: padding, flip: flip)
    }
}
