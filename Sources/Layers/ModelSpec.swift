import Configuration
import Tensors

/// The architecture of a model, as read from the `model` section of a configuration: one case per
/// kind, each with its own typed settings. This file is the catalogue; each kind's settings,
/// reading and layers live in the kind's own file (`MLP.swift`, `CNN.swift`), so a new kind is
/// one file plus its line in each switch below.
public enum ModelSpec: Sendable, Equatable {
    case mlp(MLPSettings)
    case cnn(CNNSettings)
    case gpt(GPTSettings)

    /// The kinds, by their configuration names.
    public static let kinds = [MLPSettings.kind, CNNSettings.kind, GPTSettings.kind]

    public enum Norm: String, Sendable, CaseIterable { case none, layernorm, rmsnorm }
    public enum Pooling: String, Sendable, CaseIterable { case max, avg }
    /// Weight initialization; `auto` takes Kaiming normal for the ReLU family and Xavier uniform for tanh.
    public enum Initialization: String, Sendable, CaseIterable {
        case auto
        case kaimingNormal = "kaiming_normal", kaimingUniform = "kaiming_uniform"
        case xavierNormal = "xavier_normal", xavierUniform = "xavier_uniform"
    }

    /// What every kind has.
    public struct Common: Sendable, Equatable {
        public var activation: Activation
        /// Dropout probability (where each kind applies it is documented with its settings).
        public var dropout: Double
        public var initialization: Initialization
        /// Target value excluded from the loss and the item count.
        public var ignoreIndex: Int

        public init(activation: Activation = .relu, dropout: Double = 0, initialization: Initialization = .auto,
                    ignoreIndex: Int = -1) {
            self.activation = activation
            self.dropout = dropout
            self.initialization = initialization
            self.ignoreIndex = ignoreIndex
        }
    }

    public var kind: String {
        switch self {
        case .mlp: MLPSettings.kind
        case .cnn: CNNSettings.kind
        case .gpt: GPTSettings.kind
        }
    }

    public var common: Common {
        switch self {
        case .mlp(let settings): settings.common
        case .cnn(let settings): settings.common
        case .gpt(let settings): settings.common
        }
    }

    /// The layers of this model for samples of `inputShape` and `classes` outputs, numbered like a
    /// PyTorch `nn.Sequential` (`layers.0`, `layers.1`, …), with their sizes counted. Sizes come
    /// from a configuration and a data file, so they are counted with checked arithmetic, and a
    /// model whose parameters and gradients need more than `memoryBudget` bytes is refused here,
    /// naming the setting that crossed it, before anything is allocated.
    func layers(inputShape: [Int], classes: Int, memoryBudget: Int? = nil) throws(ModelError) -> (layers: [any Layer], size: ModelSize) {
        var stack = LayerStack(inputShape: inputShape, memoryBudget: memoryBudget)
        guard CheckedSize.product(inputShape) != nil else {
            throw .tooLarge(setting: stack.setting, reason: "has more elements per sample than can be counted")
        }
        switch self {
        case .mlp(let settings): try settings.build(&stack)
        case .cnn(let settings): try settings.build(&stack)
        case .gpt(let settings):
            // Its own head, tied to the token embedding.
            try settings.build(&stack, vocabulary: classes)
            return (stack.layers, stack.size)
        }
        stack.setting = "the output layer (\(classes) outputs)"
        try stack.add(Linear(name: stack.nextName, inputShape: stack.shape, outFeatures: classes))
        return (stack.layers, stack.size)
    }

    /// What a model of this spec needs, counted without allocating anything; refused like `Model`
    /// refuses it when its parameters and gradients need more than `memoryBudget` bytes.
    public func size(inputShape: [Int], classes: Int, memoryBudget: Int? = nil) throws(ModelError) -> ModelSize {
        try layers(inputShape: inputShape, classes: classes, memoryBudget: memoryBudget).size
    }

    /// The task this model learns on samples with `targetsPerSample` targets of `classes` values:
    /// one label per sample for the classifiers, the next token at every position for GPT (whose
    /// vocabulary may be given larger than the data's, never smaller).
    public func task(targetsPerSample: Int, classes: Int) throws(ModelError) -> any Task {
        let ignore = Int32(clamping: common.ignoreIndex)
        switch self {
        case .gpt(let settings):
            let vocabulary = settings.vocabularySize ?? classes
            guard vocabulary >= classes else {
                throw .invalidArgument(layer: "model (gpt)", reason: "model.vocab_size = \(vocabulary) is smaller than "
                                       + "the data's vocabulary of \(classes)")
            }
            return NextTokenTask(sequenceLength: targetsPerSample, vocabulary: vocabulary, ignoreIndex: ignore)
        case .mlp, .cnn:
            guard targetsPerSample == 1 else {
                throw .invalidArgument(layer: "model (\(kind))", reason: "classifies one label per sample; the data has "
                                       + "\(targetsPerSample) targets per sample (a language model is kind: gpt)")
            }
            guard classes > 0 else { throw .invalidArgument(layer: "model", reason: "classes must be positive, got \(classes)") }
            return ClassificationTask(classes: classes, ignoreIndex: ignore)
        }
    }

    /// Fills the parameters from the seed by the kind's scheme (GPT-2's for `gpt` with `init: auto`).
    func initialize(_ store: ParameterStore, seed: UInt64) {
        if case .gpt(let settings) = self, common.initialization == .auto {
            settings.initialize(store, seed: seed)
        } else {
            common.initialization.initialize(store, seed: seed, activation: common.activation)
        }
    }

    /// A GPT; defaults are GPT-2 small's (nanoGPT's `GPTConfig`), the vocabulary taken from the data.
    public static func gpt(vocabularySize: Int? = nil, blockSize: Int = 1024, layers: Int = 12, heads: Int = 12,
                           width: Int = 768, bias: Bool = true, dropout: Double = 0, ignoreIndex: Int = -1) -> ModelSpec {
        .gpt(GPTSettings(common: Common(activation: .gelu, dropout: dropout, ignoreIndex: ignoreIndex),
                         vocabularySize: vocabularySize, blockSize: blockSize, layers: layers, heads: heads, width: width,
                         bias: bias))
    }

    /// A multilayer perceptron; defaults are the shipped 784 → 512 → 512 → 10 model.
    public static func mlp(hidden: [Int] = [512, 512], activation: Activation = .relu, dropout: Double = 0,
                           norm: Norm = .none, initialization: Initialization = .auto,
                           ignoreIndex: Int = -1) -> ModelSpec {
        .mlp(MLPSettings(common: Common(activation: activation, dropout: dropout, initialization: initialization,
                                        ignoreIndex: ignoreIndex), hidden: hidden, norm: norm))
    }

    /// A convolutional network; defaults are the shipped conv32 → pool → conv64 → pool → 128 → 10 model.
    public static func cnn(channels: [Int] = [32, 64], kernelSize: Int = 3, padding: Int? = nil, stride: Int = 1,
                           pool: Pooling = .max, dense: [Int] = [128], activation: Activation = .relu,
                           dropout: Double = 0, initialization: Initialization = .auto,
                           ignoreIndex: Int = -1) -> ModelSpec {
        .cnn(CNNSettings(common: Common(activation: activation, dropout: dropout, initialization: initialization,
                                        ignoreIndex: ignoreIndex),
                         channels: channels, kernelSize: kernelSize, padding: padding ?? kernelSize / 2, stride: stride,
                         pool: pool, dense: dense))
    }
}

extension ModelSpec {
    /// Reads the `model` section strictly: keys that do not apply to the chosen `kind` are rejected.
    public init(section: ConfigSection) throws(ConfigError) {
        let kind = try section.requiredString("kind")
        let common = Common(
            activation: try Self.choice(section, "activation", default: kind == GPTSettings.kind ? .gelu : Activation.relu),
            dropout: try section.double("dropout", default: 0, range: 0...1, openUpper: true),
            initialization: try Self.choice(section, "init", default: Initialization.auto),
            ignoreIndex: try section.int("ignore_index", default: -1, range: Int(Int32.min)...Int(Int32.max)))
        switch kind {
        case MLPSettings.kind: self = .mlp(try MLPSettings(section: section, common: common))
        case CNNSettings.kind: self = .cnn(try CNNSettings(section: section, common: common))
        case GPTSettings.kind: self = .gpt(try GPTSettings(section: section, common: common))
        default: throw .invalidChoice(key: section.qualified("kind"), value: kind, valid: Self.kinds)
        }
        try section.finish()
    }

    static func choice<T: RawRepresentable & CaseIterable>(_ section: ConfigSection, _ key: String,
                                                           default fallback: T) throws(ConfigError) -> T
    where T.RawValue == String {
        let text = try section.choice(key, default: fallback.rawValue, from: T.allCases.map(\.rawValue))
        guard let value = T(rawValue: text) else {
            throw .invalidChoice(key: section.qualified(key), value: text, valid: T.allCases.map(\.rawValue))
        }
        return value
    }

    /// The widest layer (units or channels) a configuration may ask for, so that shape arithmetic
    /// cannot overflow; memory runs out long before (`ModelSize`).
    public static let maxWidth = 1 << 24
    /// The largest kernel size, padding or stride a configuration may ask for.
    public static let maxWindow = 1 << 12

    static func widths(_ section: ConfigSection, _ key: String, default fallback: [Int]) throws(ConfigError) -> [Int] {
        let values = try section.ints(key, default: fallback)
        for (index, width) in values.enumerated() where !(1...maxWidth).contains(width) {
            throw .outOfRange(key: "\(section.qualified(key))[\(index)]", value: "\(width)",
                              allowed: "a positive width of at most \(maxWidth)")
        }
        return values
    }
}

/// How much memory a model needs, in floats: what `Model` allocates once and per sample of a pass.
public struct ModelSize: Sendable, Equatable {
    /// Parameters (the gradient buffer has as many again, per replica).
    public internal(set) var parameters = 0
    /// Activations, their gradients and masks per sample of a pass (an upper estimate).
    public internal(set) var perSample = 0
    /// Buffers sized by the layer rather than the batch (a convolution's column matrices).
    public internal(set) var fixedWorkspace = 0

    /// Bytes for a pass over `batch` samples on `replicas` threads, or nil if that overflows `Int`:
    /// the parameters once, a gradient buffer and fixed workspaces per replica, activations per sample.
    public func bytes(batch: Int, replicas: Int) -> Int? {
        guard let perReplica = CheckedSize.sum([parameters, fixedWorkspace]),
              let replicated = CheckedSize.product([perReplica, replicas]),
              let activations = CheckedSize.product([perSample, batch]),
              let floats = CheckedSize.sum([parameters, replicated, activations]) else { return nil }
        return CheckedSize.product([floats, MemoryLayout<Float>.size])
    }
}

/// Layers being stacked by a model kind's builder: the current sample shape and the next name.
/// Layers are numbered in order, so names and dropout keys depend only on the spec.
struct LayerStack {
    private(set) var layers: [any Layer] = []
    private(set) var shape: [Int]
    /// Numbered layers so far; unnumbered ones (the MLP's leading flatten) do not count.
    private(set) var numbered = 0
    /// The setting (with its value) that the layers being added come from, for size errors.
    var setting: String
    private(set) var size = ModelSize()
    private var widest = 0
    private let memoryBudget: Int?

    init(inputShape: [Int], memoryBudget: Int? = nil) {
        shape = inputShape
        setting = "the model's input \(inputShape)"
        self.memoryBudget = memoryBudget
    }

    var nextName: String { "layers.\(numbered)" }

    /// Adds `layer` after counting its parameters, output and workspace with checked arithmetic.
    mutating func add(_ layer: any Layer, numbered isNumbered: Bool = true) throws(ModelError) {
        guard let outputs = CheckedSize.product(layer.outputShape) else {
            throw .tooLarge(setting: setting, reason: "makes \(layer.name)'s output \(layer.outputShape) too large to count")
        }
        var parameters = size.parameters
        for spec in layer.parameterSpecs {
            guard let count = CheckedSize.product(spec.shape), let total = CheckedSize.sum([parameters, count]) else {
                throw .tooLarge(setting: setting, reason: "makes the parameter count overflow (\(spec.name) \(spec.shape))")
            }
            parameters = total
        }
        widest = max(widest, outputs)
        guard let perSample = CheckedSize.sum([size.perSample, outputs, outputs, layer.perSampleWorkspaceCount]),
              let workspace = CheckedSize.sum([size.fixedWorkspace, layer.fixedWorkspaceCount]),
              CheckedSize.product([parameters, 2 * MemoryLayout<Float>.size]) != nil,
              CheckedSize.product([perSample, 2 * MemoryLayout<Float>.size]) != nil else {
            throw .tooLarge(setting: setting, reason: "makes \(layer.name)'s memory too large to count")
        }
        if let memoryBudget, let first = layer.parameterSpecs.first,
           case let needed = parameters * 2 * MemoryLayout<Float>.size, needed > memoryBudget {
            throw .tooLarge(setting: setting, reason: "needs \(CheckedSize.gibibytes(needed)) for parameters and their "
                            + "gradients (\(parameters) parameters; \(first.name) is \(first.shape)), but "
                            + "\(CheckedSize.gibibytes(memoryBudget)) of memory is available")
        }
        size.parameters = parameters
        size.perSample = perSample
        size.fixedWorkspace = workspace
        layers.append(layer)
        shape = layer.outputShape
        if isNumbered { numbered += 1 }
    }

    /// The activation and a dropout keyed by its own layer number.
    mutating func addActivationAndDropout(_ common: ModelSpec.Common) throws(ModelError) {
        try add(ActivationLayer(name: nextName, inputShape: shape, activation: common.activation))
        try add(try Dropout(name: nextName, inputShape: shape, probability: common.dropout, layerIndex: numbered))
    }
}
