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
        /// Settings a parameter group may not change, each with the reason (wrappers' own settings,
        /// a rate the optimizer does not use).
        var fixedInGroups: [String: String] = [:]
        /// The settings a group starts from before its own keys, given the top-level ones and the
        /// group's (Muon's AdamW groups rename the top-level AdamW settings); nil: the top-level ones.
        var groupBase: (@Sendable (_ inherited: ConfigMap, _ overrides: ConfigMap) -> ConfigMap)? = nil
        /// A wrapper's section holding the optimizer it wraps, whose learning rate the schedule follows.
        var innerKey: String? = nil
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
        if entry.innerKey != nil { return try learningRate(section: try innerSection(section)) }
        return try section.nonNegative("lr", default: entry.defaultLearningRate)
    }

    /// Builds the optimizer described by `section` and rejects any key it did not read.
    ///
    /// With `groups`, each group's settings are the top-level ones with the group's keys on top, and
    /// the parameters no group matched keep the top-level settings (see `ParameterPartition`).
    public static func make(section: ConfigSection, layout: ParameterLayout) throws(ConfigError) -> any Optimizer {
        let name = try section.requiredString("name")
        let entry = try entry(name, key: section.qualified("name"))
        let rate = try section.nonNegative("lr", default: entry.defaultLearningRate)
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
        if let groups = section.value("groups") {
            let partition = try partition(entry, section, groups, layout: layout, rate: rate)
            try section.finish()
            return TransformChain(name: name, transforms: before + [partition] + after, layout: layout)
        }
        let built = try entry.build(section, layout)
        try section.finish()
        switch built {
        case .transforms(let core):
            return TransformChain(name: name, transforms: before + (after.isEmpty ? core : unfused(core)) + after, layout: layout)
        case .optimizer(let optimizer):
            guard before.isEmpty && after.isEmpty else {
                throw .invalid(key: section.qualified("transforms"), reason: "put transforms in the inner optimizer of \(name)")
            }
            return optimizer
        }
    }

    /// `transforms` with each fused step replaced by the transforms it stands for: where an update
    /// must be left for later transforms (`optimizer.transforms` on the update, a parameter group).
    static func unfused(_ transforms: [any GradientTransform]) -> [any GradientTransform] {
        transforms.flatMap { ($0 as? FusedAdamW)?.unfused ?? [$0] }
    }

    /// Checks `section` as `make` would, without a model: every key, name and range, and each group's
    /// settings and selector syntax; whether a group's selectors match parameters is left to `make`,
    /// which sees the model (a sweep checks its variants before any model exists).
    public static func check(section: ConfigSection) throws(ConfigError) {
        _ = try make(section: section, layout: probeLayout)
    }

    /// The stand-in parameters of `check`: a matrix and a bias. Against it, group selectors need not
    /// match, and a group that matches none of it is built over all of it, so its settings are still read.
    static let probeLayout = ParameterLayout([ParameterSpec(name: "probe.weight", shape: [2, 2], role: .weight),
                                              ParameterSpec(name: "probe.bias", shape: [2], role: .bias)])

    /// Keys no group may set, whatever the optimizer.
    static let fixedInEveryGroup = [
        "name": "a group cannot change the optimizer",
        "groups": "groups do not nest",
        "transforms": "transforms act on the whole model; list them once under optimizer.transforms",
    ]

    /// The optimizer core of every group of `groups`, each built for its own parameters.
    static func partition(_ entry: Entry, _ section: ConfigSection, _ groups: ConfigValue, layout: ParameterLayout,
                          rate: Double) throws(ConfigError) -> ParameterPartition {
        let key = section.qualified("groups")
        let fixed = fixedInEveryGroup.merging(entry.fixedInGroups) { first, _ in first }
        let plans = try ParameterGroupPlan.resolve(groups, key: key, layout: layout, fixed: fixed,
                                                   requiresMatches: layout != probeLayout && !layout.isPart)
        func core(_ built: Built, _ where: String) throws(ConfigError) -> [any GradientTransform] {
            guard case .transforms(let transforms) = built else {
                throw .invalid(key: key, reason: "\(entry.name) wraps another optimizer: give the groups to it, under \(section.qualified("inner")).groups")
            }
            return unfused(transforms)
        }
        // The top-level settings are read (and checked) once even when every parameter is in a group.
        if !plans.contains(where: { $0.index == nil }) {
            _ = try core(try entry.build(section, probeLayout), key)
        }
        var inherited = section.map
        inherited["groups"] = nil
        inherited["transforms"] = nil
        var parts: [ParameterPartition.Part] = []
        for plan in plans {
            let runs = ParameterPartition.runs(of: plan.slots)
            let transforms: [any GradientTransform]
            var factor = 1.0
            if let index = plan.index {
                let path = "\(key)[\(index)]"
                var merged = entry.groupBase?(inherited, plan.overrides) ?? inherited
                for (name, value) in plan.overrides.entries { merged[name] = value }
                let groupSection = ConfigSection(map: merged, path: path)
                let groupRate = try groupSection.nonNegative("lr", default: entry.defaultLearningRate)
                if rate > 0 {
                    factor = groupRate / rate
                } else if groupRate > 0 {
                    throw .invalid(key: "\(path).lr", reason: "a group's rate is scaled by the schedule's factor lr_t / \(section.qualified("lr")), undefined for \(section.qualified("lr")) = 0")
                }
                transforms = try core(try entry.build(groupSection, plan.layout), path)
                // Only the group's own keys are checked here: the inherited ones were checked at the top level.
                let check = ConfigSection(map: plan.overrides, path: path)
                check.declare("params")
                for setting in groupSection.settings where fixed[setting.key] == nil { check.declare(setting.key) }
                try check.finish()
            } else {
                transforms = try core(try entry.build(section, plan.layout), key)
            }
            parts.append(ParameterPartition.Part(label: plan.statePrefix, runs: runs, count: plan.slots.reduce(0) { $0 + $1.count },
                                                 transforms: transforms, rateFactor: factor))
        }
        return ParameterPartition(parts: parts)
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
        return section.settings.filter { !["name", "transforms", "groups"].contains($0.key) }
            .map { $0.key == "inner" ? ($0.key, "{name: adamw}") : $0 }
    }

    /// Bytes of state each of `shards` ranks holds with `distributed.shard_optimizer` (ZeRO stage 1),
    /// for the optimizer `name` with default settings, in rank order.
    public static func shardStateBytes(name: String, layout: ParameterLayout, shards: Int) throws(ConfigError) -> [Int] {
        var map = ConfigMap()
        map["name"] = .string(name)
        if name == "lookahead" { map["inner"] = .map(ConfigMap([("name", .string("adamw"))])) }
        var bytes: [Int] = []
        for index in 0..<shards {
            let shard = try makeShard(.map(map), layout: layout, shards: shards, index: index).shard
            bytes.append(shard.state.reduce(0) { $0 + $1.storage.count * MemoryLayout<Float>.stride })
        }
        return bytes
    }

    /// Bytes of state per parameter, for `bigbatch optimizers`.
    public static func stateBytesPerParameter(name: String, layout: ParameterLayout) throws(ConfigError) -> Double {
        Double(try stateBytes(name: name, layout: layout)) / Double(max(layout.totalCount, 1))
    }
}
