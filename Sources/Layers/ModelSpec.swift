import Configuration

/// The architecture of a model, as read from the `model` section of a configuration.
public struct ModelSpec: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable { case mlp, cnn }
    public enum Norm: String, Sendable, CaseIterable { case none, layernorm, rmsnorm }
    public enum Pooling: String, Sendable, CaseIterable { case max, avg }
    /// Weight initialization; `auto` takes Kaiming normal for the ReLU family and Xavier uniform for tanh.
    public enum Initialization: String, Sendable, CaseIterable {
        case auto
        case kaimingNormal = "kaiming_normal", kaimingUniform = "kaiming_uniform"
        case xavierNormal = "xavier_normal", xavierUniform = "xavier_uniform"
    }

    public var kind: Kind
    public var activation: Activation
    /// Dropout probability. MLP: after each hidden activation. CNN: after the flatten (before the
    /// first dense layer) and after each dense hidden activation; never inside the conv blocks.
    public var dropout: Double
    public var initialization: Initialization
    /// Label value excluded from the loss and the item count.
    public var ignoreIndex: Int
    /// MLP hidden widths.
    public var hidden: [Int]
    /// MLP normalization, between each hidden Linear and its activation.
    public var norm: Norm
    /// CNN: output channels of each conv block (conv → activation → 2×2 pool with stride 2).
    public var channels: [Int]
    public var kernelSize: Int
    public var padding: Int
    public var stride: Int
    public var pool: Pooling
    /// CNN: hidden widths of the dense layers after the flatten.
    public var dense: [Int]

    /// A multilayer perceptron; defaults are the shipped 784 → 512 → 512 → 10 model.
    public static func mlp(hidden: [Int] = [512, 512], activation: Activation = .relu, dropout: Double = 0,
                           norm: Norm = .none, initialization: Initialization = .auto,
                           ignoreIndex: Int = -1) -> ModelSpec {
        ModelSpec(kind: .mlp, activation: activation, dropout: dropout, initialization: initialization,
                  ignoreIndex: ignoreIndex, hidden: hidden, norm: norm, channels: [], kernelSize: 3, padding: 1,
                  stride: 1, pool: .max, dense: [])
    }

    /// A convolutional network; defaults are the shipped conv32 → pool → conv64 → pool → 128 → 10 model.
    public static func cnn(channels: [Int] = [32, 64], kernelSize: Int = 3, padding: Int? = nil, stride: Int = 1,
                           pool: Pooling = .max, dense: [Int] = [128], activation: Activation = .relu,
                           dropout: Double = 0, initialization: Initialization = .auto,
                           ignoreIndex: Int = -1) -> ModelSpec {
        ModelSpec(kind: .cnn, activation: activation, dropout: dropout, initialization: initialization,
                  ignoreIndex: ignoreIndex, hidden: [], norm: .none, channels: channels, kernelSize: kernelSize,
                  padding: padding ?? kernelSize / 2, stride: stride, pool: pool, dense: dense)
    }
}

extension ModelSpec {
    /// Reads the `model` section strictly: keys that do not apply to the chosen `kind` are rejected.
    public init(section: ConfigSection) throws(ConfigError) {
        let kindName = try section.requiredString("kind")
        guard let kind = Kind(rawValue: kindName) else {
            throw .invalidChoice(key: section.qualified("kind"), value: kindName, valid: Kind.allCases.map(\.rawValue))
        }
        let activation = try Self.choice(section, "activation", default: Activation.relu)
        let dropout = try section.double("dropout", default: 0, range: 0...1, openUpper: true)
        let initialization = try Self.choice(section, "init", default: Initialization.auto)
        let ignoreIndex = try section.int("ignore_index", default: -1, range: Int(Int32.min)...Int(Int32.max))
        switch kind {
        case .mlp:
            let hidden = try Self.widths(section, "hidden", default: [512, 512])
            let norm = try Self.choice(section, "norm", default: Norm.none)
            self = .mlp(hidden: hidden, activation: activation, dropout: dropout, norm: norm,
                        initialization: initialization, ignoreIndex: ignoreIndex)
        case .cnn:
            let channels = try Self.widths(section, "channels", default: [32, 64])
            guard !channels.isEmpty else {
                throw .invalid(key: section.qualified("channels"), reason: "needs at least one conv block")
            }
            let kernelSize = try section.int("kernel_size", default: 3, range: 1...Int.max)
            let padding = try section.int("padding", default: kernelSize / 2, range: 0...Int.max)
            let stride = try section.int("stride", default: 1, range: 1...Int.max)
            let pool = try Self.choice(section, "pool", default: Pooling.max)
            let dense = try Self.widths(section, "dense", default: [128])
            self = .cnn(channels: channels, kernelSize: kernelSize, padding: padding, stride: stride, pool: pool,
                        dense: dense, activation: activation, dropout: dropout, initialization: initialization,
                        ignoreIndex: ignoreIndex)
        }
        try section.finish()
    }

    private static func choice<T: RawRepresentable & CaseIterable>(_ section: ConfigSection, _ key: String,
                                                                   default fallback: T) throws(ConfigError) -> T
    where T.RawValue == String {
        let text = try section.choice(key, default: fallback.rawValue, from: T.allCases.map(\.rawValue))
        guard let value = T(rawValue: text) else {
            throw .invalidChoice(key: section.qualified(key), value: text, valid: T.allCases.map(\.rawValue))
        }
        return value
    }

    private static func widths(_ section: ConfigSection, _ key: String, default fallback: [Int]) throws(ConfigError) -> [Int] {
        let values = try section.ints(key, default: fallback)
        if let bad = values.first(where: { $0 <= 0 }) {
            throw .outOfRange(key: section.qualified(key), value: "\(bad)", allowed: "positive widths")
        }
        return values
    }
}
