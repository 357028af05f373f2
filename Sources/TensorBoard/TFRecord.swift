import Foundation

/// TFRecord framing, the container of TensorBoard event files: each record is
///
///     uint64 length (little-endian) · uint32 masked CRC-32C of those 8 bytes · payload · uint32 masked CRC-32C of payload
///
/// so that a reader can tell a complete record from one cut short by a crash, and a corrupted one
/// from either.
public enum TFRecord {
    /// Bytes a record adds around its payload.
    public static let overhead = 16

    /// One framed record holding `payload`.
    public static func frame(_ payload: Data) -> Data {
        var record = Data(capacity: payload.count + overhead)
        let length = littleEndianBytes(UInt64(payload.count))
        record.append(contentsOf: length)
        record.append(contentsOf: littleEndianBytes(CRC32C.maskedChecksum(length)))
        record.append(payload)
        record.append(contentsOf: littleEndianBytes(CRC32C.maskedChecksum(payload)))
        return record
    }

    /// Why reading stopped before the end of the data.
    public enum Stop: Equatable, Sendable {
        /// The data ends inside a record: a write in progress, or a writer killed mid-write.
        case truncated(offset: Int)
        /// A checksum does not match: the bytes at `offset` are not the record they claim to be.
        case corrupted(offset: Int, reason: String)
    }

    /// The payloads of the complete, intact records at the start of `data`, and why reading
    /// stopped early, if it did. Nothing after the first bad record is trusted: its length field
    /// is what would locate the next one.
    public static func payloads(in data: Data) -> (payloads: [Data], validLength: Int, stop: Stop?) {
        let bytes = [UInt8](data)
        var payloads: [Data] = []
        var offset = 0
        while offset < bytes.count {
            guard bytes.count - offset >= 12 else { return (payloads, offset, .truncated(offset: offset)) }
            let lengthBytes = bytes[offset..<offset + 8]
            let lengthCRC = readUInt32(bytes, at: offset + 8)
            guard CRC32C.maskedChecksum(lengthBytes) == lengthCRC else {
                return (payloads, offset, .corrupted(offset: offset, reason: "length checksum mismatch"))
            }
            let length = readUInt64(bytes, at: offset)
            let available = UInt64(bytes.count - offset - 12)
            guard length <= available, available - length >= 4 else {
                return (payloads, offset, .truncated(offset: offset))
            }
            let start = offset + 12, end = start + Int(length)
            guard CRC32C.maskedChecksum(bytes[start..<end]) == readUInt32(bytes, at: end) else {
                return (payloads, offset, .corrupted(offset: offset, reason: "payload checksum mismatch"))
            }
            payloads.append(Data(bytes[start..<end]))
            offset = end + 4
        }
        return (payloads, offset, nil)
    }

    static func littleEndianBytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }

    private static func readUInt32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << (8 * UInt32($1)) }
    }

    private static func readUInt64(_ bytes: [UInt8], at offset: Int) -> UInt64 {
        (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) }
    }
}
