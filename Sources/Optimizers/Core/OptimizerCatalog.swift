import Configuration
import Tensors

/// Where a configured transform sits relative to the optimizer.
public enum TransformPlacement: Sendable {
    /// Acts on the gradient before the optimizer sees it (clipping, centralization, L2).
    case gradient
    /// Acts on the optimizer's final update (already scaled by −lr), e.g. decoupled decay, cautious masking.
    case update
}

/// The optimizers BigBatch can build from the `optimizer` configuration section.
///
/// Hyperparameters use the reference library's names and defaults (torch.optim where it has the
/// algorithm, else pytorch_optimizer), so a configuration can be checked against either directly.
public enum OptimizerCatalog {
    struct Entry: Sendable {
        let name: String
        let defaultLearningRate: Double
        let build: @Sendable (ConfigSection, ParameterLayout) throws(ConfigError) -> Built
    }

    enum Built {
        case transforms([any GradientTransform])
        case optimizer(any Optimizer)
    }

    public static var names: [String] { entries.map(\.name) }

    static func entry(_ name: String, key: String) throws(ConfigError) -> Entry {
        guard let entry = entries.first(where: { $0.name == name }) else {
            throw .invalidChoice(key: key, value: name, valid: names)
        }
        return entry
    }

    /// The configured base learning rate (`lr`, ≥ 0), with the optimizer's own default.
    public static func learningRate(section: ConfigSection) throws(ConfigError) -> Double {
        let name = try section.requiredString("name")
        let entry = try entry(name, key: section.qualified("name"))
        return try section.nonNegative("lr", default: entry.defaultLearningRate)
    }

    /// Builds the optimizer described by `section` and rejects any key it did not read.
    public static func make(section: ConfigSection, layout: ParameterLayout) throws(ConfigError) -> any Optimizer {
        let name = try section.requiredString("name")
        let entry = try entry(name, key: section.qualified("name"))
        _ = try section.nonNegative("lr", default: entry.defaultLearningRate)
        var before: [any GradientTransform] = [], after: [any GradientTransform] = []
        if let raw = section.value("transforms") {
            guard case .list(let items) = raw else {
                throw .wrongType(key: section.qualified("transforms"), expected: "list of mappings", found: raw.kindName)
            }
            for (index, item) in items.enumerated() {
                let itemSection = try ConfigSection(item, path: section.qualified("transforms[\(index)]"))
                let (placement, transform) = try TransformCatalog.make(section: itemSection, layout: layout)
                try itemSection.finish()
                switch placement {
                case .gradient: before.append(transform)
                case .update: after.append(transform)
                }
            }
        }
        let built = try entry.build(section, layout)
        try section.finish()
        switch built {
        case .transforms(let core):
            return TransformChain(name: name, transforms: before + core + after, layout: layout)
        case .optimizer(let optimizer):
            guard before.isEmpty && after.isEmpty else {
                throw .invalid(key: section.qualified("transforms"), reason: "put transforms in the inner optimizer of \(name)")
            }
            return optimizer
        }
    }

    /// Total bytes of optimizer state for `layout` with default settings (divide by
    /// `layout.totalCount` for bytes per parameter).
    public static func stateBytes(name: String, layout: ParameterLayout) throws(ConfigError) -> Int {
        var map = ConfigMap()
        map["name"] = .string(name)
        if name == "lookahead" { map["inner"] = .map(ConfigMap([("name", .string("adamw"))])) }
        return try stateBytes(section: ConfigSection(map: map, path: "optimizer"), layout: layout)
    }

    /// Total bytes of the state the optimizer configured by `section` allocates for `layout`: every
    /// tensor it would checkpoint, as stored (packed tensors count their words). Per-step scratch is
    /// not state and is left out. Builds the optimizer, so `section` is validated like `make`'s.
    public static func stateBytes(section: ConfigSection, layout: ParameterLayout) throws(ConfigError) -> Int {
        let optimizer = try make(section: section, layout: layout)
        return optimizer.state.reduce(0) { $0 + $1.storage.count * MemoryLayout<Float>.stride }
    }

    /// The settings `name` reads, in reading order, each with its default (nil where it has none),
    /// `transforms` left out: taken from the reader itself, so that they cannot drift from it.
    public static func settings(name: String) throws(ConfigError) -> [(key: String, default: String?)] {
        var map = ConfigMap()
        map["name"] = .string(name)
        if name == "lookahead" { map["inner"] = .map(ConfigMap([("name", .string("adamw"))])) }
        let section = ConfigSection(map: map, path: "optimizer")
        let layout = ParameterLayout([ParameterSpec(name: "settings.weight", shape: [2, 2], role: .weight)])
        _ = try make(section: section, layout: layout)
        return section.settings.filter { $0.key != "name" && $0.key != "transforms" }
            .map { $0.key == "inner" ? ($0.key, "{name: adamw}") : $0 }
    }

    /// Bytes of state per parameter, for `bigbatch optimizers`.
    public static func stateBytesPerParameter(name: String, layout: ParameterLayout) throws(ConfigError) -> Double {
        Double(try stateBytes(name: name, layout: layout)) / Double(max(layout.totalCount, 1))
    }
}
