import Foundation
import JSON

/// A safetensors container: an 8-byte little-endian header length N, N bytes of JSON header
/// (space-padded to a multiple of 8), then the tensors' raw bytes, contiguous and in header order.
///
/// Reading validates the whole layout before handing out any tensor, so a torn or foreign file
/// fails loudly with the file's path rather than loading garbage into a model.
public struct SafeTensorsFile: Sendable {
    public var metadata: [String: String]
    /// In any order; writing lays them out deterministically (see `layoutOrder`).
    public var tensors: [TensorRecord]

    public init(metadata: [String: String] = [:], tensors: [TensorRecord] = []) {
        self.metadata = metadata
        self.tensors = tensors
    }

    /// The first tensor with this name.
    public func tensor(named name: String) -> TensorRecord? { tensors.first { $0.name == name } }

    // MARK: Reading

    /// Reads and validates a file with a single read of its contents; tensors share that one buffer.
    public static func read(from url: URL) throws(CheckpointError) -> SafeTensorsFile {
        let contents = try FileContents.read(path: url.path)
        return try decode(contents, path: url.path)
    }

    /// Validates and decodes an in-memory file image; `path` only labels errors.
    public init(decoding data: Data, path: String) throws(CheckpointError) {
        self = try Self.decode(FileContents(copying: data), path: path)
    }

    static func decode(_ contents: FileContents, path: String) throws(CheckpointError) -> SafeTensorsFile {
        let bytes = contents.bytes
        guard bytes.count >= 8 else { throw .fileTooShort(path: path, size: bytes.count) }
        let headerLength = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
        guard headerLength <= UInt64(bytes.count - 8) else {
            throw .headerLengthOutOfRange(path: path, headerLength: headerLength, fileSize: bytes.count)
        }
        let dataStart = 8 + Int(headerLength)
        let header = UnsafeRawBufferPointer(rebasing: bytes[8..<dataStart])
        guard String(validating: header.bindMemory(to: UInt8.self), as: UTF8.self) != nil else {
            throw .malformedHeader(path: path, reason: "not valid UTF-8")
        }
        let root: JSONValue
        do {
            root = try JSONParser.parse(header)
        } catch {
            throw .malformedHeader(path: path, reason: "not JSON: \(error.message) at header byte \(error.offset)")
        }
        guard case .object(let members) = root else {
            throw .malformedHeader(path: path, reason: "the header is \(root.kind), not a JSON object")
        }

        let dataSize = bytes.count - dataStart
        var metadata: [String: String]?
        var entries: [(name: String, dtype: DType, shape: [Int], begin: Int, end: Int)] = []
        var names = Set<String>()
        for (key, value) in members {
            if key == "__metadata__" {
                guard metadata == nil else { throw .malformedHeader(path: path, reason: "__metadata__ appears twice") }
                metadata = try decodeMetadata(value, path: path)
                continue
            }
            guard names.insert(key).inserted else { throw .duplicateTensor(path: path, name: key) }
            let entry = try decodeEntry(key, value, path: path)
            guard entry.end <= dataSize else {
                throw .offsetsOutOfRange(path: path, tensor: key, begin: entry.begin, end: entry.end, dataSize: dataSize)
            }
            entries.append((key, entry.dtype, entry.shape, entry.begin, entry.end))
        }

        // Tensors must tile the data section exactly: no overlap, no gap, nothing after the last.
        var cursor = 0
        var previous: String?
        for entry in entries.sorted(by: { ($0.begin, $0.end) < ($1.begin, $1.end) }) {
            if entry.begin < cursor, let previous {
                throw .overlappingTensors(path: path, first: previous, second: entry.name)
            }
            if entry.begin > cursor { throw .gapBeforeTensor(path: path, tensor: entry.name, gap: entry.begin - cursor) }
            cursor = entry.end
            previous = entry.name
        }
        if cursor < dataSize { throw .trailingBytes(path: path, count: dataSize - cursor) }

        let tensors = entries.map { entry in
            TensorRecord(name: entry.name, dtype: entry.dtype, shape: entry.shape,
                         bytes: contents.data(in: (dataStart + entry.begin)..<(dataStart + entry.end)))
        }
        return SafeTensorsFile(metadata: metadata ?? [:], tensors: tensors)
    }

    private static func decodeMetadata(_ value: JSONValue, path: String) throws(CheckpointError) -> [String: String] {
        guard case .object(let members) = value else {
            throw .malformedHeader(path: path, reason: "__metadata__ is \(value.kind), not an object")
        }
        var metadata: [String: String] = [:]
        for (key, value) in members {
            guard case .string(let text) = value else { throw .nonStringMetadata(path: path, key: key) }
            guard metadata.updateValue(text, forKey: key) == nil else {
                throw .malformedHeader(path: path, reason: "__metadata__ key '\(key)' appears twice")
            }
        }
        return metadata
    }

    private static func decodeEntry(_ name: String, _ value: JSONValue, path: String)
        throws(CheckpointError) -> (dtype: DType, shape: [Int], begin: Int, end: Int)
    {
        func malformed(_ reason: String) -> CheckpointError {
            .malformedHeader(path: path, reason: "tensor '\(name)': \(reason)")
        }
        guard case .object(let fields) = value else { throw malformed("entry is \(value.kind), not an object") }
        var dtypeText: String?
        var shapeValue: JSONValue?
        var offsetsValue: JSONValue?
        for (key, field) in fields {
            switch key {
            case "dtype":
                guard dtypeText == nil, case .string(let text) = field else { throw malformed("bad or repeated dtype") }
                dtypeText = text
            case "shape":
                guard shapeValue == nil else { throw malformed("repeated shape") }
                shapeValue = field
            case "data_offsets":
                guard offsetsValue == nil else { throw malformed("repeated data_offsets") }
                offsetsValue = field
            default:
                throw malformed("unknown field '\(key)'")
            }
        }
        guard let dtypeText, let shapeValue, let offsetsValue else {
            throw malformed("needs dtype, shape and data_offsets")
        }
        guard let dtype = DType(rawValue: dtypeText) else {
            throw .unknownDType(path: path, tensor: name, dtype: dtypeText)
        }
        guard case .array(let dimensions) = shapeValue else { throw malformed("shape is not an array") }
        var shape: [Int] = []
        for dimension in dimensions {
            guard let size = dimension.nonNegativeInteger else { throw malformed("shape \(dimensions) is not all non-negative integers") }
            shape.append(size)
        }
        guard case .array(let offsets) = offsetsValue, offsets.count == 2,
              let begin = offsets[0].nonNegativeInteger, let end = offsets[1].nonNegativeInteger
        else { throw malformed("data_offsets is not a pair of non-negative integers") }
        guard begin <= end else { throw malformed("data_offsets [\(begin), \(end)] run backwards") }
        let expected = TensorRecord.byteCount(shape: shape, dtype: dtype)
        guard expected == end - begin else {
            throw .sizeMismatch(path: path, tensor: name, shape: shape, dtype: dtype.rawValue,
                                expectedBytes: expected, foundBytes: end - begin)
        }
        return (dtype, shape, begin, end)
    }

    // MARK: Writing

    /// The write order of the Python package: wider dtypes first (keeping every tensor naturally
    /// aligned), then by name in byte order. For a single-dtype file this is simply sorted by name.
    public var layoutOrder: [TensorRecord] {
        tensors.sorted { a, b in
            if a.dtype.layoutRank != b.dtype.layoutRank { return a.dtype.layoutRank > b.dtype.layoutRank }
            return a.name.utf8.lexicographicallyPrecedes(b.name.utf8)
        }
    }

    /// The 8-byte length field plus the space-padded JSON header for `ordered` tensors.
    static func encodedHeader(metadata: [String: String], ordered: [TensorRecord]) -> Data {
        var json: [UInt8] = [UInt8(ascii: "{")]
        var first = true
        func separate() {
            if !first { json.append(UInt8(ascii: ",")) }
            first = false
        }
        if !metadata.isEmpty {
            separate()
            JSONWriter.appendString("__metadata__", to: &json)
            json.append(contentsOf: Array(":{".utf8))
            for (position, key) in metadata.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }).enumerated() {
                if position > 0 { json.append(UInt8(ascii: ",")) }
                JSONWriter.appendString(key, to: &json)
                json.append(UInt8(ascii: ":"))
                JSONWriter.appendString(metadata[key] ?? "", to: &json)
            }
            json.append(UInt8(ascii: "}"))
        }
        var offset = 0
        var seen = Set<String>()
        for tensor in ordered {
            precondition(seen.insert(tensor.name).inserted && tensor.name != "__metadata__",
                         "tensor name '\(tensor.name)' is repeated or reserved")
            separate()
            JSONWriter.appendString(tensor.name, to: &json)
            json.append(contentsOf: Array(":{\"dtype\":".utf8))
            JSONWriter.appendString(tensor.dtype.rawValue, to: &json)
            json.append(contentsOf: Array(",\"shape\":".utf8))
            JSONWriter.appendIntegers(tensor.shape, to: &json)
            json.append(contentsOf: Array(",\"data_offsets\":".utf8))
            JSONWriter.appendIntegers([offset, offset + tensor.bytes.count], to: &json)
            json.append(UInt8(ascii: "}"))
            offset += tensor.bytes.count
        }
        json.append(UInt8(ascii: "}"))
        json.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - json.count % 8) % 8))

        var data = Data(capacity: 8 + json.count)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: json)
        return data
    }

    /// The complete file image. Names must be unique and not `__metadata__` (a precondition).
    public func encoded() -> Data {
        let ordered = layoutOrder
        var data = Self.encodedHeader(metadata: metadata, ordered: ordered)
        data.reserveCapacity(data.count + ordered.reduce(0) { $0 + $1.bytes.count })
        for tensor in ordered { data.append(tensor.bytes) }
        return data
    }

    /// Writes the file atomically (see `AtomicFile`), streaming tensors without building the image.
    public func write(to url: URL) throws(CheckpointError) {
        let ordered = layoutOrder
        try AtomicFile.write([Self.encodedHeader(metadata: metadata, ordered: ordered)] + ordered.map(\.bytes), to: url)
    }
}
