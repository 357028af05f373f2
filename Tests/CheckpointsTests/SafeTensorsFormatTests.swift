import Foundation
import XCTest
@testable import Checkpoints

final class SafeTensorsFormatTests: XCTestCase {
    /// Float bit patterns that a lossy path would change: NaN payloads (quiet and signalling),
    /// both zeros, subnormals, infinities and the extremes.
    static let trickyFloatBits: [UInt32] = [
        0x7FC0_0001, 0xFFA0_0000, 0x7F80_0001, 0x8000_0000, 0x0000_0000, 0x0000_0001, 0x807F_FFFF,
        0x7F80_0000, 0xFF80_0000, 0x7F7F_FFFF, 0x0080_0000, 0x3F80_0000,
    ]

    private func sampleFile() -> SafeTensorsFile {
        var random = SystemRandomNumberGenerator()
        func randomBytes(_ count: Int) -> Data { Data((0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }) }
        var tensors: [TensorRecord] = [
            TensorRecord(name: "f32.tricky", dtype: .float32, shape: [3, 4], bytes: littleEndianBytes(Self.trickyFloatBits)),
            TensorRecord(name: "f64.nan", dtype: .float64, shape: [3],
                         bytes: littleEndianBytes([0x7FF8_0000_0000_0ABC, 0x8000_0000_0000_0000, 0x0000_0000_0000_0001] as [UInt64])),
        ]
        let shapes: [[Int]] = [[], [0], [2, 0, 3], [5], [2, 3], [1, 1, 7]]
        for dtype in DType.allCases {
            for (index, shape) in shapes.enumerated() {
                let count = shape.reduce(1, *) * dtype.byteSize
                tensors.append(TensorRecord(name: "\(dtype.rawValue).\(index)", dtype: dtype, shape: shape,
                                            bytes: randomBytes(count)))
            }
        }
        return SafeTensorsFile(metadata: ["format": "test", "quote\"and\\slash\n": "é ☃ \u{01}", "": ""],
                               tensors: tensors.shuffled())
    }

    private func assertSameContents(_ read: SafeTensorsFile, _ original: SafeTensorsFile,
                                    file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(read.metadata, original.metadata, file: file, line: line)
        XCTAssertEqual(read.tensors.count, original.tensors.count, file: file, line: line)
        for tensor in original.tensors {
            guard let loaded = read.tensor(named: tensor.name) else {
                XCTFail("missing \(tensor.name)", file: file, line: line)
                continue
            }
            XCTAssertEqual(loaded.dtype, tensor.dtype, tensor.name, file: file, line: line)
            XCTAssertEqual(loaded.shape, tensor.shape, tensor.name, file: file, line: line)
            XCTAssertEqual(loaded.bytes, tensor.bytes, tensor.name, file: file, line: line)
        }
    }

    func testRoundTripThroughFileKeepsEveryDTypeShapeAndBit() throws {
        let directory = try makeTemporaryDirectory(self)
        let url = directory.appendingPathComponent("all.safetensors")
        let original = sampleFile()
        try original.write(to: url)
        let read = try SafeTensorsFile.read(from: url)
        assertSameContents(read, original)
        // The file on disk is exactly the in-memory encoding.
        XCTAssertEqual(try Data(contentsOf: url), original.encoded())
        // Tricky floats survive bit for bit, also through the float accessor.
        let floats = try XCTUnwrap(read.tensor(named: "f32.tricky")?.floats())
        XCTAssertEqual(floats.map(\.bitPattern), Self.trickyFloatBits)
    }

    func testRoundTripInMemoryAndReencodingIsIdentical() throws {
        let original = sampleFile()
        let encoded = original.encoded()
        let decoded = try SafeTensorsFile(decoding: encoded, path: "memory")
        assertSameContents(decoded, original)
        XCTAssertEqual(decoded.encoded(), encoded)
        // Input order does not matter: the layout is deterministic.
        var reversed = original
        reversed.tensors.reverse()
        XCTAssertEqual(reversed.encoded(), encoded)
    }

    func testLayoutIsWidestDTypeFirstThenByName() {
        let file = SafeTensorsFile(tensors: [
            TensorRecord(name: "u", dtype: .uint8, shape: [1], bytes: Data([1])),
            TensorRecord(name: "b", dtype: .float32, shape: [], bytes: floatBytes([1])),
            TensorRecord(name: "a", dtype: .float32, shape: [], bytes: floatBytes([2])),
            TensorRecord(name: "d", dtype: .float64, shape: [], bytes: doubleBytes([3])),
            TensorRecord(name: "i", dtype: .int32, shape: [], bytes: littleEndianBytes([Int32(4)])),
            TensorRecord(name: "l", dtype: .int64, shape: [], bytes: littleEndianBytes([Int64(5)])),
            TensorRecord(name: "B", dtype: .float32, shape: [], bytes: floatBytes([6])),
        ])
        XCTAssertEqual(file.layoutOrder.map(\.name), ["l", "d", "B", "a", "b", "i", "u"])
    }

    /// The layout worked out by hand: header JSON of 132 bytes padded by 4 spaces to 136, the F32
    /// tensor first at [0, 8), the U8 tensor after it at [8, 11), 8 + 136 + 11 = 155 bytes in all.
    func testByteExactLayoutOfSmallFile() throws {
        let file = SafeTensorsFile(metadata: ["k": "v"], tensors: [
            TensorRecord(name: "a", dtype: .uint8, shape: [3], bytes: Data([1, 2, 3])),
            TensorRecord(name: "b", shape: [2], floats: [1.0, -2.0]),
        ])
        let encoded = [UInt8](file.encoded())
        XCTAssertEqual(encoded.count, 155)
        XCTAssertEqual(Array(encoded[0..<8]), [136, 0, 0, 0, 0, 0, 0, 0])
        let json = #"{"__metadata__":{"k":"v"},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"#
            + #""a":{"dtype":"U8","shape":[3],"data_offsets":[8,11]}}"#
        XCTAssertEqual(Array(encoded[8..<140]), Array(json.utf8))
        XCTAssertEqual(Array(encoded[140..<144]), [0x20, 0x20, 0x20, 0x20])
        // 1.0f = 0x3F800000 and -2.0f = 0xC0000000, little-endian.
        XCTAssertEqual(Array(encoded[144..<152]), [0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0])
        XCTAssertEqual(Array(encoded[152..<155]), [1, 2, 3])
    }

    func testEmptyFileHasMinimalHeader() throws {
        let encoded = SafeTensorsFile().encoded()
        XCTAssertEqual([UInt8](encoded), [8, 0, 0, 0, 0, 0, 0, 0] + Array("{}      ".utf8))
        let decoded = try SafeTensorsFile(decoding: encoded, path: "empty")
        XCTAssertTrue(decoded.tensors.isEmpty)
        XCTAssertTrue(decoded.metadata.isEmpty)
    }

    func testHeaderLengthIsMultipleOfEightForEveryNameLength() throws {
        for length in 1...16 {
            let file = SafeTensorsFile(tensors: [TensorRecord(name: String(repeating: "x", count: length), shape: [1], floats: [7])])
            let encoded = file.encoded()
            let headerLength = encoded.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
            XCTAssertEqual(headerLength % 8, 0)
            XCTAssertEqual(encoded.count, 8 + headerLength + 4)
            XCTAssertEqual(try SafeTensorsFile(decoding: encoded, path: "p").tensors.first?.floats(), [7])
        }
    }

    func testReaderAcceptsEscapesWhitespaceAndAnyOffsetOrder() throws {
        // Hand-written header: pretty-printed, escaped names, tensors listed out of data order.
        let header = """
        { "__metadata__" : { "note" : "caf\\u00e9 \\ud83d\\ude00 \\/" },
          "second" : { "data_offsets" : [4, 8], "shape" : [1], "dtype" : "I32" },
          "fir\\"st" : { "dtype" : "F32", "shape" : [ ], "data_offsets" : [0, 4] } }
        """
        let data = headerFile(header, data: floatBytes([1.5]) + littleEndianBytes([Int32(-7)]))
        let file = try SafeTensorsFile(decoding: data, path: "hand")
        XCTAssertEqual(file.metadata["note"], "café 😀 /")
        XCTAssertEqual(file.tensor(named: "fir\"st")?.floats(), [1.5])
        XCTAssertEqual(file.tensor(named: "second")?.bytes, littleEndianBytes([Int32(-7)]))
    }
}

/// A file image with `header` (padded to 8) followed by `data`.
func headerFile(_ header: String, data: Data = Data(), declaredLength: UInt64? = nil) -> Data {
    var json = Array(header.utf8)
    json.append(contentsOf: repeatElement(0x20, count: (8 - json.count % 8) % 8))
    var file = littleEndianBytes([declaredLength ?? UInt64(json.count)])
    file.append(contentsOf: json)
    file.append(data)
    return file
}
