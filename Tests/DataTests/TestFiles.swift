import Data
import Foundation
import XCTest

/// A scratch directory for the files a test writes, removed afterwards.
final class TemporaryDirectory {
    let path: String

    init() throws {
        let base = NSTemporaryDirectory() + "data-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        path = base
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let target = file(name)
        try Foundation.Data(bytes).write(to: URL(fileURLWithPath: target))
        return target
    }

    /// Writes `bytes` gzipped by the system's gzip tool (independent of the reader's zlib path).
    @discardableResult
    func writeGzipped(_ name: String, _ bytes: [UInt8]) throws -> String {
        let plain = try write(name + ".plain", bytes)
        let compressed = try runTool("/usr/bin/gzip", ["-c", "-n", plain])
        try FileManager.default.removeItem(atPath: plain)
        return try write(name, compressed)
    }
}

/// Runs a tool and returns its standard output.
func runTool(_ tool: String, _ arguments: [String]) throws -> [UInt8] {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: tool)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    XCTAssertEqual(process.terminationStatus, 0, "\(tool) \(arguments) failed")
    return [UInt8](output)
}

func bigEndian(_ value: Int) -> [UInt8] {
    [UInt8(value >> 24 & 0xFF), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
}

/// An IDX file: magic 0x0000TTDD, big-endian sizes, payload.
func idx(type: UInt8 = 0x08, dimensions: [Int], payload: [UInt8]) -> [UInt8] {
    [0, 0, type, UInt8(dimensions.count)] + dimensions.flatMap(bigEndian) + payload
}

/// A `.npy` file (version 1 or 2) with the header padded to 64 bytes as NumPy does.
func npy(descr: String, shape: [Int], payload: [UInt8], fortran: Bool = false, version: UInt8 = 1) -> [UInt8] {
    let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    var header = "{'descr': '\(descr)', 'fortran_order': \(fortran ? "True" : "False"), 'shape': \(shapeText), }"
    let prefix = version == 1 ? 10 : 12
    while (prefix + header.utf8.count + 1) % 64 != 0 { header += " " }
    header += "\n"
    let length = header.utf8.count
    let lengthBytes: [UInt8] = version == 1
        ? [UInt8(length & 0xFF), UInt8(length >> 8)]
        : [UInt8(length & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length >> 16 & 0xFF), UInt8(length >> 24)]
    return [0x93] + Array("NUMPY".utf8) + [version, 0] + lengthBytes + Array(header.utf8) + payload
}

func littleEndianBytes<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
    values.flatMap { value in (0..<(T.bitWidth / 8)).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) } }
}

func floatBytes(_ values: [Float]) -> [UInt8] { littleEndianBytes(values.map(\.bitPattern)) }

/// Asserts that `body` throws a `DataError` whose message names `file` and contains every fragment.
func assertDataError<T>(_ body: @autoclosure () throws -> T, names file: String, _ fragments: String...,
                        line: UInt = #line) {
    do {
        _ = try body()
        XCTFail("expected an error naming \(file)", line: line)
    } catch let error as DataError {
        let message = error.description
        XCTAssertTrue(message.contains(file), "'\(message)' does not name \(file)", line: line)
        for fragment in fragments {
            XCTAssertTrue(message.contains(fragment), "'\(message)' lacks '\(fragment)'", line: line)
        }
    } catch {
        XCTFail("unexpected error \(error)", line: line)
    }
}
