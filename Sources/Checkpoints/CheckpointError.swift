import Glibc

/// Everything that can go wrong reading, validating, writing or restoring a checkpoint.
/// Every case names the file (or directory) involved so that the message alone locates the problem.
public enum CheckpointError: Error, Equatable, CustomStringConvertible {
    // Reading and validating the safetensors container.
    case fileNotFound(path: String)
    case readFailed(path: String, errno: Int32)
    case fileTooShort(path: String, size: Int)
    case headerLengthOutOfRange(path: String, headerLength: UInt64, fileSize: Int)
    case malformedHeader(path: String, reason: String)
    case unknownDType(path: String, tensor: String, dtype: String)
    case sizeMismatch(path: String, tensor: String, shape: [Int], dtype: String, expectedBytes: Int?, foundBytes: Int)
    case offsetsOutOfRange(path: String, tensor: String, begin: Int, end: Int, dataSize: Int)
    case overlappingTensors(path: String, first: String, second: String)
    case gapBeforeTensor(path: String, tensor: String, gap: Int)
    case trailingBytes(path: String, count: Int)
    case duplicateTensor(path: String, name: String)
    case nonStringMetadata(path: String, key: String)

    // Checkpoint contents.
    case unsupportedFormat(path: String, found: String?)
    case missingTensor(path: String, name: String)
    case unexpectedTensor(path: String, name: String)
    case dtypeMismatch(path: String, tensor: String, expected: DType, found: DType)
    case shapeMismatch(path: String, tensor: String, expected: [Int], found: [Int])

    // Writing.
    case directoryMissing(path: String)
    case notADirectory(path: String)
    case notWritable(path: String, errno: Int32)
    case noSpace(path: String)
    case writeFailed(path: String, operation: String, errno: Int32)

    /// The file or directory the error concerns.
    public var path: String {
        switch self {
        case .fileNotFound(let path), .readFailed(let path, _), .fileTooShort(let path, _),
             .headerLengthOutOfRange(let path, _, _), .malformedHeader(let path, _), .unknownDType(let path, _, _),
             .sizeMismatch(let path, _, _, _, _, _), .offsetsOutOfRange(let path, _, _, _, _),
             .overlappingTensors(let path, _, _), .gapBeforeTensor(let path, _, _), .trailingBytes(let path, _),
             .duplicateTensor(let path, _), .nonStringMetadata(let path, _), .unsupportedFormat(let path, _),
             .missingTensor(let path, _), .unexpectedTensor(let path, _), .dtypeMismatch(let path, _, _, _),
             .shapeMismatch(let path, _, _, _), .directoryMissing(let path), .notADirectory(let path),
             .notWritable(let path, _), .noSpace(let path), .writeFailed(let path, _, _):
            return path
        }
    }

    public var description: String {
        switch self {
        case .fileNotFound(let path):
            return "\(path): checkpoint file not found"
        case .readFailed(let path, let code):
            return "\(path): read failed: \(Self.message(code))"
        case .fileTooShort(let path, let size):
            return "\(path): \(size) bytes is too short for a safetensors file (needs an 8-byte header length)"
        case .headerLengthOutOfRange(let path, let length, let size):
            return "\(path): header length \(length) reaches beyond the end of the \(size)-byte file"
        case .malformedHeader(let path, let reason):
            return "\(path): malformed safetensors header: \(reason)"
        case .unknownDType(let path, let tensor, let dtype):
            let known = DType.allCases.map(\.rawValue).joined(separator: ", ")
            return "\(path): tensor '\(tensor)' has unsupported dtype '\(dtype)' (supported: \(known))"
        case .sizeMismatch(let path, let tensor, let shape, let dtype, let expected, let found):
            let want = expected.map(String.init) ?? "an overflowing number of"
            return "\(path): tensor '\(tensor)' of shape \(shape) and dtype \(dtype) needs \(want) bytes "
                + "but its data_offsets span \(found)"
        case .offsetsOutOfRange(let path, let tensor, let begin, let end, let size):
            return "\(path): tensor '\(tensor)' data_offsets [\(begin), \(end)] lie outside the \(size)-byte data section"
        case .overlappingTensors(let path, let first, let second):
            return "\(path): tensors '\(first)' and '\(second)' overlap"
        case .gapBeforeTensor(let path, let tensor, let gap):
            return "\(path): \(gap) unused bytes before tensor '\(tensor)' (tensors must be contiguous)"
        case .trailingBytes(let path, let count):
            return "\(path): \(count) trailing bytes after the last tensor"
        case .duplicateTensor(let path, let name):
            return "\(path): tensor name '\(name)' appears more than once"
        case .nonStringMetadata(let path, let key):
            return "\(path): __metadata__ value for '\(key)' is not a string"
        case .unsupportedFormat(let path, let found):
            let what = found.map { "format '\($0)'" } ?? "no format entry in __metadata__"
            return "\(path): \(what); this build reads '\(Checkpoint.formatVersion)'"
        case .missingTensor(let path, let name):
            return "\(path): checkpoint has no tensor '\(name)'"
        case .unexpectedTensor(let path, let name):
            return "\(path): checkpoint tensor '\(name)' has no place in the model's layout"
        case .dtypeMismatch(let path, let tensor, let expected, let found):
            return "\(path): tensor '\(tensor)' has dtype \(found.rawValue), expected \(expected.rawValue)"
        case .shapeMismatch(let path, let tensor, let expected, let found):
            return "\(path): tensor '\(tensor)' has shape \(found), expected \(expected)"
        case .directoryMissing(let path):
            return "\(path): directory does not exist"
        case .notADirectory(let path):
            return "\(path): not a directory (a path component is a regular file)"
        case .notWritable(let path, let code):
            return "\(path): not writable: \(Self.message(code))"
        case .noSpace(let path):
            return "\(path): no space left on device"
        case .writeFailed(let path, let operation, let code):
            return "\(path): \(operation) failed: \(Self.message(code))"
        }
    }

    static func message(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "errno \(code)" }
        return "\(String(cString: text)) (errno \(code))"
    }
}
