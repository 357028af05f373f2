import Configuration
import Foundation
import XCTest

/// Configuration texts that once crashed, hung or exhausted memory; each must now be a clear error.
final class HostileConfigTests: XCTestCase {
    private func reason(_ body: () throws -> ConfigValue) -> String? {
        do {
            _ = try body()
            return nil
        } catch let error as ConfigError {
            return error.description
        } catch {
            return "\(error)"
        }
    }

    func testLongSexagesimalScalarIsAStringAndWritesBack() throws {
        // Yams's YAML 1.1 sexagesimal reading trapped on 11 or more parts, bare and on write-back.
        let text = "1:0:0:0:0:0:0:0:0:0:0"
        XCTAssertEqual(ConfigValue.parse(scalar: text), .string(text))
        var root = try ConfigValue.parse(yaml: "train:\n  steps: 10\n", source: "x")
        try root.set(path: "train.steps", to: .parse(scalar: text))
        let again = try ConfigValue.parse(yaml: root.yaml(), source: "written")
        XCTAssertEqual(again, root)
        let train = try ConfigSection(root).section("train")
        XCTAssertThrowsError(try train.int("steps", default: 1)) { error in
            XCTAssertTrue("\(error)".contains("train.steps"), "\(error)")
        }
        // Short sexagesimal forms are not numbers either: `1:30` is not 90.
        XCTAssertEqual(ConfigValue.parse(scalar: "1:30"), .string("1:30"))
        XCTAssertEqual(ConfigValue.parse(scalar: "'1:0:0:0:0:0:0:0:0:0:0'"), .string(text))
    }

    func testScalarsResolveAsYAMLCoreSchema() {
        XCTAssertEqual(ConfigValue.parse(scalar: "42"), .int(42))
        XCTAssertEqual(ConfigValue.parse(scalar: "-7"), .int(-7))
        XCTAssertEqual(ConfigValue.parse(scalar: "60_000"), .int(60_000))
        XCTAssertEqual(ConfigValue.parse(scalar: "0x1F"), .int(31))
        XCTAssertEqual(ConfigValue.parse(scalar: "0o17"), .int(15))
        XCTAssertEqual(ConfigValue.parse(scalar: "0b101"), .int(5))
        XCTAssertEqual(ConfigValue.parse(scalar: "010"), .int(10))
        XCTAssertEqual(ConfigValue.parse(scalar: "-9223372036854775808"), .int(Int.min))
        XCTAssertEqual(ConfigValue.parse(scalar: "9223372036854775808"), .double(9223372036854775808))
        XCTAssertEqual(ConfigValue.parse(scalar: "1e-3"), .double(0.001))
        XCTAssertEqual(ConfigValue.parse(scalar: ".5"), .double(0.5))
        XCTAssertEqual(ConfigValue.parse(scalar: "2."), .double(2))
        XCTAssertEqual(ConfigValue.parse(scalar: "-.inf"), .double(-.infinity))
        XCTAssertEqual(ConfigValue.parse(scalar: "true"), .bool(true))
        XCTAssertEqual(ConfigValue.parse(scalar: "~"), .null)
        // Swift's own number reading accepts these; YAML does not.
        XCTAssertEqual(ConfigValue.parse(scalar: "inf"), .string("inf"))
        XCTAssertEqual(ConfigValue.parse(scalar: "nan"), .string("nan"))
        XCTAssertEqual(ConfigValue.parse(scalar: "0x1p3"), .string("0x1p3"))
        XCTAssertEqual(ConfigValue.parse(scalar: "1_"), .string("1_"))
        XCTAssertEqual(ConfigValue.parse(scalar: "1e"), .string("1e"))
    }

    func testDeepFlowNestingIsRefusedWithoutExhaustingTheStack() throws {
        // 5,000 levels overflowed the stack inside Yams's recursive parser.
        let deep = String(repeating: "[", count: 5_000) + String(repeating: "]", count: 5_000)
        let message = try XCTUnwrap(reason { try ConfigValue.parse(yaml: "a: " + deep, source: "deep.yaml") })
        XCTAssertTrue(message.contains("deep.yaml") && message.contains("nested deeper than 64 levels"), message)
        // Far more than the stack could take is refused before parsing starts.
        let deeper = String(repeating: "[", count: 200_000)
        let early = try XCTUnwrap(reason { try ConfigValue.parse(yaml: deeper, source: "deeper.yaml") })
        XCTAssertTrue(early.contains("deeper.yaml") && early.contains("exceed the limit of 10000"), early)
        // The same through an override, which reads its value as YAML too.
        XCTAssertEqual(ConfigValue.parse(scalar: deep), .string(deep))
        // Nesting within the limit is read.
        let fine = String(repeating: "[", count: 60) + "1" + String(repeating: "]", count: 60)
        var value = try ConfigValue.parse(yaml: fine, source: "fine.yaml")
        var levels = 0
        while case .list(let items) = value, let first = items.first { value = first; levels += 1 }
        XCTAssertEqual(levels, 60)
        XCTAssertEqual(value, .int(1))
    }

    func testDeepBlockNestingIsRefused() throws {
        // Block sequences nest one level per "- " without any bracket.
        let dashes = String(repeating: "- ", count: 5_000) + "x\n"
        let message = try XCTUnwrap(reason { try ConfigValue.parse(yaml: dashes, source: "dashes.yaml") })
        XCTAssertTrue(message.contains("nested deeper than 64 levels"), message)
        var indented = ""
        for level in 0..<100 { indented += String(repeating: " ", count: level) + "k\(level):\n" }
        let deepMap = try XCTUnwrap(reason { try ConfigValue.parse(yaml: indented, source: "map.yaml") })
        XCTAssertTrue(deepMap.contains("nested deeper than 64 levels (line 65)"), deepMap)
    }

    func testAliasExpansionIsBounded() throws {
        // "Billion laughs": nine levels of ten aliases each expand to 10^9 values from 1.4 KB.
        var text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1..<9 {
            text += "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]\n"
        }
        let start = Date()
        let message = try XCTUnwrap(reason { try ConfigValue.parse(yaml: text, source: "laughs.yaml") })
        XCTAssertTrue(message.contains("more than 100000 values once aliases are expanded"), message)
        // Bounded work: the refusal comes after at most 100,000 values, not 10^9 (generous bound for slow CI).
        XCTAssertLessThan(Date().timeIntervalSince(start), 20)
        // Ordinary aliases still work.
        let shared = try ConfigValue.parse(yaml: "base: &b {lr: 0.1}\nother: *b\n", source: "alias.yaml")
        guard case .map(let map) = shared else { return XCTFail("not a mapping") }
        XCTAssertEqual(map["other"], map["base"])
    }

    func testOversizedTextAndFilesAreRefused() throws {
        let big = String(repeating: "# padding\n", count: 120_000)
        let message = try XCTUnwrap(reason { try ConfigValue.parse(yaml: big, source: "big.yaml") })
        XCTAssertTrue(message.contains("big.yaml") && message.contains("1048576-byte limit"), message)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("big.yaml")
        try Data(big.utf8).write(to: file)
        let fromFile = try XCTUnwrap(reason { try ConfigValue.parse(file: file.path) })
        XCTAssertTrue(fromFile.contains(file.path) && fromFile.contains("byte limit"), fromFile)
        let notAFile = try XCTUnwrap(reason { try ConfigValue.parse(file: directory.path) })
        XCTAssertTrue(notAFile.contains("is a directory"), notAFile)
        let missing = try XCTUnwrap(reason { try ConfigValue.parse(file: directory.path + "/none.yaml") })
        XCTAssertTrue(missing.contains("no such file"), missing)
        try Data([0xFF, 0xFE, 0x00]).write(to: file)
        let binary = try XCTUnwrap(reason { try ConfigValue.parse(file: file.path) })
        XCTAssertTrue(binary.contains("not UTF-8"), binary)
    }

    func testManyKeysAreReadInLinearTime() throws {
        // Duplicate-key checks were a linear search per key; 50,000 keys must not take minutes.
        let text = (0..<50_000).map { "k\($0): \($0)\n" }.joined()
        let limits = ConfigLimits(maxStructuralCharacters: 60_000)
        let start = Date()
        guard case .map(let map) = try ConfigValue.parse(yaml: text, source: "keys.yaml", limits: limits) else {
            return XCTFail("not a mapping")
        }
        XCTAssertEqual(map.entries.count, 50_000)
        XCTAssertLessThan(Date().timeIntervalSince(start), 60)
    }

    /// Strings that need escaping survive being written out and read back (a document separator of
    /// blank lines once folded into a space inside double quotes).
    func testStringsRoundTripThroughTheWriter() throws {
        let strings = ["\n\n", "a\"b", "back\\slash", "tab\there", "\u{1}\u{7F}", " leading", "trailing ", "# not a comment",
                       "key: value", "true", "12", "1:30", "ü ✓"]
        var root = ConfigValue.map(ConfigMap())
        for (index, text) in strings.enumerated() { try root.set(path: "data.s\(index)", to: .string(text)) }
        XCTAssertEqual(try ConfigValue.parse(yaml: root.yaml(), source: "written"), root, root.yaml())
    }
}
