import Foundation
import TestSupport
import XCTest

/// `bigbatch conformance` on folders and on files it cannot replay.
final class ConformanceCommandTests: XCTestCase {
    func testFoldersExpandAndBadFilesAreNamed() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bigbatch-conf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try "{".write(to: directory.appendingPathComponent("b.json"), atomically: true, encoding: .utf8)
        try "{\"case\": \"x\"}".write(to: directory.appendingPathComponent("a.json"), atomically: true, encoding: .utf8)
        try "not a reference".write(to: directory.appendingPathComponent("notes.txt"), atomically: true, encoding: .utf8)
        let missing = directory.appendingPathComponent("gone.json").path
        let result = try ProcessRunner.run(["conformance", directory.path, missing], timeout: 60)
        XCTAssertEqual(result.status, 1, result.output + result.error)
        let lines = result.output.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines, [
            "FAIL  reference a.json is malformed: missing case, optimizer, hyperparameters, params or steps",
            "FAIL  reference b.json is malformed: not valid JSON: expected a string key at byte 1",
            "FAIL  reference \(missing) cannot be read: no such file",
        ])
    }
}
