import Configuration
import XCTest

final class ConfigSectionTests: XCTestCase {
    private let yaml = """
        model:
          kind: mlp
          hidden: [512, 512]
        optimizer:
          name: adamw
          lr: 0.001
          betas: [0.9, 0.999]
        train:
          steps: 100
          deterministic: true
        """

    func testTypedReadsAndOverrides() throws {
        var root = try ConfigValue.parse(yaml: yaml, source: "test.yaml")
        try root.set(path: "optimizer.lr", to: .parse(scalar: "0.02"))
        try root.set(path: "schedule.warmup_steps", to: .parse(scalar: "10"))
        let config = try ConfigSection(root)
        let optimizer = try config.section("optimizer")
        XCTAssertEqual(try optimizer.string("name", default: ""), "adamw")
        XCTAssertEqual(try optimizer.double("lr", default: 1), 0.02)
        XCTAssertEqual(try optimizer.doubles("betas", default: [], count: 2), [0.9, 0.999])
        XCTAssertNoThrow(try optimizer.finish())
        XCTAssertEqual(try config.section("schedule").int("warmup_steps", default: 0), 10)
        XCTAssertEqual(try config.section("model").ints("hidden", default: []), [512, 512])
        XCTAssertTrue(try config.section("train").bool("deterministic", default: false))
    }

    func testUnknownKeyNamesClosestValidKey() throws {
        let section = try ConfigSection(.parse(yaml: "lr: 0.1\nweight_decya: 0.01\n", source: "x"), path: "optimizer")
        _ = try section.double("lr", default: 0)
        _ = try section.double("weight_decay", default: 0)
        XCTAssertThrowsError(try section.finish()) { error in
            XCTAssertEqual(error as? ConfigError, .unknownKey(key: "optimizer.weight_decya",
                                                              suggestion: "optimizer.weight_decay",
                                                              valid: ["lr", "weight_decay"]))
            XCTAssertTrue("\(error)".contains("did you mean 'optimizer.weight_decay'"))
        }
    }

    func testWrongTypesAndRangesNameKeyAndValue() throws {
        let section = try ConfigSection(.parse(yaml: "lr: -1\nname: 3\nbeta: 1.0\nsteps: 2.5\n", source: "x"),
                                        path: "optimizer")
        XCTAssertThrowsError(try section.double("lr", default: 0, range: 0...Double.infinity)) {
            XCTAssertEqual($0 as? ConfigError, .outOfRange(key: "optimizer.lr", value: "-1.0", allowed: "in [0.0, inf]"))
        }
        XCTAssertThrowsError(try section.string("name", default: "")) {
            XCTAssertEqual($0 as? ConfigError, .wrongType(key: "optimizer.name", expected: "string", found: "integer 3"))
        }
        XCTAssertThrowsError(try section.double("beta", default: 0, range: 0...1, openUpper: true)) {
            XCTAssertTrue("\($0)".contains("optimizer.beta") && "\($0)".contains("1.0)"), "\($0)")
        }
        XCTAssertThrowsError(try section.int("steps", default: 0))
        XCTAssertThrowsError(try section.choice("name", default: "a", from: ["a", "b"]))
    }

    func testYAMLRoundTripKeepsOrderAndValues() throws {
        let root = try ConfigValue.parse(yaml: yaml, source: "x")
        let again = try ConfigValue.parse(yaml: root.yaml(), source: "y")
        XCTAssertEqual(root, again)
        XCTAssertTrue(root.yaml().hasPrefix("model:\n  kind: mlp\n"))
    }

    func testMalformedYAMLAndDuplicateKeysAreReported() {
        XCTAssertThrowsError(try ConfigValue.parse(yaml: "a: [1, 2\n", source: "bad.yaml")) {
            XCTAssertTrue("\($0)".contains("bad.yaml"))
        }
        XCTAssertThrowsError(try ConfigValue.parse(yaml: "a: 1\na: 2\n", source: "dup.yaml")) {
            XCTAssertTrue("\($0)".contains("appears twice") || "\($0)".contains("dup.yaml"), "\($0)")
        }
    }
}
