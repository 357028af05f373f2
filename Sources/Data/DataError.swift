/// A problem with a data file; every case names the file (or directory) and what is wrong with it,
/// so a failed run points straight at the thing to fix.
public enum DataError: Error, Equatable, CustomStringConvertible {
    /// The file does not exist.
    case fileNotFound(file: String)
    /// The path exists but is not a regular file (a directory, a device...).
    case notARegularFile(file: String, kind: String)
    /// The operating system refused to open or read the file.
    case unreadable(file: String, reason: String)
    /// The data directory does not exist or is not a directory.
    case directoryNotFound(directory: String)
    /// The directory exists but holds none of the names a split can be read from.
    case missingFiles(directory: String, expected: [String], found: [String])
    /// The gzip stream ends before its end-of-stream marker.
    case truncatedGzip(file: String, decompressedBytes: Int)
    /// The gzip stream is damaged (bad header, bad checksum, invalid deflate data).
    case corruptGzip(file: String, reason: String)
    /// The first four bytes are not the IDX magic number expected for this kind of file.
    case badMagic(file: String, found: UInt32, expected: UInt32, kind: String)
    /// The IDX element type is not 0x08 (unsigned byte).
    case unsupportedElementType(file: String, code: UInt8)
    /// Dimensions that cannot describe a data set of this kind.
    case badDimensions(file: String, dimensions: [Int], reason: String)
    /// The file is shorter than its header promises.
    case truncatedPayload(file: String, expectedBytes: Int, foundBytes: Int)
    /// The file has bytes after the payload its header describes.
    case trailingBytes(file: String, expectedBytes: Int, foundBytes: Int)
    /// Images and labels disagree on the number of samples.
    case countMismatch(imagesFile: String, images: Int, labelsFile: String, labels: Int)
    /// A label outside 0..<classes.
    case labelOutOfRange(file: String, index: Int, label: Int, classes: Int)
    /// A `.npy` header that cannot be parsed or uses an unsupported feature.
    case badNumpyHeader(file: String, reason: String)
    /// A `.npy` dtype this loader does not read for this role.
    case unsupportedNumpyType(file: String, dtype: String, allowed: [String])
    /// A token file whose content cannot be what it claims (`reason` says what: odd length, empty, too short).
    case badTokens(file: String, reason: String)
    /// A token id outside the vocabulary.
    case tokenOutOfRange(file: String, index: Int, token: Int, vocabulary: Int)

    public var file: String {
        switch self {
        case .fileNotFound(let file), .notARegularFile(let file, _), .unreadable(let file, _),
             .truncatedGzip(let file, _), .corruptGzip(let file, _), .badMagic(let file, _, _, _),
             .unsupportedElementType(let file, _), .badDimensions(let file, _, _),
             .truncatedPayload(let file, _, _), .trailingBytes(let file, _, _), .labelOutOfRange(let file, _, _, _),
             .badNumpyHeader(let file, _), .unsupportedNumpyType(let file, _, _), .badTokens(let file, _),
             .tokenOutOfRange(let file, _, _, _):
            return file
        case .directoryNotFound(let directory), .missingFiles(let directory, _, _):
            return directory
        case .countMismatch(let imagesFile, _, _, _):
            return imagesFile
        }
    }

    public var description: String {
        switch self {
        case .fileNotFound(let file):
            return "\(file): no such file"
        case .notARegularFile(let file, let kind):
            return "\(file): is a \(kind), not a data file"
        case .unreadable(let file, let reason):
            return "\(file): cannot read: \(reason)"
        case .directoryNotFound(let directory):
            return "\(directory): data directory does not exist or is not a directory"
        case .missingFiles(let directory, let expected, let found):
            let present = found.isEmpty ? "it is empty" : "it holds \(found.prefix(12).joined(separator: ", "))"
                + (found.count > 12 ? ", ..." : "")
            return "\(directory): none of the expected data files \(expected.joined(separator: " / ")) found; \(present)"
        case .truncatedGzip(let file, let bytes):
            return "\(file): gzip stream is truncated (ends after \(bytes) decompressed bytes, before its end marker)"
        case .corruptGzip(let file, let reason):
            return "\(file): corrupt gzip stream: \(reason)"
        case .badMagic(let file, let found, let expected, let kind):
            return "\(file): magic \(hex(found)) is not an \(kind) file (expected \(hex(expected)))"
        case .unsupportedElementType(let file, let code):
            return "\(file): IDX element type 0x\(String(code, radix: 16, uppercase: false)) is not supported "
                + "(expected 0x08, unsigned byte)"
        case .badDimensions(let file, let dimensions, let reason):
            return "\(file): dimensions \(dimensions) \(reason)"
        case .truncatedPayload(let file, let expected, let found):
            return "\(file): truncated: header describes \(expected) bytes, file has \(found)"
        case .trailingBytes(let file, let expected, let found):
            return "\(file): \(found - expected) trailing bytes after the \(expected) bytes the header describes"
        case .countMismatch(let imagesFile, let images, let labelsFile, let labels):
            return "\(imagesFile): holds \(images) images but \(labelsFile) holds \(labels) labels"
        case .labelOutOfRange(let file, let index, let label, let classes):
            return "\(file): label \(label) at index \(index) is outside 0..<\(classes) (classes = \(classes))"
        case .badNumpyHeader(let file, let reason):
            return "\(file): bad .npy header: \(reason)"
        case .unsupportedNumpyType(let file, let dtype, let allowed):
            return "\(file): .npy dtype '\(dtype)' is not supported here (allowed: \(allowed.joined(separator: ", ")))"
        case .badTokens(let file, let reason):
            return "\(file): \(reason)"
        case .tokenOutOfRange(let file, let index, let token, let vocabulary):
            return "\(file): token id \(token) at position \(index) is outside the vocabulary 0..<\(vocabulary) "
                + "(model.vocab_size = \(vocabulary))"
        }
    }
}

private func hex(_ value: UInt32) -> String {
    let digits = String(value, radix: 16, uppercase: false)
    return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}
