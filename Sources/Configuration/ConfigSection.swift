/// Strict, typed reading of one mapping of a configuration.
///
/// Each module reads its own section and names the keys it understands; `finish()` then rejects
/// any key nobody read, suggesting the closest valid one. That keeps the list of valid keys next to
/// the code that uses them instead of in a schema that can drift.
public final class ConfigSection {
    /// The dotted path of this section ("" for the root).
    public let path: String
    public let map: ConfigMap
    private var known: [String] = []
    /// The keys read so far, in reading order, each with the default a reader gave it (nil for a
    /// required key or one without a default): what `bigbatch optimizers` lists as a catalogue entry's
    /// settings, taken from the code that reads them so that the list cannot drift from it.
    public private(set) var settings: [(key: String, default: String?)] = []

    private func noteDefault(_ key: String, _ fallback: String) {
        if let index = settings.firstIndex(where: { $0.key == key }) { settings[index].default = fallback }
    }

    public init(_ value: ConfigValue, path: String = "") throws(ConfigError) {
        self.path = path
        switch value {
        case .map(let map): self.map = map
        case .null: self.map = ConfigMap()
        default: throw .wrongType(key: path.isEmpty ? "(root)" : path, expected: "mapping", found: value.kindName)
        }
    }

    public init(map: ConfigMap, path: String) {
        self.path = path
        self.map = map
    }

    /// The full dotted name of `key` in this section.
    public func qualified(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// Declares `key` valid and returns its raw value, if present.
    public func value(_ key: String) -> ConfigValue? {
        if !known.contains(key) {
            known.append(key)
            settings.append((key, nil))
        }
        switch map[key] {
        case .null?, nil: return nil
        case let value?: return value
        }
    }

    /// Whether `key` is present (and declares it valid).
    public func contains(_ key: String) -> Bool { value(key) != nil }

    public func section(_ key: String) throws(ConfigError) -> ConfigSection {
        try ConfigSection(value(key) ?? .null, path: qualified(key))
    }

    public func optionalDouble(_ key: String, range: ClosedRange<Double>? = nil, openLower: Bool = false,
                               openUpper: Bool = false) throws(ConfigError) -> Double? {
        guard let raw = value(key) else { return nil }
        let number: Double
        switch raw {
        case .int(let i): number = Double(i)
        case .double(let d): number = d
        default: throw .wrongType(key: qualified(key), expected: "number", found: "\(raw.kindName) \(raw)")
        }
        guard number.isFinite else { throw .outOfRange(key: qualified(key), value: "\(number)", allowed: "finite") }
        if let range {
            let lowOK = openLower ? number > range.lowerBound : number >= range.lowerBound
            let highOK = openUpper ? number < range.upperBound : number <= range.upperBound
            if !(lowOK && highOK) {
                let low = openLower ? "(" : "["
                let high = openUpper ? ")" : "]"
                throw .outOfRange(key: qualified(key), value: "\(number)",
                                  allowed: "in \(low)\(range.lowerBound), \(range.upperBound)\(high)")
            }
        }
        return number
    }

    public func double(_ key: String, default fallback: Double, range: ClosedRange<Double>? = nil,
                       openLower: Bool = false, openUpper: Bool = false) throws(ConfigError) -> Double {
        defer { noteDefault(key, String(fallback)) }
        return try optionalDouble(key, range: range, openLower: openLower, openUpper: openUpper) ?? fallback
    }

    public func requiredDouble(_ key: String, range: ClosedRange<Double>? = nil) throws(ConfigError) -> Double {
        guard let number = try optionalDouble(key, range: range) else { throw .missingKey(key: qualified(key)) }
        return number
    }

    public func optionalInt(_ key: String, range: ClosedRange<Int>? = nil) throws(ConfigError) -> Int? {
        guard let raw = value(key) else { return nil }
        guard case .int(let number) = raw else {
            throw .wrongType(key: qualified(key), expected: "integer", found: "\(raw.kindName) \(raw)")
        }
        if let range, !range.contains(number) {
            let upper = range.upperBound == Int.max ? "∞" : "\(range.upperBound)"
            throw .outOfRange(key: qualified(key), value: "\(number)", allowed: "in [\(range.lowerBound), \(upper)]")
        }
        return number
    }

    public func int(_ key: String, default fallback: Int, range: ClosedRange<Int>? = nil) throws(ConfigError) -> Int {
        defer { noteDefault(key, String(fallback)) }
        return try optionalInt(key, range: range) ?? fallback
    }

    public func requiredInt(_ key: String, range: ClosedRange<Int>? = nil) throws(ConfigError) -> Int {
        guard let number = try optionalInt(key, range: range) else { throw .missingKey(key: qualified(key)) }
        return number
    }

    public func bool(_ key: String, default fallback: Bool) throws(ConfigError) -> Bool {
        defer { noteDefault(key, String(fallback)) }
        guard let raw = value(key) else { return fallback }
        guard case .bool(let flag) = raw else {
            throw .wrongType(key: qualified(key), expected: "boolean", found: "\(raw.kindName) \(raw)")
        }
        return flag
    }

    public func optionalString(_ key: String) throws(ConfigError) -> String? {
        guard let raw = value(key) else { return nil }
        guard case .string(let text) = raw else {
            throw .wrongType(key: qualified(key), expected: "string", found: "\(raw.kindName) \(raw)")
        }
        return text
    }

    public func string(_ key: String, default fallback: String) throws(ConfigError) -> String {
        defer { noteDefault(key, fallback) }
        return try optionalString(key) ?? fallback
    }

    public func requiredString(_ key: String) throws(ConfigError) -> String {
        guard let text = try optionalString(key) else { throw .missingKey(key: qualified(key)) }
        return text
    }

    /// A string that must be one of `choices`.
    public func choice(_ key: String, default fallback: String, from choices: [String]) throws(ConfigError) -> String {
        let text = try string(key, default: fallback)
        guard choices.contains(text) else { throw .invalidChoice(key: qualified(key), value: text, valid: choices) }
        return text
    }

    public func doubles(_ key: String, default fallback: [Double], count: Int? = nil) throws(ConfigError) -> [Double] {
        defer { noteDefault(key, "[" + fallback.map { String($0) }.joined(separator: ", ") + "]") }
        guard let raw = value(key) else { return fallback }
        guard case .list(let items) = raw else {
            throw .wrongType(key: qualified(key), expected: "list of numbers", found: "\(raw.kindName) \(raw)")
        }
        var numbers: [Double] = []
        for item in items {
            switch item {
            case .int(let i): numbers.append(Double(i))
            case .double(let d): numbers.append(d)
            default: throw .wrongType(key: qualified(key), expected: "list of numbers", found: "\(raw)")
            }
        }
        if let count, numbers.count != count {
            throw .invalid(key: qualified(key), reason: "needs \(count) numbers, found \(numbers.count)")
        }
        return numbers
    }

    public func ints(_ key: String, default fallback: [Int]) throws(ConfigError) -> [Int] {
        defer { noteDefault(key, "[" + fallback.map { String($0) }.joined(separator: ", ") + "]") }
        guard let raw = value(key) else { return fallback }
        guard case .list(let items) = raw else {
            throw .wrongType(key: qualified(key), expected: "list of integers", found: "\(raw.kindName) \(raw)")
        }
        var numbers: [Int] = []
        for item in items {
            guard case .int(let i) = item else {
                throw .wrongType(key: qualified(key), expected: "list of integers", found: "\(raw)")
            }
            numbers.append(i)
        }
        return numbers
    }

    /// Declares keys valid without reading them (read by someone else, or reserved).
    public func declare(_ keys: String...) {
        for key in keys where !known.contains(key) {
            known.append(key)
            settings.append((key, nil))
        }
    }

    /// Rejects every key that no reader declared.
    public func finish() throws(ConfigError) {
        for key in map.keys where !known.contains(key) {
            throw .unknownKey(key: qualified(key), suggestion: closestMatch(to: key, in: known).map(qualified),
                              valid: known.sorted())
        }
    }
}
