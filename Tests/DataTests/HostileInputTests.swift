import Foundation
import XCTest

@testable import Data

/// Inputs found by fuzzing that trapped on integer overflow: each is now an error naming the file.
final class HostileInputTests: XCTestCase {
    /// A `.npy` shape of Int.max bytes: the payload end overflowed when added to the header length.
    func testNumpyShapeNearIntMaxIsAnError() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("huge.npy", npy(descr: "|u1", shape: [Int.max], payload: []))
        assertDataError(try NumpyReader.readImages(path), names: "huge.npy")
        assertDataError(try NumpyReader.readLabels(path, classes: 10), names: "huge.npy", "impossibly large")
    }

    /// IDX dimensions 49 × 218934409 × 859764727, whose product is exactly Int.max.
    func testIDXDimensionsNearIntMaxAreAnError() throws {
        let directory = try TemporaryDirectory()
        let bytes: [UInt8] = [0x00, 0x00, 0x08, 0x03, 0x00, 0x00, 0x00, 0x31, 0x0d, 0x0c, 0xac, 0x89, 0x33, 0x3e, 0xf7, 0xf7]
        let path = try directory.write("train-images-idx3-ubyte", bytes)
        assertDataError(try IDXReader.readImages(path), names: "train-images-idx3-ubyte", "impossibly large")
    }

    /// A few KB that inflate to megabytes: refused once the output passes the limit, not inflated without end.
    func testGzipThatInflatesPastTheLimitIsAnError() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.writeGzipped("bomb.gz", [UInt8](repeating: 0, count: 4 << 20))
        let raw = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        XCTAssertLessThan(raw.count, 10_000)
        XCTAssertThrowsError(try DataFile.gunzip(raw, file: path, limit: 1 << 20)) { error in
            XCTAssertTrue("\(error)".contains("bomb.gz") && "\(error)".contains("inflates to more than 1048576 bytes"), "\(error)")
        }
        XCTAssertEqual(try DataFile.gunzip(raw, file: path, limit: 4 << 20).count, 4 << 20)
    }

    /// Every committed data regression input of the fuzzer (Fuzz/regressions/idx, npy) is an error naming the file.
    func testEveryDataRegressionInputIsAnError() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Fuzz/regressions")
        var checked = 0
        for format in ["idx", "npy"] {
            let directory = folder.appendingPathComponent(format)
            for name in try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() {
                let path = directory.appendingPathComponent(name).path
                if format == "idx" {
                    assertDataError(try IDXReader.readImages(path), names: name)
                    assertDataError(try IDXReader.readLabels(path, classes: 10), names: name)
                } else {
                    assertDataError(try NumpyReader.readImages(path), names: name)
                    assertDataError(try NumpyReader.readLabels(path, classes: 10), names: name)
                }
                checked += 1
            }
        }
        XCTAssertGreaterThanOrEqual(checked, 2)
    }
}
