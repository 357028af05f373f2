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

    /// Lookahead's pullback_momentum needs one momentum buffer over the whole model: an inner optimizer
    /// split into groups is refused by name, and an unknown mode lists the library's three.
    func testLookaheadPullbackNeedsAnUngroupedInnerOptimizer() {
        let groups = ConfigValue.list([.map(ConfigMap([("params", .string("*")), ("lr", .double(0.01))]))])
        let inner = ConfigMap([("optimizer", .string("sgd")), ("lr", .double(0.05)), ("momentum", .double(0.9)),
                               ("groups", groups)])
        guard case .invalid(let key, let reason)? = error([("name", .string("lookahead")), ("pullback_momentum", .string("pullback")),
                                                           ("inner", .map(inner))]) else {
            return XCTFail("expected invalid")
        }
        XCTAssertEqual(key, "optimizer.pullback_momentum")
        XCTAssertTrue(reason.contains("groups"), reason)
        guard case .invalidChoice(_, let value, let valid)? = error([("name", .string("lookahead")), ("pullback_momentum", .string("back")),
                                                                    ("inner", .map(ConfigMap([("optimizer", .string("sgd"))])))]) else {
            return XCTFail("expected invalidChoice")
        }
        XCTAssertEqual(value, "back")
        XCTAssertEqual(valid, ["none", "reset", "pullback"])
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
