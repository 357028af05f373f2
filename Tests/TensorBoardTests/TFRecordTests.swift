import Foundation
import XCTest
@testable import TensorBoard

final class TFRecordTests: XCTestCase {
    func testFrameLayout() {
        let payload = Data("hello".utf8)
        let record = [UInt8](TFRecord.frame(payload))
        XCTAssertEqual(record.count, payload.count + TFRecord.overhead)
        XCTAssertEqual(Array(record[0..<8]), [5, 0, 0, 0, 0, 0, 0, 0], "length is a little-endian uint64")
        XCTAssertEqual(Array(record[8..<12]), TFRecord.littleEndianBytes(CRC32C.maskedChecksum(record[0..<8])))
        XCTAssertEqual(Array(record[12..<17]), Array("hello".utf8))
        XCTAssertEqual(Array(record[17..<21]), TFRecord.littleEndianBytes(CRC32C.maskedChecksum(payload)))
    }

    func testRoundTripIncludingEmptyPayload() {
        let payloads = [Data("a".utf8), Data(), Data((0..<300).map { UInt8($0 % 256) })]
        let file = payloads.reduce(into: Data()) { $0.append(TFRecord.frame($1)) }
        let read = TFRecord.payloads(in: file)
        XCTAssertEqual(read.payloads, payloads)
        XCTAssertEqual(read.validLength, file.count)
        XCTAssertNil(read.stop)
    }

    /// A file cut anywhere reads every record before the cut and reports the cut, never a corruption.
    func testTruncationAtEveryOffset() {
        let payloads = [Data("first".utf8), Data("second record".utf8)]
        let file = payloads.reduce(into: Data()) { $0.append(TFRecord.frame($1)) }
        let firstEnd = payloads[0].count + TFRecord.overhead
        for cut in 0..<file.count {
            let read = TFRecord.payloads(in: file.prefix(cut))
            let expected = cut >= firstEnd ? 1 : 0
            XCTAssertEqual(read.payloads, Array(payloads.prefix(expected)), "cut at \(cut)")
            if cut == 0 || cut == firstEnd {
                XCTAssertNil(read.stop, "cut at a record boundary at \(cut)")
            } else {
                XCTAssertEqual(read.stop, .truncated(offset: expected == 1 ? firstEnd : 0), "cut at \(cut)")
            }
        }
    }

    func testFlippedBitIsCorruption() {
        let file = TFRecord.frame(Data("payload".utf8)) + TFRecord.frame(Data("next".utf8))
        var inPayload = file
        inPayload[14] ^= 0x01
        XCTAssertEqual(TFRecord.payloads(in: inPayload).stop, .corrupted(offset: 0, reason: "payload checksum mismatch"))
        XCTAssertEqual(TFRecord.payloads(in: inPayload).payloads, [])
        var inLength = file
        inLength[23 + 2] ^= 0x80
        let read = TFRecord.payloads(in: inLength)
        XCTAssertEqual(read.payloads, [Data("payload".utf8)])
        XCTAssertEqual(read.stop, .corrupted(offset: 23, reason: "length checksum mismatch"))
    }
}
