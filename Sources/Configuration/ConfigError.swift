/// A configuration problem, carrying the dotted key and the offending value.
public enum ConfigError: Error, Equatable, CustomStringConvertible {
    case unreadable(source: String, reason: String)
    case unknownKey(key: String, suggestion: String?, valid: [String])
    case missingKey(key: String)
    case wrongType(key: String, expected: String, found: String)
    case outOfRange(key: String, value: String, allowed: String)
    case invalidChoice(key: String, value: String, valid: [String])
    case invalid(key: String, reason: String)
    case invalidOverride(String)

    public var description: String {
        switch self {
        case .unreadable(let source, let reason):
            return "cannot read configuration \(source): \(reason)"
        case .unknownKey(let key, let suggestion, let valid):
            let hint = suggestion.map { " (did you mean '\($0)'?)" } ?? ""
            return "unknown configuration key '\(key)'\(hint); valid keys here: \(valid.joined(separator: ", "))"
        case .missingKey(let key):
            return "configuration key '\(key)' is required"
        case .wrongType(let key, let expected, let found):
            let article = expected.first.map { "aeiou".contains($0) } == true ? "an" : "a"
            return "configuration key '\(key)' must be \(article) \(expected), found \(found)"
        case .outOfRange(let key, let value, let allowed):
            return "configuration key '\(key)' = \(value) is out of range: must be \(allowed)"
        case .invalidChoice(let key, let value, let valid):
            return "configuration key '\(key)' = '\(value)' is not one of: \(valid.joined(separator: ", "))"
        case .invalid(let key, let reason):
            return "configuration key '\(key)': \(reason)"
        case .invalidOverride(let text):
            return "override '\(text)' must look like key.path=value"
        }
    }
}

/// The closest candidate to `word` by edit distance, if it is close enough to be a plausible typo.
public func closestMatch(to word: String, in candidates: [String]) -> String? {
    let scored = candidates.map { ($0, editDistance(word.lowercased(), $0.lowercased())) }
    guard let best = scored.min(by: { $0.1 < $1.1 }) else { return nil }
    return best.1 <= max(2, word.count / 3) ? best.0 : nil
}

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}
