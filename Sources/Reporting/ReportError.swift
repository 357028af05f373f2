import Foundation

/// Why a sweep could not be read or its report not written; every case names the offending file (and line).
public enum ReportError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The sweep directory does not exist or cannot be listed.
    case unreadableDirectory(path: String, reason: String)
    /// A required file is absent.
    case missingFile(path: String)
    /// A file exists but could not be read.
    case unreadableFile(path: String, reason: String)
    /// A metrics line is not valid JSON or does not match the schema in `MetricsSchema.swift`.
    case malformedLine(path: String, line: Int, reason: String)
    /// A metrics line parses but holds an impossible value (negative step, accuracy outside [0, 1], ...).
    case invalidValue(path: String, line: Int, field: String, value: String)
    /// `variant.json` does not decode or contradicts itself.
    case malformedVariant(path: String, reason: String)
    /// No subdirectory of the sweep holds a `variant.json`.
    case noVariants(directory: String)
    /// The requested order names a variant the sweep does not have.
    case unknownVariant(name: String, available: [String])
    /// The requested order names a variant twice.
    case duplicateVariant(name: String)
    /// A report option is out of range.
    case invalidOption(name: String, value: String)
    /// Writing a report file failed.
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case .unreadableDirectory(let path, let reason):
            return "cannot read sweep directory \(path): \(reason)"
        case .missingFile(let path):
            return "missing file \(path)"
        case .unreadableFile(let path, let reason):
            return "cannot read \(path): \(reason)"
        case .malformedLine(let path, let line, let reason):
            return "\(path):\(line): malformed metrics line: \(reason)"
        case .invalidValue(let path, let line, let field, let value):
            return "\(path):\(line): invalid value \(value) for '\(field)'"
        case .malformedVariant(let path, let reason):
            return "\(path): malformed variant description: \(reason)"
        case .noVariants(let directory):
            return "no variants in \(directory) (expected subdirectories holding variant.json)"
        case .unknownVariant(let name, let available):
            return "unknown variant '\(name)'; the sweep has: \(available.joined(separator: ", "))"
        case .duplicateVariant(let name):
            return "variant '\(name)' is listed twice in the requested order"
        case .invalidOption(let name, let value):
            return "invalid report option \(name) = \(value)"
        case .writeFailed(let path, let reason):
            return "cannot write \(path): \(reason)"
        }
    }
}

extension DecodingError {
    /// A one-line account of a decoding failure that names the key at fault, for error messages.
    var conciseDescription: String {
        func path(_ codingPath: [any CodingKey]) -> String {
            codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        }
        switch self {
        case .keyNotFound(let key, let context):
            let parent = path(context.codingPath)
            return "missing key '\(parent.isEmpty ? key.stringValue : parent + "." + key.stringValue)'"
        case .typeMismatch(let type, let context):
            return "'\(path(context.codingPath))' is not of type \(type)"
        case .valueNotFound(let type, let context):
            return "'\(path(context.codingPath))' is null, expected \(type)"
        case .dataCorrupted(let context):
            let location = path(context.codingPath)
            if location.isEmpty {
                return "not valid JSON (\(context.underlyingError.map { "\($0)" } ?? context.debugDescription))"
            }
            return "'\(location)': \(context.debugDescription)"
        @unknown default:
            return "\(self)"
        }
    }
}

extension ReportError {
    /// The bytes of a file the report reads, or the error that says whether it is missing or unreadable.
    static func contents(of url: URL) throws(ReportError) -> Data {
        do {
            return try Data(contentsOf: url)
        } catch {
            if !FileManager.default.fileExists(atPath: url.path) { throw .missingFile(path: url.path) }
            throw .unreadableFile(path: url.path, reason: error.localizedDescription)
        }
    }
}
