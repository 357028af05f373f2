import Data
import Foundation
import XCTest

final class IDXReaderTests: XCTestCase {
    let fashion = "/usr/share/datasets/fashion-mnist"

    func testFashionMNISTLoadsBothSplits() throws {
        let config = DataConfig(kind: .fashionMNIST)
        let train = try DatasetLoader.load(config, split: .train)
        let test = try DatasetLoader.load(config, split: .test)
        XCTAssertEqual(train.count, 60000)
        XCTAssertEqual(test.count, 10000)
        XCTAssertEqual(train.sampleShape, [1, 28, 28])
        XCTAssertEqual(test.sampleShape, [1, 28, 28])
        XCTAssertEqual(train.pixels.count, 60000 * 784)
        XCTAssertTrue(train.targets.allSatisfy { (0..<10).contains($0) })
        // Fashion-MNIST is balanced: 6000 training and 1000 test images per class.
        var perClass = [Int](repeating: 0, count: 10)
        for label in train.targets { perClass[Int(label)] += 1 }
        XCTAssertEqual(perClass, [Int](repeating: 6000, count: 10))
        perClass = [Int](repeating: 0, count: 10)
        for label in test.targets { perClass[Int(label)] += 1 }
        XCTAssertEqual(perClass, [Int](repeating: 1000, count: 10))
    }

    /// The system gzip tool decompresses the files independently; raw bytes at known offsets must
    /// match what the reader returns, and the plain copies must load identically.
    func testSpotCheckAgainstIndependentDecompression() throws {
        let directory = try TemporaryDirectory()
        let rawImages = try runTool("/usr/bin/gzip", ["-dc", fashion + "/t10k-images-idx3-ubyte.gz"])
        let rawLabels = try runTool("/usr/bin/gzip", ["-dc", fashion + "/t10k-labels-idx1-ubyte.gz"])
        try directory.write("images", rawImages)
        try directory.write("labels", rawLabels)
        XCTAssertEqual(Array(rawImages[0..<4]), [0, 0, 8, 3])
        XCTAssertEqual(rawImages.count, 16 + 10000 * 784)

        let gzipped = try DatasetLoader.load(DataConfig(kind: .fashionMNIST), split: .test)
        let plain = try DatasetLoader.load(DataConfig(kind: .idx, directory: directory.path, testImages: "images",
                                                      testLabels: "labels"), split: .test)
        XCTAssertEqual(gzipped.pixels, plain.pixels)
        XCTAssertEqual(gzipped.targets, plain.targets)
        guard case .bytes(let pixels) = gzipped.pixels else { return XCTFail("IDX pixels should be bytes") }
        let spots: [(Int, Int)] = [(0, 0), (0, 400), (1234, 377), (9999, 783), (5000, 406)]
        for (sample, pixel) in spots {
            XCTAssertEqual(pixels[sample * 784 + pixel], rawImages[16 + sample * 784 + pixel], "sample \(sample) pixel \(pixel)")
        }
        for sample in [0, 1, 4321, 9999] {
            XCTAssertEqual(Int(gzipped.targets[sample]), Int(rawLabels[8 + sample]))
        }
        // Not a blank image: the first test image has ink.
        XCTAssertGreaterThan(pixels[0..<784].filter { $0 > 0 }.count, 100)
    }

    func testSmallIDXFilesGzippedAndPlainAndFourDimensional() throws {
        let directory = try TemporaryDirectory()
        let payload: [UInt8] = (0..<36).map { (i: Int) -> UInt8 in UInt8(i * 7 % 256) }
        try directory.writeGzipped("a.gz", idx(dimensions: [3, 2, 2, 3], payload: payload))
        try directory.write("l", idx(dimensions: [3], payload: [2, 0, 1]))
        let set = try DatasetLoader.load(DataConfig(kind: .idx, directory: directory.path, trainImages: "a.gz",
                                                    trainLabels: "l", classes: 3), split: .train)
        XCTAssertEqual(set.sampleShape, [2, 2, 3])
        XCTAssertEqual(set.pixels, .bytes(payload))
        XCTAssertEqual(set.targets, [2, 0, 1])
    }

    func testWrongMagicNamesFileAndNumbers() throws {
        let directory = try TemporaryDirectory()
        let labels = try directory.write("train-images-idx3-ubyte", idx(dimensions: [2], payload: [0, 1]))
        assertDataError(try IDXReader.readImages(labels), names: "train-images-idx3-ubyte",
                        "magic 0x00000801", "IDX3 image", "expected 0x00000803")
        let garbage = try directory.write("garbage", Array("hello world!".utf8))
        assertDataError(try IDXReader.readImages(garbage), names: "garbage", "magic 0x68656c6c")
        let doubles = try directory.write("doubles", idx(type: 0x0E, dimensions: [1], payload: Array(repeating: 0, count: 8)))
        assertDataError(try IDXReader.readLabels(doubles, classes: 10), names: "doubles", "element type 0xe")
    }

    func testTruncatedGzipStream() throws {
        let directory = try TemporaryDirectory()
        let good = try directory.writeGzipped("good.gz", idx(dimensions: [100, 28, 28], payload: (0..<78400).map { UInt8($0 % 251) }))
        let bytes = [UInt8](try Foundation.Data(contentsOf: URL(fileURLWithPath: good)))
        let cut = try directory.write("cut.gz", Array(bytes[0..<(bytes.count / 2)]))
        assertDataError(try IDXReader.readImages(cut), names: "cut.gz", "gzip stream is truncated")
        let headerOnly = try directory.write("header.gz", Array(bytes[0..<12]))
        assertDataError(try IDXReader.readImages(headerOnly), names: "header.gz", "truncated")
        var damaged = bytes
        damaged[bytes.count - 6] ^= 0xFF  // the CRC-32 in the trailer
        let bad = try directory.write("crc.gz", damaged)
        assertDataError(try IDXReader.readImages(bad), names: "crc.gz", "corrupt gzip")
        XCTAssertEqual(try IDXReader.readImages(good).shape, [100, 1, 28, 28])
    }

    func testTruncatedPayloadAndTrailingBytes() throws {
        let directory = try TemporaryDirectory()
        let short = try directory.write("short", idx(dimensions: [10, 28, 28], payload: Array(repeating: 1, count: 5 * 784)))
        assertDataError(try IDXReader.readImages(short), names: "short", "truncated", "\(16 + 7840) bytes", "has \(16 + 3920)")
        let long = try directory.write("long", idx(dimensions: [3], payload: [1, 2, 3, 4, 5]))
        assertDataError(try IDXReader.readLabels(long, classes: 10), names: "long", "2 trailing bytes")
        let cutHeader = try directory.write("cuthead", [0, 0, 8, 3, 0, 0])
        assertDataError(try IDXReader.readImages(cutHeader), names: "cuthead", "truncated")
        let empty = try directory.write("empty", idx(dimensions: [0, 28, 28], payload: []))
        assertDataError(try IDXReader.readImages(empty), names: "empty", "no samples")
    }

    func testCountMismatchAndLabelRange() throws {
        let directory = try TemporaryDirectory()
        try directory.write("imgs", idx(dimensions: [3, 2, 2], payload: Array(repeating: 9, count: 12)))
        try directory.write("two", idx(dimensions: [2], payload: [0, 1]))
        try directory.write("eleven", idx(dimensions: [3], payload: [0, 10, 1]))
        let mismatch = DataConfig(kind: .idx, directory: directory.path, trainImages: "imgs", trainLabels: "two")
        assertDataError(try DatasetLoader.load(mismatch, split: .train), names: "imgs", "3 images", "two", "2 labels")
        let outOfRange = DataConfig(kind: .idx, directory: directory.path, trainImages: "imgs", trainLabels: "eleven")
        assertDataError(try DatasetLoader.load(outOfRange, split: .train), names: "eleven", "label 10 at index 1", "0..<10")
        let wider = DataConfig(kind: .idx, directory: directory.path, trainImages: "imgs", trainLabels: "eleven", classes: 11)
        XCTAssertEqual(try DatasetLoader.load(wider, split: .train).targets, [0, 10, 1])
    }

    func testMissingFilesAndDirectories() throws {
        let directory = try TemporaryDirectory()
        try directory.write("unrelated.txt", [1, 2, 3])
        let config = DataConfig(kind: .fashionMNIST, directory: directory.path)
        assertDataError(try DatasetLoader.load(config, split: .train), names: directory.path,
                        "train-images-idx3-ubyte.gz or train-images-idx3-ubyte", "unrelated.txt")
        let missing = DataConfig(kind: .idx, directory: directory.path, testImages: "nope", testLabels: "unrelated.txt")
        assertDataError(try DatasetLoader.load(missing, split: .test), names: directory.file("nope"), "no such file")
        let nowhere = DataConfig(kind: .mnist, directory: directory.file("absent"))
        assertDataError(try DatasetLoader.load(nowhere, split: .test), names: directory.file("absent"), "does not exist")
        try FileManager.default.createDirectory(atPath: directory.file("sub"), withIntermediateDirectories: false)
        assertDataError(try IDXReader.readLabels(directory.file("sub"), classes: 10), names: directory.file("sub"), "directory")
    }
}
