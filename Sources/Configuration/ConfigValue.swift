import Foundation
/// A configuration tree as read from YAML, with key order kept so that resolved configurations
/// print in the order the user wrote them.
public indirect enum ConfigValue: Equatable, Sendable, CustomStringConvertible {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case list([ConfigValue])
    case map(ConfigMap)

    /// The name of the value's kind, for error messages.
    public var kindName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .int: "integer"
        case .double: "number"
        case .string: "string"
        case .list: "list"
        case .map: "mapping"
        }
    }

    public var description: String {
        switch self {
        case .null: "null"
        case .bool(let b): String(b)
        case .int(let i): String(i)
        case .double(let d): String(d)
        case .string(let s): s
        case .list(let items): "[" + items.map(\.description).joined(separator: ", ") + "]"
        case .map(let map): "{" + map.entries.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + "}"
        }
    }
}

/// An ordered mapping from keys to values.
public struct ConfigMap: Equatable, Sendable {
    public private(set) var entries: [(key: String, value: ConfigValue)]

    public init(_ entries: [(key: String, value: ConfigValue)] = []) { self.entries = entries }

    public static func == (lhs: ConfigMap, rhs: ConfigMap) -> Bool {
        lhs.entries.count == rhs.entries.count
            && zip(lhs.entries, rhs.entries).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }

    public var keys: [String] { entries.map(\.key) }

    public subscript(key: String) -> ConfigValue? {
        get { entries.first { $0.key == key }?.value }
        set {
            if let index = entries.firstIndex(where: { $0.key == key }) {
                if let newValue { entries[index].value = newValue } else { entries.remove(at: index) }
            } else if let newValue {
                entries.append((key, newValue))
            }
        }
    }
}

extension ConfigValue {
    /// Sets the value at a dotted path (`optimizer.lr`), creating mappings on the way.
    public mutating func set(path: String, to value: ConfigValue) throws(ConfigError) {
        let components = path.split(separator: ".").map(String.init)
        guard !components.isEmpty, !components.contains(where: \.isEmpty) else {
            throw .invalidOverride(path)
        }
        try set(components[...], to: value, fullPath: path)
    }

    private mutating func set(_ components: ArraySlice<String>, to value: ConfigValue, fullPath: String) throws(ConfigError) {
        guard let head = components.first else { self = value; return }
        var map: ConfigMap
        switch self {
        case .map(let existing): map = existing
        case .null: map = ConfigMap()
        default:
            throw .wrongType(key: fullPath, expected: "mapping", found: "\(kindName) \(self)")
        }
        var child = map[head] ?? .null
        try child.set(components.dropFirst(), to: value, fullPath: fullPath)
        map[head] = child
        self = .map(map)
    }

    /// YAML text for the tree, in key order.
    public func yaml(indent: Int = 0) -> String {
        let pad = String(repeating: " ", count: indent)
        switch self {
        case .map(let map):
            return map.entries.map { key, value in
                switch value {
                case .map(let inner) where !inner.entries.isEmpty:
                    return "\(pad)\(key):\n" + value.yaml(indent: indent + 2)
                default:
                    return "\(pad)\(key): \(value.inlineYAML)\n"
                }
            }.joined()
        default:
            return pad + inlineYAML + "\n"
        }
    }

    /// `s` as a YAML double-quoted scalar, escaped so that it reads back as exactly `s` (line breaks
    /// inside double quotes would otherwise fold into spaces).
    static func doubleQuoted(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                out += "\\x" + String(repeating: "0", count: scalar.value < 0x10 ? 1 : 0) + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    private var inlineYAML: String {
        switch self {
        case .string(let s):
            let control = s.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }
            let needsQuotes = s.isEmpty || control || ConfigValue.parse(scalar: s) != .string(s) || s.contains(": ")
                || s.contains("#") || s.hasPrefix(" ") || s.hasSuffix(" ")
            return needsQuotes ? ConfigValue.doubleQuoted(s) : s
        case .list(let items): return "[" + items.map(\.inlineYAML).joined(separator: ", ") + "]"
        case .map(let map): return "{" + map.entries.map { "\($0.key): \($0.value.inlineYAML)" }.joined(separator: ", ") + "}"
        default: return description
        }
    }
}
