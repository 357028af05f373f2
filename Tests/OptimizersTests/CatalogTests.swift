import Configuration
import Optimizers
import Tensors
import XCTest

/// Every optimizer in the catalogue, driven by name: convergence on a quadratic and bit-exact state restore.
final class CatalogTests: XCTestCase {
    /// Settings per optimizer for a well-conditioned quadratic (only rates and a few knobs differ).
    static func settings(_ name: String) -> [(String, ConfigValue)] {
        var entries: [(String, ConfigValue)] = [("name", .string(name))]
        switch name {
        case "sgd": entries += [("lr", .double(0.1)), ("momentum", .double(0.9))]
        case "nsgda": entries += [("lr", .double(0.02))]
        case "adafactor": entries += [("lr", .double(0.05)), ("relative_step", .bool(false))]
        case "sm3": entries += [("lr", .double(0.1))]
        case "adalo": entries += [("betas", .list([.double(0.9), .double(0.9)])), ("kappa", .double(1))]
        case "glfrac": entries += [("lr", .double(0.3))]
        case "muon": entries += [("lr", .double(0.02)), ("adamw_lr", .double(0.05))]
        case "amos": entries += [("lr", .double(0.1))]
        case "lookahead": entries += [("lr", .double(0.05)), ("inner", .map(ConfigMap([("name", .string("adam")), ("lr", .double(0.05))])))]
        default: entries += [("lr", .double(0.05))]
        }
        return entries
    }

    func testCatalogueIsComplete() {
        let expected = ["sgd", "adam", "adamw", "nadam", "adalo", "nsgda", "adafactor", "sm3", "amos", "smmf", "lamb",
                        "adam_atan2", "sadam", "diffgrad", "adamomentum", "pnm", "adapnm", "adanorm", "glfrac", "lookahead",
                        "muon", "amem", "adamw2"]
        XCTAssertEqual(Set(OptimizerCatalog.names), Set(expected))
    }

    func testEveryOptimizerReducesAQuadratic() throws {
        let problem = Quadratic()
        for name in OptimizerCatalog.names {
            let optimizer = try makeOptimizer(Self.settings(name), layout: problem.layout)
            let learningRate = Float(try OptimizerCatalog.learningRate(section: section(Self.settings(name))))
            let parameters = problem.start(), gradients = FloatBuffer(count: problem.layout.totalCount)
            let initial = problem.gradient(parameters, into: gradients)
            var loss = initial
            for step in 1...400 {
                loss = problem.gradient(parameters, into: gradients)
                optimizer.step(parameters: parameters, gradients: gradients,
                               context: StepContext(step: step, learningRate: learningRate, loss: loss))
            }
            loss = problem.gradient(parameters, into: gradients)
            XCTAssertLessThan(loss, 0.05 * initial, "\(name): loss \(initial) → \(loss)")
        }
    }

    func testStateRestoresBitExactly() throws {
        let problem = Quadratic()
        for name in OptimizerCatalog.names {
            let optimizer = try makeOptimizer(Self.settings(name), layout: problem.layout)
            let (saved, _) = assertStateRestoresBitExactly(optimizer, on: problem, label: name)
            XCTAssertFalse(saved.isEmpty && !["sgd"].contains(name), "\(name) reports no state")
            let names = optimizer.state.map(\.name)
            XCTAssertEqual(Set(names).count, names.count, "\(name) has duplicate state names \(names)")
        }
    }

    func testStateBytes() throws {
        let layout = Quadratic().layout
        XCTAssertEqual(try OptimizerCatalog.stateBytes(name: "adamw", layout: layout), 2 * 4 * layout.totalCount)
        let wide = ParameterLayout([ParameterSpec(name: "weight", shape: [64, 64], role: .weight)])
        XCTAssertLessThan(try OptimizerCatalog.stateBytes(name: "smmf", layout: wide),
                          try OptimizerCatalog.stateBytes(name: "adamw", layout: wide))
        XCTAssertLessThan(try OptimizerCatalog.stateBytes(name: "adafactor", layout: wide),
                          try OptimizerCatalog.stateBytes(name: "adamw", layout: wide))
    }

    func testTransformsComposeWithAnyOptimizer() throws {
        let problem = Quadratic()
        XCTAssertGreaterThanOrEqual(TransformCatalog.names.count, 14)
        for transform in TransformCatalog.names {
            let optimizer = try makeOptimizer([("name", .string("adam")), ("lr", .double(0.05)),
                                               ("transforms", .list([.map(ConfigMap([("name", .string(transform))]))]))],
                                              layout: problem.layout)
            let parameters = problem.start(), gradients = FloatBuffer(count: problem.layout.totalCount)
            let initial = problem.gradient(parameters, into: gradients)
            for step in 1...100 {
                let loss = problem.gradient(parameters, into: gradients)
                optimizer.step(parameters: parameters, gradients: gradients,
                               context: StepContext(step: step, learningRate: 0.05, loss: loss))
            }
            let final = problem.gradient(parameters, into: gradients)
            XCTAssertTrue(final.isFinite && final < initial, "\(transform): \(initial) → \(final)")
        }
    }
}
