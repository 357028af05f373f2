import Configuration
import Optimizers
import XCTest

final class ConfigErrorTests: XCTestCase {
    private let layout = Quadratic().layout

    private func error(_ entries: [(String, ConfigValue)]) -> ConfigError? {
        do {
            _ = try makeOptimizer(entries, layout: layout)
            return nil
        } catch let error as ConfigError {
            return error
        } catch {
            return nil
        }
    }

    func testUnknownOptimizerListsValidNames() {
        guard case .invalidChoice(let key, let value, let valid)? = error([("name", .string("adamx"))]) else {
            return XCTFail("expected invalidChoice")
        }
        XCTAssertEqual(key, "optimizer.name")
        XCTAssertEqual(value, "adamx")
        XCTAssertEqual(valid, OptimizerCatalog.names)
    }

    func testUnknownSettingSuggestsClosest() {
        guard case .unknownKey(let key, let suggestion, let valid)? =
            error([("name", .string("adamw")), ("weight_decy", .double(0.1))]) else { return XCTFail("expected unknownKey") }
        XCTAssertEqual(key, "optimizer.weight_decy")
        XCTAssertEqual(suggestion, "optimizer.weight_decay")
        XCTAssertTrue(valid.contains("betas"))
    }

    func testBetaOfOneIsRejectedWithKeyAndRange() {
        guard case .outOfRange(let key, _, let allowed)? =
            error([("name", .string("adam")), ("betas", .list([.double(0.9), .double(1.0)]))]) else {
            return XCTFail("expected outOfRange")
        }
        XCTAssertEqual(key, "optimizer.betas[1]")
        XCTAssertEqual(allowed, "in [0.0, 1.0)")
    }

    func testNegativeLearningRateIsRejected() {
        guard case .outOfRange(let key, let value, let allowed)? = error([("name", .string("sgd")), ("lr", .double(-0.1))]) else {
            return XCTFail("expected outOfRange")
        }
        XCTAssertEqual(key, "optimizer.lr")
        XCTAssertEqual(value, "-0.1")
        XCTAssertEqual(allowed, "≥ 0")
    }

    func testUnknownTransformAndTransformSetting() {
        guard case .invalidChoice(let key, _, let valid)? =
            error([("name", .string("sgd")), ("transforms", .list([.map(ConfigMap([("name", .string("clip"))]))]))]) else {
            return XCTFail("expected invalidChoice")
        }
        XCTAssertEqual(key, "optimizer.transforms[0].name")
        XCTAssertTrue(valid.contains("clip_norm"))
        guard case .unknownKey(let badKey, let suggestion, _)? =
            error([("name", .string("sgd")),
                   ("transforms", .list([.map(ConfigMap([("name", .string("clip_norm")), ("max_nrom", .double(1))]))]))]) else {
            return XCTFail("expected unknownKey")
        }
        XCTAssertEqual(badKey, "optimizer.transforms[0].max_nrom")
        XCTAssertEqual(suggestion, "optimizer.transforms[0].max_norm")
    }
}
