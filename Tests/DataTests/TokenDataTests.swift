import Configuration
import Foundation
import XCTest

@testable import Data

/// Token data: text and nanoGPT `.bin` readers, documents, packed and padded windows, bad input.
final class TokenDataTests: XCTestCase {
    private func config(_ yaml: String) throws -> DataConfig {
        try DataConfig(section: ConfigSection(ConfigValue.parse(yaml: yaml, source: "test"), path: "data"))
    }

    func testPackedWindowsCoverTheStreamWithNextTokenTargets() throws {
        let tokens: [UInt16] = Array(0..<11)
        let set = try TokenData.windows(tokens, ranges: [0..<11], length: 4, vocabulary: 16, padTails: false, file: "t")
        XCTAssertEqual(set.count, 2)  // 10 pairs → two whole windows, the partial third dropped
        XCTAssertEqual(set.sampleShape, [4])
        XCTAssertEqual(set.pixels, .tokens([0, 1, 2, 3, 4, 5, 6, 7]))
        XCTAssertEqual(set.targets, [1, 2, 3, 4, 5, 6, 7, 8])
    }

    func testDocumentsArePaddedWithIgnoredTargetsAndNeverCrossed() throws {
        // "ab|cdefg|h" with separator "|": documents "ab", "cdefg", "h" (too short for a pair).
        let text = Array("ab|cdefg|h".utf8).map(UInt16.init)
        let documents = TokenData.documents(text, separator: Array("|".utf8).map(UInt16.init))
        XCTAssertEqual(documents, [0..<2, 3..<8, 9..<10])
        let set = try TokenData.windows(text, ranges: documents, length: 3, vocabulary: 256, padTails: true, file: "t")
        func chars(_ s: String) -> [Int32] { s.utf8.map(Int32.init) }
        // "ab" → (a→b) + 2 padded; "cdefg" → (cde→def) and (fg→g?) i.e. f→g + 2 padded.
        XCTAssertEqual(set.count, 3)
        let expectedTargets: [Int32] = [chars("b")[0], -1, -1] + chars("def") + [chars("g")[0], -1, -1]
        XCTAssertEqual(set.targets, expectedTargets)
        guard case .tokens(let inputs) = set.pixels else { return XCTFail("not tokens") }
        let letters = Array("acdef".utf8).map(UInt16.init)
        let expected: [UInt16] = [letters[0], 0, 0, letters[1], letters[2], letters[3], letters[4], 0, 0]
        XCTAssertEqual(inputs, expected)
        // Samples carry different numbers of counted targets: 1, 3 and 1.
        XCTAssertEqual((0..<3).map { s in set.targets[(3 * s)..<(3 * s + 3)].filter { $0 >= 0 }.count }, [1, 3, 1])
    }

    func testBinaryTokensAreCheckedAgainstTheVocabulary() throws {
        let directory = try TemporaryDirectory()
        let good = try directory.write("train.bin", [1, 0, 2, 0, 0xFF, 0x00])
        XCTAssertEqual(try TokenData.readBinary(good, vocabulary: 256), [1, 2, 255])
        assertDataError(try TokenData.readBinary(good, vocabulary: 100), names: "train.bin", "token id 255 at position 2",
                        "model.vocab_size = 100")
        let odd = try directory.write("odd.bin", [1, 0, 2])
        assertDataError(try TokenData.readBinary(odd, vocabulary: 256), names: "odd.bin", "odd length")
        let empty = try directory.write("empty.bin", [])
        assertDataError(try TokenData.readBinary(empty, vocabulary: 256), names: "empty.bin", "empty")
        let emptyText = try directory.write("empty.txt", [])
        assertDataError(try TokenData.readText(emptyText), names: "empty.txt", "empty")
        assertDataError(try TokenData.readText(directory.file("missing.txt")), names: "missing.txt")
    }

    func testTextSplitsIntoTrainingAndValidation() throws {
        let directory = try TemporaryDirectory()
        let text = String(repeating: "In the beginning God created the heaven and the earth.\n", count: 40)
        let path = try directory.write("corpus.txt", Array(text.utf8))
        var data = try config("dataset: text\npath: \(path)\nval_fraction: 0.25\n")
        data.sequenceLength = 16
        let train = try DatasetLoader.load(data, split: .train), test = try DatasetLoader.load(data, split: .test)
        let held = text.utf8.count / 4
        XCTAssertEqual(train.count, (text.utf8.count - held - 1) / 16)
        XCTAssertEqual(test.count, (held - 1) / 16)
        XCTAssertEqual(train.classes, 256)
        guard case .tokens(let first) = test.pixels else { return XCTFail("not tokens") }
        XCTAssertEqual(Array(first.prefix(16)), Array(text.utf8.suffix(held).prefix(16)).map(UInt16.init))
        // A window longer than the validation part is an error naming the file.
        data.sequenceLength = held + 5
        assertDataError(try DatasetLoader.load(data, split: .test), names: "corpus.txt", "no window of")
    }

    func testTokenKeysAreRefusedForImagesAndNormalizationForTokens() {
        XCTAssertThrowsError(try config("dataset: fashion-mnist\npack: false\n")) {
            XCTAssertTrue("\($0)".contains("data.pack"), "\($0)")
        }
        XCTAssertThrowsError(try config("dataset: text\npath: x.txt\nnormalize: auto\n")) {
            XCTAssertTrue("\($0)".contains("data.normalize"), "\($0)")
        }
        XCTAssertThrowsError(try config("dataset: text\n")) { XCTAssertTrue("\($0)".contains("data.path"), "\($0)") }
    }
}
