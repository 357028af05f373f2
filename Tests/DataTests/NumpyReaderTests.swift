import Data
import XCTest

final class NumpyReaderTests: XCTestCase {
    func testReadsBytesAndFloatsWithEveryLabelType() throws {
        let directory = try TemporaryDirectory()
        let bytes: [UInt8] = (0..<(4 * 3 * 5)).map { UInt8(truncatingIfNeeded: $0 * 3) }
        try directory.write("train_images.npy", npy(descr: "|u1", shape: [4, 3, 5], payload: bytes))
        try directory.write("train_labels.npy", npy(descr: "<i8", shape: [4], payload: littleEndianBytes([Int64(3), 0, 2, 1])))
        let train = try DatasetLoader.load(DataConfig(kind: .npy, directory: directory.path, classes: 4), split: .train)
        XCTAssertEqual(train.sampleShape, [1, 3, 5])
        XCTAssertEqual(train.pixels, .bytes(bytes))
        XCTAssertEqual(train.targets, [3, 0, 2, 1])

        let floats: [Float] = (0..<(2 * 3 * 2 * 2)).map { Float($0) / 24 }
        try directory.write("test_images.npy", npy(descr: "<f4", shape: [2, 3, 2, 2], payload: floatBytes(floats), version: 2))
        try directory.write("test_labels.npy", npy(descr: "<i4", shape: [2], payload: littleEndianBytes([Int32(1), 9])))
        let test = try DatasetLoader.load(DataConfig(kind: .npy, directory: directory.path), split: .test)
        XCTAssertEqual(test.sampleShape, [3, 2, 2])
        XCTAssertEqual(test.pixels, .floats(floats))
        XCTAssertEqual(test.targets, [1, 9])

        try directory.write("u8labels.npy", npy(descr: "|u1", shape: [2], payload: [7, 4]))
        XCTAssertEqual(try NumpyReader.readLabels(directory.file("u8labels.npy"), classes: 10), [7, 4])
        try directory.writeGzipped("zipped.npy.gz", npy(descr: "|u1", shape: [2], payload: [5, 6]))
        XCTAssertEqual(try NumpyReader.readLabels(directory.file("zipped.npy.gz"), classes: 10), [5, 6])
    }

    func testBadHeadersAndTypes() throws {
        let directory = try TemporaryDirectory()
        let noMagic = try directory.write("nomagic.npy", Array("NUMPY not really".utf8))
        assertDataError(try NumpyReader.readImages(noMagic), names: "nomagic.npy", "bad .npy header", "magic")
        let fortran = try directory.write("fortran.npy", npy(descr: "|u1", shape: [1, 2, 2], payload: [1, 2, 3, 4], fortran: true))
        assertDataError(try NumpyReader.readImages(fortran), names: "fortran.npy", "fortran_order", "C order")
        var badVersion = npy(descr: "|u1", shape: [2], payload: [1, 2])
        badVersion[6] = 9
        let version = try directory.write("version.npy", badVersion)
        assertDataError(try NumpyReader.readLabels(version, classes: 10), names: "version.npy", "version 9")
        var longHeader = npy(descr: "|u1", shape: [2], payload: [1, 2])
        longHeader[8] = 0xFF
        longHeader[9] = 0x7F
        let overrun = try directory.write("overrun.npy", longHeader)
        assertDataError(try NumpyReader.readLabels(overrun, classes: 10), names: "overrun.npy", "runs past the end")
        let noShape = try directory.write("noshape.npy", npy(descr: "|u1", shape: [2], payload: [1, 2]).map { $0 == UInt8(ascii: "(") ? UInt8(ascii: "[") : $0 })
        assertDataError(try NumpyReader.readLabels(noShape, classes: 10), names: "noshape.npy", "shape")

        let doubles = try directory.write("doubles.npy", npy(descr: "<f8", shape: [1, 1, 1], payload: Array(repeating: 0, count: 8)))
        assertDataError(try NumpyReader.readImages(doubles), names: "doubles.npy", "dtype '<f8'", "|u1, <f4")
        let bigEndian = try directory.write("be.npy", npy(descr: ">i4", shape: [1], payload: [0, 0, 0, 1]))
        assertDataError(try NumpyReader.readLabels(bigEndian, classes: 10), names: "be.npy", "dtype '>i4'")
        let floatLabels = try directory.write("fl.npy", npy(descr: "<f4", shape: [1], payload: floatBytes([1])))
        assertDataError(try NumpyReader.readLabels(floatLabels, classes: 10), names: "fl.npy", "dtype '<f4'")
    }

    func testShapePayloadAndRangeChecks() throws {
        let directory = try TemporaryDirectory()
        let flat = try directory.write("flat.npy", npy(descr: "|u1", shape: [4], payload: [1, 2, 3, 4]))
        assertDataError(try NumpyReader.readImages(flat), names: "flat.npy", "[4]", "are not images")
        let short = try directory.write("short.npy", npy(descr: "<f4", shape: [2, 2, 2], payload: floatBytes([1, 2, 3])))
        assertDataError(try NumpyReader.readImages(short), names: "short.npy", "truncated")
        let long = try directory.write("long.npy", npy(descr: "|u1", shape: [2], payload: [1, 2, 3]))
        assertDataError(try NumpyReader.readLabels(long, classes: 10), names: "long.npy", "1 trailing bytes")
        let negative = try directory.write("neg.npy", npy(descr: "<i8", shape: [2], payload: littleEndianBytes([Int64(0), -1])))
        assertDataError(try NumpyReader.readLabels(negative, classes: 10), names: "neg.npy", "label -1 at index 1")
        let nan = try directory.write("nan.npy", npy(descr: "<f4", shape: [1, 1, 2], payload: floatBytes([0.5, .nan])))
        assertDataError(try NumpyReader.readImages(nan), names: "nan.npy", "non-finite")

        try directory.write("images.npy", npy(descr: "|u1", shape: [3, 1, 1], payload: [1, 2, 3]))
        try directory.write("labels.npy", npy(descr: "|u1", shape: [2], payload: [1, 2]))
        let mismatch = DataConfig(kind: .npy, directory: directory.path, trainImages: "images.npy", trainLabels: "labels.npy")
        assertDataError(try DatasetLoader.load(mismatch, split: .train), names: "images.npy", "3 images", "2 labels")
        let empty = DataConfig(kind: .npy, directory: directory.path)
        assertDataError(try DatasetLoader.load(empty, split: .train), names: directory.path, "train_images.npy")
    }
}
