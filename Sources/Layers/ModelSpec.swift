import Configuration

/// The architecture of a model, as read from the `model` section of a configuration: one case per
/// kind, each with its own typed settings. This file is the catalogue; each kind's settings,
/// reading and layers live in the kind's own file (`MLP.swift`, `CNN.swift`), so a new kind is
/// one file plus its line in each switch below.
public enum ModelSpec: Sendable, Equatable {
    case mlp(MLPSettings)
    case cnn(CNNSettings)

    /// The kinds, by their configuration names.
    public static let kinds = [MLPSettings.kind, CNNSettings.kind]

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
        }
    }

    public var common: Common {
        switch self {
        case .mlp(let settings): settings.common
        case .cnn(let settings): settings.common
        }
    }

    /// The layers of this model for samples of `inputShape` and `classes` outputs, numbered like a
    /// PyTorch `nn.Sequential` (`layers.0`, `layers.1`, …).
    func layers(inputShape: [Int], classes: Int) throws(ModelError) -> [any Layer] {
        var stack = LayerStack(inputShape: inputShape)
        switch self {
        case .mlp(let settings): try settings.build(&stack)
        case .cnn(let settings): try settings.build(&stack)
        }
        try stack.add(Linear(name: stack.nextName, inputShape: stack.shape, outFeatures: classes))
        return stack.layers
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
            activation: try Self.choice(section, "activation", default: Activation.relu),
            dropout: try section.double("dropout", default: 0, range: 0...1, openUpper: true),
            initialization: try Self.choice(section, "init", default: Initialization.auto),
            ignoreIndex: try section.int("ignore_index", default: -1, range: Int(Int32.min)...Int(Int32.max)))
        switch kind {
        case MLPSettings.kind: self = .mlp(try MLPSettings(section: section, common: common))
        case CNNSettings.kind: self = .cnn(try CNNSettings(section: section, common: common))
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

    static func widths(_ section: ConfigSection, _ key: String, default fallback: [Int]) throws(ConfigError) -> [Int] {
        let values = try section.ints(key, default: fallback)
        if let bad = values.first(where: { $0 <= 0 }) {
            throw .outOfRange(key: section.qualified(key), value: "\(bad)", allowed: "positive widths")
        }
        return values
    }
}

/// Layers being stacked by a model kind's builder: the current sample shape and the next name.
/// Layers are numbered in order, so names and dropout keys depend only on the spec.
struct LayerStack {
    private(set) var layers: [any Layer] = []
    private(set) var shape: [Int]
    /// Numbered layers so far; unnumbered ones (the MLP's leading flatten) do not count.
    private(set) var numbered = 0

    init(inputShape: [Int]) { shape = inputShape }

    var nextName: String { "layers.\(numbered)" }

    mutating func add(_ layer: any Layer, numbered isNumbered: Bool = true) {
        layers.append(layer)
        shape = layer.outputShape
        if isNumbered { numbered += 1 }
    }

    /// The activation and a dropout keyed by its own layer number.
    mutating func addActivationAndDropout(_ common: ModelSpec.Common) throws(ModelError) {
        add(ActivationLayer(name: nextName, inputShape: shape, activation: common.activation))
        add(try Dropout(name: nextName, inputShape: shape, probability: common.dropout, layerIndex: numbered))
    }
}
