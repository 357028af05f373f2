import Foundation
import XCTest
@testable import TensorBoard

/// CRC-32C against published vectors (RFC 3720 appendix B.4 and the common "123456789" check value).
final class CRC32CTests: XCTestCase {
    func testCheckValue() {
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
    }

    func testRFC3720Vectors() {
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)), 0x62A8_AB43)
        XCTAssertEqual(CRC32C.checksum((0..<32).map { UInt8($0) }), 0x46DD_794E)
        XCTAssertEqual(CRC32C.checksum((0..<32).reversed().map { UInt8($0) }), 0x113F_DB5C)
    }

    func testEmptyInputIsZero() {
        XCTAssertEqual(CRC32C.checksum([UInt8]()), 0)
    }

    func testContinuingEqualsOnePass() {
        let bytes = Array("the quick brown fox jumps over the lazy dog".utf8)
        let split = CRC32C.checksum(bytes[10...], continuing: CRC32C.checksum(bytes[..<10]))
        XCTAssertEqual(split, CRC32C.checksum(bytes))
    }

    /// The mask is TFRecord's: rotate right by 15, add 0xa282ead8 (wrapping).
    func testMask() {
        XCTAssertEqual(CRC32C.masked(0), 0xA282_EAD8)
        XCTAssertEqual(CRC32C.masked(0x0000_8000), 0xA282_EAD9)
        XCTAssertEqual(CRC32C.masked(0xFFFF_FFFF), 0xA282_EAD7)
        XCTAssertEqual(CRC32C.maskedChecksum(Array("123456789".utf8)),
                       CRC32C.masked(0xE306_9283))
    }
}
