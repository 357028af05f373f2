/// Reader for NumPy `.npy` files (format versions 1 and 2; optionally gzipped).
///
/// Layout: the magic `\x93NUMPY`, a major and minor version byte, the header length (little-endian
/// UInt16 in version 1, UInt32 in version 2), then an ASCII Python dict such as
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (60000, 28, 28), }` padded with spaces, then
/// the array in C order. Accepted here:
/// - images: dtype `|u1` (bytes, scaled by 1/255 when batches are built) or `<f4` (floats, used as
///   they are, so store them on a [0, 1] scale); shape [N, H, W] (one channel) or [N, C, H, W].
/// - labels: dtype `|u1`, `<i4` or `<i8`, shape [N], each in 0..<classes.
/// `fortran_order: True` and big-endian dtypes are rejected; the payload must match the shape exactly.
public enum NumpyReader {
    struct Header {
        var dtype: String
        var shape: [Int]
        var dataOffset: Int
    }

    static let imageTypes = ["|u1", "<f4"]
    static let labelTypes = ["|u1", "<i4", "<i8"]

    /// Images as [N, C, H, W] and their pixels.
    public static func readImages(_ path: String) throws(DataError) -> (shape: [Int], pixels: Pixels) {
        try readImages(contents: DataFile.readRaw(path), file: path)
    }

    /// Images from a file's `contents` (gzipped or plain), read from `file` (named in errors).
    public static func readImages(contents: [UInt8], file path: String) throws(DataError) -> (shape: [Int], pixels: Pixels) {
        let bytes = try DataFile.decode(contents, file: path)
        let header = try parse(bytes, file: path, allowed: imageTypes)
        let dims = header.shape
        guard dims.count == 3 || dims.count == 4 else {
            throw .badDimensions(file: path, dimensions: dims, reason: "are not images [N, H, W] or [N, C, H, W]")
        }
        guard dims[0] > 0 else { throw .badDimensions(file: path, dimensions: dims, reason: "hold no samples") }
        guard !dims.dropFirst().contains(0) else {
            throw .badDimensions(file: path, dimensions: dims, reason: "give an empty image")
        }
        let shape = dims.count == 3 ? [dims[0], 1, dims[1], dims[2]] : dims
        let count = shape.reduce(1, *)
        let start = header.dataOffset
        if header.dtype == "|u1" { return (shape, .bytes(Array(bytes[start..<(start + count)]))) }
        var values = [Float](repeating: 0, count: count)
        for i in 0..<count {
            let value = Float(bitPattern: littleEndian32(bytes, at: start + 4 * i))
            if !value.isFinite {
                throw .badDimensions(file: path, dimensions: dims, reason: "hold a non-finite pixel \(value) at element \(i)")
            }
            values[i] = value
        }
        return (shape, .floats(values))
    }

    /// Labels, each checked to lie in 0..<classes.
    public static func readLabels(_ path: String, classes: Int) throws(DataError) -> [Int32] {
        try readLabels(contents: DataFile.readRaw(path), file: path, classes: classes)
    }

    /// Labels from a file's `contents` (gzipped or plain), read from `file` (named in errors).
    public static func readLabels(contents: [UInt8], file path: String, classes: Int) throws(DataError) -> [Int32] {
        let bytes = try DataFile.decode(contents, file: path)
        let header = try parse(bytes, file: path, allowed: labelTypes)
        guard header.shape.count == 1 else {
            throw .badDimensions(file: path, dimensions: header.shape, reason: "are not labels [N]")
        }
        let count = header.shape[0]
        guard count > 0 else { throw .badDimensions(file: path, dimensions: header.shape, reason: "hold no samples") }
        var labels = [Int32](repeating: 0, count: count)
        let start = header.dataOffset
        for i in 0..<count {
            let label: Int
            switch header.dtype {
            case "|u1": label = Int(bytes[start + i])
            case "<i4": label = Int(Int32(bitPattern: littleEndian32(bytes, at: start + 4 * i)))
            default:
                let low = UInt64(littleEndian32(bytes, at: start + 8 * i))
                let high = UInt64(littleEndian32(bytes, at: start + 8 * i + 4))
                label = Int(Int64(bitPattern: high << 32 | low))
            }
            if label < 0 || label >= classes { throw .labelOutOfRange(file: path, index: i, label: label, classes: classes) }
            labels[i] = Int32(label)
        }
        return labels
    }

    /// Parses and validates the header, including that the payload length matches the shape.
    static func parse(_ bytes: [UInt8], file: String, allowed: [String]) throws(DataError) -> Header {
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else {
            throw .badNumpyHeader(file: file, reason: "missing the \\x93NUMPY magic")
        }
        let major = bytes[6]
        let headerLength: Int
        let textStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            textStart = 10
        case 2:
            guard bytes.count >= 12 else { throw .badNumpyHeader(file: file, reason: "file ends inside the header") }
            headerLength = Int(littleEndian32(bytes, at: 8))
            textStart = 12
        default:
            throw .badNumpyHeader(file: file, reason: "format version \(major).\(bytes[7]) is not 1.x or 2.x")
        }
        guard bytes.count >= textStart + headerLength else {
            throw .badNumpyHeader(file: file, reason: "header of \(headerLength) bytes runs past the end of the file (\(bytes.count) bytes)")
        }
        guard let text = String(validating: bytes[textStart..<(textStart + headerLength)], as: UTF8.self) else {
            throw .badNumpyHeader(file: file, reason: "header is not text")
        }
        let dict = text.trimmingCharacters(in: " \n\0")
        guard dict.hasPrefix("{"), dict.hasSuffix("}") else {
            throw .badNumpyHeader(file: file, reason: "header is not a dict: \(dict.prefix(80))")
        }
        guard let dtype = quotedValue(of: "descr", in: dict) else {
            throw .badNumpyHeader(file: file, reason: "no simple 'descr' string in \(dict)")
        }
        guard let fortran = rawValue(of: "fortran_order", in: dict) else {
            throw .badNumpyHeader(file: file, reason: "no 'fortran_order' in \(dict)")
        }
        guard fortran.hasPrefix("False") else {
            throw .badNumpyHeader(file: file, reason: "fortran_order is \(fortran.prefix(5)); only C order is supported")
        }
        guard let shape = shapeValue(in: dict) else {
            throw .badNumpyHeader(file: file, reason: "no integer tuple 'shape' in \(dict)")
        }
        let normalized = dtype == "u1" || dtype == "<u1" ? "|u1" : dtype
        guard allowed.contains(normalized) else {
            throw .unsupportedNumpyType(file: file, dtype: dtype, allowed: allowed)
        }
        let itemSize = normalized == "|u1" ? 1 : normalized == "<i8" ? 8 : 4
        var payload = itemSize
        for size in shape {
            let (product, overflow) = payload.multipliedReportingOverflow(by: size)
            if overflow { throw .badDimensions(file: file, dimensions: shape, reason: "describe an impossibly large payload") }
            payload = product
        }
        let dataOffset = textStart + headerLength
        // Checked: a shape whose payload is near Int.max must be an error, not a trap.
        let (expected, tooLarge) = dataOffset.addingReportingOverflow(payload)
        if tooLarge { throw .badDimensions(file: file, dimensions: shape, reason: "describe an impossibly large payload") }
        if bytes.count < expected { throw .truncatedPayload(file: file, expectedBytes: expected, foundBytes: bytes.count) }
        if bytes.count > expected { throw .trailingBytes(file: file, expectedBytes: expected, foundBytes: bytes.count) }
        return Header(dtype: normalized, shape: shape, dataOffset: dataOffset)
    }

    /// The text after `'key':` (trimmed), up to the end of the dict.
    static func rawValue(of key: String, in dict: String) -> Substring? {
        for quote in ["'", "\""] {
            if let range = dict.firstRange(of: quote + key + quote) {
                var rest = dict[range.upperBound...].drop { $0 == " " }
                guard rest.first == ":" else { return nil }
                rest = rest.dropFirst().drop { $0 == " " }
                return rest
            }
        }
        return nil
    }

    static func quotedValue(of key: String, in dict: String) -> String? {
        guard let rest = rawValue(of: key, in: dict), let quote = rest.first, quote == "'" || quote == "\"" else { return nil }
        let body = rest.dropFirst()
        guard let end = body.firstIndex(of: quote) else { return nil }
        return String(body[..<end])
    }

    static func shapeValue(in dict: String) -> [Int]? {
        guard let rest = rawValue(of: "shape", in: dict), rest.first == "(", let end = rest.firstIndex(of: ")") else { return nil }
        var shape: [Int] = []
        for part in rest[rest.index(after: rest.startIndex)..<end].split(separator: ",") {
            let token = part.trimmingCharacters(in: " ")
            if token.isEmpty { continue }
            guard let size = Int(token), size >= 0 else { return nil }
            shape.append(size)
        }
        return shape
    }

    static func littleEndian32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24
    }
}

extension StringProtocol {
    /// Trims any of `characters` from both ends (no Foundation needed).
    func trimmingCharacters(in characters: String) -> String {
        let set = Set(characters)
        var slice = Substring(self)
        while let first = slice.first, set.contains(first) { slice = slice.dropFirst() }
        while let last = slice.last, set.contains(last) { slice = slice.dropLast() }
        return String(slice)
    }
}
