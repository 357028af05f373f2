/// Reader for the IDX format of MNIST and Fashion-MNIST (gzipped or plain).
///
/// An IDX file is a big-endian header — magic `0x0000TTDD` (TT element type, DD number of
/// dimensions), then DD 32-bit sizes — followed by the elements in C order. Only unsigned bytes
/// (TT = 0x08) are read: images `0x00000803` [N, H, W] (or `0x00000804` [N, C, H, W]) and labels
/// `0x00000801` [N]. The payload must be exactly as long as the header says.
public enum IDXReader {
    public static let imageMagic: UInt32 = 0x0000_0803
    public static let labelMagic: UInt32 = 0x0000_0801

    /// Images as [N, C, H, W] and their bytes.
    public static func readImages(_ path: String) throws(DataError) -> (shape: [Int], pixels: [UInt8]) {
        try readImages(contents: DataFile.readRaw(path), file: path)
    }

    /// Images from a file's `contents` (gzipped or plain), read from `file` (named in errors).
    public static func readImages(contents: [UInt8], file path: String) throws(DataError) -> (shape: [Int], pixels: [UInt8]) {
        let bytes = try DataFile.decode(contents, file: path)
        let dimensions = try header(bytes, file: path, ranks: [3, 4], kind: "IDX3 image", expected: imageMagic)
        if dimensions.dropFirst().contains(0) {
            throw .badDimensions(file: path, dimensions: dimensions, reason: "give an empty image")
        }
        let shape = dimensions.count == 3 ? [dimensions[0], 1, dimensions[1], dimensions[2]] : dimensions
        return (shape, Array(bytes[(4 + 4 * dimensions.count)...]))
    }

    /// Labels, each checked to lie in 0..<classes.
    public static func readLabels(_ path: String, classes: Int) throws(DataError) -> [Int32] {
        try readLabels(contents: DataFile.readRaw(path), file: path, classes: classes)
    }

    /// Labels from a file's `contents` (gzipped or plain), read from `file` (named in errors).
    public static func readLabels(contents: [UInt8], file path: String, classes: Int) throws(DataError) -> [Int32] {
        let bytes = try DataFile.decode(contents, file: path)
        let dimensions = try header(bytes, file: path, ranks: [1], kind: "IDX1 label", expected: labelMagic)
        let start = 4 + 4 * dimensions.count
        var labels = [Int32](repeating: 0, count: dimensions[0])
        for i in 0..<dimensions[0] {
            let label = Int(bytes[start + i])
            if label >= classes { throw .labelOutOfRange(file: path, index: i, label: label, classes: classes) }
            labels[i] = Int32(label)
        }
        return labels
    }

    /// Validates magic, element type, dimensions and payload length; returns the dimensions.
    static func header(_ bytes: [UInt8], file: String, ranks: Set<Int>, kind: String,
                       expected: UInt32) throws(DataError) -> [Int] {
        guard bytes.count >= 4 else { throw .truncatedPayload(file: file, expectedBytes: 4, foundBytes: bytes.count) }
        let magic = bigEndian(bytes, at: 0)
        let typeCode = bytes[2]
        let rank = Int(bytes[3])
        let knownTypes: Set<UInt8> = [0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E]
        guard bytes[0] == 0, bytes[1] == 0, knownTypes.contains(typeCode) else {
            throw .badMagic(file: file, found: magic, expected: expected, kind: kind)
        }
        guard typeCode == 0x08 else { throw .unsupportedElementType(file: file, code: typeCode) }
        guard ranks.contains(rank) else { throw .badMagic(file: file, found: magic, expected: expected, kind: kind) }
        let headerBytes = 4 + 4 * rank
        guard bytes.count >= headerBytes else {
            throw .truncatedPayload(file: file, expectedBytes: headerBytes, foundBytes: bytes.count)
        }
        let dimensions = (0..<rank).map { Int(bigEndian(bytes, at: 4 + 4 * $0)) }
        if dimensions[0] == 0 { throw .badDimensions(file: file, dimensions: dimensions, reason: "hold no samples") }
        var payload = 1
        for size in dimensions {
            let (product, overflow) = payload.multipliedReportingOverflow(by: size)
            if overflow { throw .badDimensions(file: file, dimensions: dimensions, reason: "describe an impossibly large payload") }
            payload = product
        }
        // Checked: dimensions whose product is near Int.max must be an error, not a trap.
        let (expectedBytes, tooLarge) = headerBytes.addingReportingOverflow(payload)
        if tooLarge { throw .badDimensions(file: file, dimensions: dimensions, reason: "describe an impossibly large payload") }
        if bytes.count < expectedBytes {
            throw .truncatedPayload(file: file, expectedBytes: expectedBytes, foundBytes: bytes.count)
        }
        if bytes.count > expectedBytes {
            throw .trailingBytes(file: file, expectedBytes: expectedBytes, foundBytes: bytes.count)
        }
        return dimensions
    }

    static func bigEndian(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
    }
}
