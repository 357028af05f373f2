import Foundation
import XCTest
@testable import Checkpoints

/// A fresh directory under the system temporary directory, removed when the test ends.
func makeTemporaryDirectory(_ testCase: XCTestCase) throws -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("checkpoints-tests-\(getpid())-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    testCase.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
}

/// Little-endian bytes of a sequence of fixed-width values.
func littleEndianBytes<T: FixedWidthInteger>(_ values: [T]) -> Data {
    var data = Data()
    for value in values { withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) } }
    return data
}

func floatBytes(_ values: [Float]) -> Data { littleEndianBytes(values.map(\.bitPattern)) }
func doubleBytes(_ values: [Double]) -> Data { littleEndianBytes(values.map(\.bitPattern)) }

/// Asserts that `body` throws a `CheckpointError` matching `expected` and naming `path`.
func assertCheckpointError(
    _ body: () throws(CheckpointError) -> Void, path: String, file: StaticString = #filePath, line: UInt = #line,
    _ matches: (CheckpointError) -> Bool
) {
    do {
        try body()
        XCTFail("expected a CheckpointError", file: file, line: line)
    } catch {
        XCTAssertTrue(matches(error), "unexpected error: \(error)", file: file, line: line)
        XCTAssertEqual(error.path, path, file: file, line: line)
        XCTAssertTrue(error.description.contains(path), "description lacks path: \(error)", file: file, line: line)
    }
}
