import Configuration
import Tensors

/// One selector of a parameter group's `params`: a role (`role:bias`) or a glob on the parameter's name.
///
/// Roles are the ones each layer gives its parameters where it creates them (`weight`: the matrices
/// and convolution kernels of Linear and Conv2d, `bias`, `embedding`: token and position tables,
/// `scale`: the gains of LayerNorm and RMSNorm), so a selector never depends on how a model names
/// things. A glob matches the whole name: `*` any run of characters (dots included), `?` one
/// character, anything else itself (`transformer.h.*.attn.c_attn.weight`, `*.bias`, `layers.0.*`).
public enum ParameterPattern: Equatable, Sendable, CustomStringConvertible {
    case role(ParameterRole)
    case glob(String)

    static let rolePrefix = "role:"

    /// Reads one selector; `key` names it in errors.
    public init(_ text: String, key: String) throws(ConfigError) {
        if text.hasPrefix(Self.rolePrefix) {
            let name = String(text.dropFirst(Self.rolePrefix.count))
            guard let role = ParameterRole(rawValue: name) else {
                throw .invalidChoice(key: key, value: text, valid: ParameterRole.allCases.map { Self.rolePrefix + $0.rawValue })
            }
            self = .role(role)
        } else {
            guard !text.isEmpty else { throw .invalid(key: key, reason: "an empty pattern matches nothing") }
            self = .glob(text)
        }
    }

    public var description: String {
        switch self {
        case .role(let role): Self.rolePrefix + role.rawValue
        case .glob(let text): text
        }
    }

    public func matches(_ slot: ParameterSlot) -> Bool {
        switch self {
        case .role(let role): slot.role == role
        case .glob(let pattern): Self.glob(Array(pattern.utf8), matches: Array(slot.name.utf8))
        }
    }

    /// Wildcard matching with the classic greedy backtrack: linear in practice, no recursion.
    static func glob(_ pattern: [UInt8], matches name: [UInt8]) -> Bool {
        let star = UInt8(ascii: "*"), any = UInt8(ascii: "?")
        var p = 0, n = 0, starAt = -1, resumeAt = 0
        while n < name.count {
            if p < pattern.count && (pattern[p] == any || pattern[p] == name[n]) {
                p += 1; n += 1
            } else if p < pattern.count && pattern[p] == star {
                starAt = p; resumeAt = n; p += 1
            } else if starAt >= 0 {
                p = starAt + 1; resumeAt += 1; n = resumeAt
            } else {
                return false
            }
        }
        while p < pattern.count && pattern[p] == star { p += 1 }
        return p == pattern.count
    }

    /// `params` as written: one selector or a list of them (a parameter matches if any does).
    static func list(_ value: ConfigValue, key: String) throws(ConfigError) -> [ParameterPattern] {
        switch value {
        case .string(let text):
            return [try ParameterPattern(text, key: key)]
        case .list(let items) where !items.isEmpty:
            var patterns: [ParameterPattern] = []
            for (index, item) in items.enumerated() {
                guard case .string(let text) = item else {
                    throw .wrongType(key: "\(key)[\(index)]", expected: "string", found: item.kindName)
                }
                patterns.append(try ParameterPattern(text, key: "\(key)[\(index)]"))
            }
            return patterns
        default:
            throw .wrongType(key: key, expected: "pattern or non-empty list of patterns", found: value.kindName)
        }
    }
}

/// One entry of `optimizer.groups` resolved against a layout: the parameters it took (first matching
/// group wins) and the settings it overrides.
struct ParameterGroupPlan {
    /// The group's position in `groups`; nil for the parameters no group matched (top-level settings).
    let index: Int?
    let slots: [ParameterSlot]
    /// The group's own keys, `params` removed.
    let overrides: ConfigMap

    /// The parameters `slots` laid out on their own, in the model's order, for the group's optimizer.
    var layout: ParameterLayout {
        ParameterLayout(slots.map { ParameterSpec(name: $0.name, shape: $0.shape, role: $0.role, outputAxis: $0.outputAxis) })
    }

    /// The prefix of the group's state names: `groups.0.`, …, and `groups.default.` for the rest.
    var statePrefix: String { "groups.\(index.map(String.init) ?? "default")." }

    /// Resolves `groups` (the raw list under `key`) against `layout`. Every selector must match some
    /// parameter, every group must keep at least one (an earlier group may have taken them all), and
    /// a group may not set a key in `fixed` (key → why it is fixed). Returns the configured groups in
    /// order, then the unmatched parameters' group when there are any. Without `requiresMatches`
    /// (checking settings against a stand-in layout) selectors need not match, and a group that takes
    /// nothing is given the whole layout so that its settings are still built and checked. Against a
    /// part of a model's layout (a shard), the same holds except that a group taking nothing is left
    /// out: the whole model's layout was resolved first and its selectors checked there.
    static func resolve(_ groups: ConfigValue, key: String, layout: ParameterLayout, fixed: [String: String],
                        requiresMatches: Bool = true) throws(ConfigError) -> [ParameterGroupPlan] {
        guard case .list(let items) = groups, !items.isEmpty else {
            throw .wrongType(key: key, expected: "non-empty list of mappings", found: groups.kindName)
        }
        var taken = [Bool](repeating: false, count: layout.slots.count)
        var plans: [ParameterGroupPlan] = []
        for (index, item) in items.enumerated() {
            let path = "\(key)[\(index)]"
            guard case .map(let map) = item else { throw .wrongType(key: path, expected: "mapping", found: item.kindName) }
            guard let raw = map["params"] else { throw .missingKey(key: "\(path).params") }
            let patterns = try ParameterPattern.list(raw, key: "\(path).params")
            for pattern in patterns where requiresMatches && !layout.slots.contains(where: pattern.matches) {
                let names = layout.slots.prefix(4).map(\.name).joined(separator: ", ")
                throw .invalid(key: "\(path).params", reason: "'\(pattern)' matches no parameter of the model (\(names)…)")
            }
            for key in map.keys where key != "params" {
                if let reason = fixed[key] { throw .invalid(key: "\(path).\(key)", reason: reason) }
            }
            var slots: [ParameterSlot] = []
            for (position, slot) in layout.slots.enumerated() where !taken[position] && patterns.contains(where: { $0.matches(slot) }) {
                taken[position] = true
                slots.append(slot)
            }
            if slots.isEmpty && layout.isPart { continue }
            if slots.isEmpty && !requiresMatches {
                plans.append(ParameterGroupPlan(index: index, slots: layout.slots, overrides: map.removing("params")))
                continue
            }
            guard !slots.isEmpty else {
                throw .invalid(key: "\(path).params", reason: "every parameter it matches is already in an earlier group (the first matching group wins)")
            }
            plans.append(ParameterGroupPlan(index: index, slots: slots, overrides: map.removing("params")))
        }
        let rest = zip(layout.slots, taken).filter { !$0.1 }.map(\.0)
        if !rest.isEmpty { plans.append(ParameterGroupPlan(index: nil, slots: rest, overrides: ConfigMap())) }
        return plans
    }
}

extension ConfigMap {
    /// This mapping without `key`.
    func removing(_ key: String) -> ConfigMap {
        var copy = self
        copy[key] = nil
        return copy
    }
}
