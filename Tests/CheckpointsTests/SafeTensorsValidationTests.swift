import Foundation
import XCTest
@testable import Checkpoints

/// Every way a file can be damaged or foreign must end in a typed error that names the file.
final class SafeTensorsValidationTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory(self)
    }

    /// Writes `data` to a fresh file and returns its path.
    private func file(_ data: Data, _ name: String = "damaged.safetensors") throws -> String {
        let url = directory.appendingPathComponent(name)
        try data.write(to: url)
        return url.path
    }

    private func assertReadFails(_ data: Data, file: StaticString = #filePath, line: UInt = #line,
                                 _ matches: (CheckpointError) -> Bool) throws {
        let path = try self.file(data)
        assertCheckpointError({ () throws(CheckpointError) in _ = try SafeTensorsFile.read(from: URL(fileURLWithPath: path)) },
                              path: path, file: file, line: line, matches)
    }

    private func validImage() -> Data {
        SafeTensorsFile(metadata: ["format": "x"], tensors: [
            TensorRecord(name: "w", shape: [2, 3], floats: [1, 2, 3, 4, 5, 6]),
            TensorRecord(name: "b", shape: [3], floats: [7, 8, 9]),
        ]).encoded()
    }

    private func headerLength(_ image: Data) -> Int {
        image.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
    }

    func testMissingFile() {
        let path = directory.appendingPathComponent("absent.safetensors").path
        assertCheckpointError({ () throws(CheckpointError) in _ = try SafeTensorsFile.read(from: URL(fileURLWithPath: path)) },
                              path: path) { $0 == .fileNotFound(path: path) }
    }

    func testTruncationAtEveryRegion() throws {
        let image = validImage()
        let dataStart = 8 + headerLength(image)
        XCTAssertNoThrow(try SafeTensorsFile(decoding: image, path: "ok"))
        for cut in [0, 1, 7] {
            try assertReadFails(image.prefix(cut)) { if case .fileTooShort(_, cut) = $0 { true } else { false } }
        }
        for cut in [8, 9, 40, dataStart - 1] {
            try assertReadFails(image.prefix(cut)) {
                if case .headerLengthOutOfRange(_, UInt64(dataStart - 8), cut) = $0 { true } else { false }
            }
        }
        // Cut inside the data ("b" at [0, 12), then "w" at [12, 36)): the first tensor that no longer fits is named.
        for cut in [dataStart, dataStart + 4] {
            try assertReadFails(image.prefix(cut)) {
                if case .offsetsOutOfRange(_, "b", 0, 12, cut - dataStart) = $0 { true } else { false }
            }
        }
        for cut in [dataStart + 12, dataStart + 20, image.count - 1] {
            try assertReadFails(image.prefix(cut)) {
                if case .offsetsOutOfRange(_, "w", 12, 36, cut - dataStart) = $0 { true } else { false }
            }
        }
    }

    func testHugeHeaderLength() throws {
        var image = validImage()
        image.replaceSubrange(0..<8, with: littleEndianBytes([UInt64.max]))
        try assertReadFails(image) { if case .headerLengthOutOfRange(_, UInt64.max, _) = $0 { true } else { false } }
    }

    func testTrailingGarbage() throws {
        try assertReadFails(validImage() + Data([0xDE, 0xAD, 0xBE])) { $0 == .trailingBytes(path: $0.path, count: 3) }
    }

    func testHeaderNotJSONOrNotObject() throws {
        var image = validImage()
        image[8] = UInt8(ascii: "x")  // '{' → 'x'
        try assertReadFails(image) { if case .malformedHeader(_, let reason) = $0 { reason.contains("not JSON") } else { false } }
        try assertReadFails(headerFile("[1, 2]")) {
            if case .malformedHeader(_, let reason) = $0 { reason.contains("not a JSON object") } else { false }
        }
        try assertReadFails(headerFile(#"{"a": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]}"#, data: floatBytes([1]))) {
            if case .malformedHeader(_, let reason) = $0 { reason.contains("not JSON") } else { false }
        }
        try assertReadFails(headerFile("{} {}")) {
            if case .malformedHeader(_, let reason) = $0 { reason.contains("after the JSON value") } else { false }
        }
        var invalidUTF8 = headerFile(#"{"__metadata__": {"k": "??"}}"#)
        invalidUTF8[8 + 24] = 0xFF
        try assertReadFails(invalidUTF8) { if case .malformedHeader(_, "not valid UTF-8") = $0 { true } else { false } }
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        try assertReadFails(headerFile(deep)) {
            if case .malformedHeader(_, let reason) = $0 { reason.contains("nesting") } else { false }
        }
    }

    func testEveryHeaderByteFlipEitherDecodesOrFailsNamingTheFile() throws {
        let image = validImage()
        let headerEnd = 8 + headerLength(image)
        var failures = 0
        for position in 0..<headerEnd {
            var damaged = image
            damaged[position] ^= 0xFF
            do {
                _ = try SafeTensorsFile(decoding: damaged, path: "flipped")
            } catch {
                XCTAssertEqual(error.path, "flipped")
                failures += 1
            }
        }
        // Structural bytes dominate the header, so most flips must be caught.
        XCTAssertGreaterThan(failures, headerEnd / 2)
    }

    func testUnknownDType() throws {
        try assertReadFails(headerFile(#"{"h": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]}}"#, data: Data(count: 4))) {
            $0 == .unknownDType(path: $0.path, tensor: "h", dtype: "F16")
        }
    }

    func testShapeDisagreesWithOffsets() throws {
        try assertReadFails(headerFile(#"{"t": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 12]}}"#, data: Data(count: 12))) {
            $0 == .sizeMismatch(path: $0.path, tensor: "t", shape: [2, 2], dtype: "F32", expectedBytes: 16, foundBytes: 12)
        }
        // A shape whose byte count overflows Int is a mismatch, not a crash.
        let huge = #"{"t": {"dtype": "F64", "shape": [4294967296, 4294967296], "data_offsets": [0, 8]}}"#
        try assertReadFails(headerFile(huge, data: Data(count: 8))) {
            if case .sizeMismatch(_, "t", _, "F64", nil, 8) = $0 { true } else { false }
        }
    }

    func testOffsetsOutOfRangeOverlappingOrWithGaps() throws {
        try assertReadFails(headerFile(#"{"t": {"dtype": "U8", "shape": [4], "data_offsets": [2, 6]}}"#, data: Data(count: 4))) {
            $0 == .offsetsOutOfRange(path: $0.path, tensor: "t", begin: 2, end: 6, dataSize: 4)
        }
        let overlap = #"{"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}, "b": {"dtype": "U8", "shape": [4], "data_offsets": [2, 6]}}"#
        try assertReadFails(headerFile(overlap, data: Data(count: 6))) {
            $0 == .overlappingTensors(path: $0.path, first: "a", second: "b")
        }
        let gap = #"{"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}, "b": {"dtype": "U8", "shape": [2], "data_offsets": [5, 7]}}"#
        try assertReadFails(headerFile(gap, data: Data(count: 7))) { $0 == .gapBeforeTensor(path: $0.path, tensor: "b", gap: 3) }
        let leadingGap = #"{"a": {"dtype": "U8", "shape": [2], "data_offsets": [1, 3]}}"#
        try assertReadFails(headerFile(leadingGap, data: Data(count: 3))) { $0 == .gapBeforeTensor(path: $0.path, tensor: "a", gap: 1) }
        let backwards = #"{"a": {"dtype": "U8", "shape": [0], "data_offsets": [3, 1]}}"#
        try assertReadFails(headerFile(backwards, data: Data(count: 3))) {
            if case .malformedHeader(_, let reason) = $0 { reason.contains("backwards") } else { false }
        }
    }

    func testDuplicateNames() throws {
        let duplicate = #"{"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}, "a": {"dtype": "U8", "shape": [1], "data_offsets": [1, 2]}}"#
        try assertReadFails(headerFile(duplicate, data: Data(count: 2))) { $0 == .duplicateTensor(path: $0.path, name: "a") }
    }

    func testMetadataMustBeStrings() throws {
        try assertReadFails(headerFile(#"{"__metadata__": {"ok": "yes", "step": 12}}"#)) {
            $0 == .nonStringMetadata(path: $0.path, key: "step")
        }
        try assertReadFails(headerFile(#"{"__metadata__": ["a"]}"#)) {
            if case .malformedHeader(_, let reason) = $0 { reason.contains("__metadata__") } else { false }
        }
    }

    func testMalformedEntries() throws {
        let cases: [(String, String)] = [
            (#"{"a": 3}"#, "not an object"),
            (#"{"a": {"dtype": "U8", "shape": [1]}}"#, "needs dtype, shape and data_offsets"),
            (#"{"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1], "extra": 1}}"#, "unknown field 'extra'"),
            (#"{"a": {"dtype": "U8", "shape": [-1], "data_offsets": [0, 1]}}"#, "non-negative integers"),
            (#"{"a": {"dtype": "U8", "shape": [1.0], "data_offsets": [0, 1]}}"#, "non-negative integers"),
            (#"{"a": {"dtype": "U8", "shape": [1], "data_offsets": [0]}}"#, "pair of non-negative integers"),
            (#"{"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1e0]}}"#, "pair of non-negative integers"),
            (#"{"a": {"dtype": 8, "shape": [1], "data_offsets": [0, 1]}}"#, "dtype"),
        ]
        for (header, expected) in cases {
            try assertReadFails(headerFile(header, data: Data(count: 1))) {
                if case .malformedHeader(_, let reason) = $0 { reason.contains(expected) && reason.contains("'a'") } else { false }
            }
        }
    }
}
