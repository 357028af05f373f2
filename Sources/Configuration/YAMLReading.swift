import Foundation
import Yams

/// The bounds every configuration text is held to before and while it is read.
///
/// Configurations come from anyone (a shared sweep, a colleague's run), so no text may crash,
/// hang or exhaust memory. Yams's parser recurses once per level of nesting, and its aliases are
/// copied out in full wherever they are used; these limits keep both finite and make the refusal
/// an error that says which limit was reached.
public struct ConfigLimits: Sendable, Equatable {
    /// The largest configuration text, in bytes (shipped configurations are under 2 KB).
    public var maxBytes: Int
    /// The most characters that can open a level of nesting (`[`, `{`, `-`, `:`, `?`). Counting
    /// them bounds the parser's recursion before it starts, whatever the quoting.
    public var maxStructuralCharacters: Int
    /// The deepest nesting of mappings and lists in the parsed tree.
    public var maxDepth: Int
    /// The most values (scalars, lists and mappings) after every alias is expanded.
    public var maxValues: Int

    public init(maxBytes: Int = 1 << 20, maxStructuralCharacters: Int = 10_000, maxDepth: Int = 64,
                maxValues: Int = 100_000) {
        self.maxBytes = maxBytes
        self.maxStructuralCharacters = maxStructuralCharacters
        self.maxDepth = maxDepth
        self.maxValues = maxValues
    }

    public static let standard = ConfigLimits()
}

extension ConfigValue {
    /// Reads and parses a YAML file; an unreadable, oversized or malformed file is a `ConfigError` naming it.
    public static func parse(file path: String, limits: ConfigLimits = .standard) throws(ConfigError) -> ConfigValue {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .unreadable(source: path, reason: "no such file")
        }
        guard !isDirectory.boolValue else {
            throw .unreadable(source: path, reason: "it is a directory, not a YAML file")
        }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw .unreadable(source: path, reason: "the file cannot be opened for reading (permissions?)")
        }
        defer { try? handle.close() }
        // Read one byte past the limit, so an oversized file is refused without being read whole.
        let data: Data
        do {
            data = try handle.read(upToCount: limits.maxBytes + 1) ?? Data()
        } catch {
            throw .unreadable(source: path, reason: "reading failed (\(error.localizedDescription))")
        }
        guard data.count <= limits.maxBytes else {
            throw .unreadable(source: path, reason: "larger than the \(limits.maxBytes)-byte limit for configurations")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw .unreadable(source: path, reason: "not UTF-8 text")
        }
        return try parse(yaml: text, source: path, limits: limits)
    }

    /// Parses YAML text into a configuration tree, within `limits`.
    public static func parse(yaml text: String, source: String, limits: ConfigLimits = .standard) throws(ConfigError) -> ConfigValue {
        let utf8 = text.utf8
        guard utf8.count <= limits.maxBytes else {
            throw .unreadable(source: source, reason: "larger than the \(limits.maxBytes)-byte limit for configurations")
        }
        // Every level of nesting needs at least one of these characters, so their count bounds the
        // depth Yams will recurse to, even where quotes or comments make some of them plain text.
        let structural = utf8.reduce(into: 0) { count, byte in
            switch byte {
            case UInt8(ascii: "["), UInt8(ascii: "{"), UInt8(ascii: "-"), UInt8(ascii: ":"), UInt8(ascii: "?"): count += 1
            default: break
            }
        }
        guard structural <= limits.maxStructuralCharacters else {
            throw .unreadable(source: source, reason: "\(structural) nesting characters ([ { - : ?) exceed the limit of "
                              + "\(limits.maxStructuralCharacters) for configurations")
        }
        // Shallow texts are read where we are; anything that might nest deeper gets a thread whose
        // stack fits the bound above, and the parsed tree is also released there.
        if structural <= 64 { return try ConfigValue.read(yaml: text, source: source, limits: limits) }
        return try onLargeStack { () throws(ConfigError) in try ConfigValue.read(yaml: text, source: source, limits: limits) }
    }

    /// Parses a single scalar as YAML would read it (`0.1` → number, `true` → boolean, `[1, 2]` → list).
    public static func parse(scalar text: String) -> ConfigValue {
        if let value = try? parse(yaml: text, source: "--set"), value != .map(ConfigMap()) { return value }
        return .string(text)
    }

    private static func read(yaml text: String, source: String, limits: ConfigLimits) throws(ConfigError) -> ConfigValue {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw .unreadable(source: source, reason: "\(error)")
        }
        guard let node else { return .map(ConfigMap()) }
        var reader = TreeReader(source: source, limits: limits)
        return try reader.value(of: node, depth: 1)
    }

    /// Runs `body` on a thread with a stack large enough for `ConfigLimits.maxStructuralCharacters`
    /// levels of Yams's recursion (about 4 KB each), waiting for it.
    private static func onLargeStack(_ body: @escaping @Sendable () throws(ConfigError) -> ConfigValue) throws(ConfigError) -> ConfigValue {
        final class Outcome: @unchecked Sendable { var result: Result<ConfigValue, ConfigError> = .success(.null) }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            do throws(ConfigError) { outcome.result = .success(try body()) } catch { outcome.result = .failure(error) }
            done.signal()
        }
        thread.stackSize = 64 << 20
        thread.start()
        done.wait()
        return try outcome.result.get()
    }
}

/// Turns Yams's node tree into a `ConfigValue`, counting depth and expanded values as it goes.
private struct TreeReader {
    let source: String
    let limits: ConfigLimits
    var values = 0

    init(source: String, limits: ConfigLimits) {
        self.source = source
        self.limits = limits
    }

    mutating func value(of node: Node, depth: Int) throws(ConfigError) -> ConfigValue {
        values += 1
        guard values <= limits.maxValues else {
            throw .unreadable(source: source, reason: "more than \(limits.maxValues) values once aliases are expanded "
                              + "(the limit for configurations)")
        }
        switch node {
        case .scalar(let scalar):
            return ConfigValue(scalar: scalar)
        case .sequence(let sequence):
            try check(depth: depth, mark: node.mark)
            var items: [ConfigValue] = []
            for item in sequence { items.append(try value(of: item, depth: depth + 1)) }
            return .list(items)
        case .mapping(let mapping):
            try check(depth: depth, mark: node.mark)
            var entries: [(key: String, value: ConfigValue)] = []
            var seen = Set<String>()
            for (keyNode, valueNode) in mapping {
                guard let key = keyNode.string else {
                    throw .unreadable(source: source, reason: "a mapping key is not a string: \(keyNode)")
                }
                guard seen.insert(key).inserted else {
                    throw .unreadable(source: source, reason: "key '\(key)' appears twice")
                }
                entries.append((key, try value(of: valueNode, depth: depth + 1)))
            }
            return .map(ConfigMap(entries))
        }
    }

    private func check(depth: Int, mark: Mark?) throws(ConfigError) {
        guard depth <= limits.maxDepth else {
            let place = mark.map { " (line \($0.line))" } ?? ""
            throw .unreadable(source: source, reason: "nested deeper than \(limits.maxDepth) levels\(place), "
                              + "the limit for configurations")
        }
    }
}

extension ConfigValue {
    /// Resolves a plain scalar as YAML's core schema does, here rather than in Yams: Yams reads
    /// YAML 1.1's sexagesimal numbers (`1:30` as 90), and traps on long ones such as `1:0:0:0:0:0:0:0:0:0:0`.
    init(scalar: Node.Scalar) {
        let text = scalar.string
        if scalar.style == .singleQuoted || scalar.style == .doubleQuoted {
            self = .string(text)
        } else if let value = Bool.construct(from: scalar) {
            self = .bool(value)
        } else if let value = ConfigValue.integer(text) {
            self = .int(value)
        } else if let value = ConfigValue.number(text) {
            self = .double(value)
        } else if text == "~" || text == "null" || text == "Null" || text == "NULL" || text.isEmpty {
            self = .null
        } else {
            self = .string(text)
        }
    }

    /// `42`, `-7`, `60_000`, `0x1F`, `0o17`, `0b101`; nil for anything else, including integers
    /// beyond `Int`'s range (which `number` then reads as a floating-point value).
    static func integer(_ text: String) -> Int? {
        var body = Substring(text)
        var negative = false
        if let sign = body.first, sign == "-" || sign == "+" {
            negative = sign == "-"
            body = body.dropFirst()
        }
        var radix = 10
        for (prefix, base) in [("0x", 16), ("0o", 8), ("0b", 2)] where body.hasPrefix(prefix) {
            radix = base
            body = body.dropFirst(2)
        }
        // Underscores group digits (YAML 1.1, kept for readability), but only between digits.
        guard let first = body.first, first != "_", body.last != "_" else { return nil }
        let digits = body.filter { $0 != "_" }
        guard let magnitude = UInt64(digits, radix: radix) else { return nil }
        if negative {
            return magnitude <= UInt64(Int.max) + 1 ? Int(truncatingIfNeeded: 0 &- magnitude) : nil
        }
        return magnitude <= UInt64(Int.max) ? Int(magnitude) : nil
    }

    /// `0.5`, `-1e-3`, `.5`, `2.`, `1e9`, `.inf`, `-.inf`, `.nan`; nil for anything else (Swift's own
    /// reading of `inf`, `nan` or hexadecimal floats is not YAML's).
    static func number(_ text: String) -> Double? {
        switch text {
        case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF": return .infinity
        case "-.inf", "-.Inf", "-.INF": return -.infinity
        case ".nan", ".NaN", ".NAN": return .nan
        default: break
        }
        var bytes = Array(text.utf8.filter { $0 != UInt8(ascii: "_") })
        if let sign = bytes.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") { bytes.removeFirst() }
        var index = 0
        func digits() -> Int {
            let start = index
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
            return index - start
        }
        var mantissaDigits = digits()
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            mantissaDigits += digits()
        }
        guard mantissaDigits > 0 else { return nil }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "+") { index += 1 }
            guard digits() > 0 else { return nil }
        }
        guard index == bytes.count, text.first != "_", text.last != "_" else { return nil }
        return Double(text.filter { $0 != "_" })
    }
}
