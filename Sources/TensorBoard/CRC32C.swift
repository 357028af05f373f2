/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of TFRecord framing.
///
/// Written here because no package on this project's list provides it; a table of 256 entries
/// makes it byte-at-a-time, which is far faster than the event payloads need.
public enum CRC32C {
    /// The checksum of `bytes`, continuing from `crc` (0 for a fresh one).
    public static func checksum(_ bytes: some Sequence<UInt8>, continuing crc: UInt32 = 0) -> UInt32 {
        var value = ~crc
        for byte in bytes {
            value = table[Int((value ^ UInt32(byte)) & 0xFF)] ^ (value >> 8)
        }
        return ~value
    }

    /// TFRecord's masking: a rotated, offset checksum, so that a CRC over data that itself holds
    /// CRCs does not degenerate.
    public static func masked(_ crc: UInt32) -> UInt32 {
        ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
    }

    /// The masked checksum of `bytes`.
    public static func maskedChecksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        masked(checksum(bytes))
    }

    private static let table: [UInt32] = (0..<256).map { index in
        var entry = UInt32(index)
        for _ in 0..<8 { entry = entry & 1 == 1 ? (entry >> 1) ^ 0x82F6_3B78 : entry >> 1 }
        return entry
    }
}
