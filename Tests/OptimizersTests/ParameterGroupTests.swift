import Configuration
import Optimizers
import Tensors
import XCTest

/// `optimizer.groups`: selectors, precedence, per-group settings and rates, state, and the errors.
final class ParameterGroupTests: XCTestCase {
    private let problem = Quadratic()

    private func groups(_ items: [[(String, ConfigValue)]]) -> (String, ConfigValue) {
        ("groups", .list(items.map { .map(ConfigMap($0.map { (key: $0.0, value: $0.1) })) }))
    }

    private func slot(_ name: String, role: ParameterRole, shape: [Int] = [2]) -> ParameterSlot {
        ParameterLayout([ParameterSpec(name: name, shape: shape, role: role)]).slots[0]
    }

    /// Steps `optimizer` on the quadratic and returns the parameters' bit patterns.
    private func trajectory(_ optimizer: any Optimizer, steps: Int = 6, learningRate: Float) -> [UInt32] {
        let parameters = problem.start(), gradients = FloatBuffer(count: problem.layout.totalCount)
        for step in 1...steps {
            let loss = problem.gradient(parameters, into: gradients)
            optimizer.step(parameters: parameters, gradients: gradients,
                           context: StepContext(step: step, learningRate: learningRate, loss: loss))
        }
        return parameters.array.map(\.bitPattern)
    }

    private func error(_ entries: [(String, ConfigValue)], layout: ParameterLayout? = nil) -> ConfigError? {
        do {
            _ = try makeOptimizer(entries, layout: layout ?? problem.layout)
            return nil
        } catch let error as ConfigError {
            return error
        } catch {
            return nil
        }
    }

    func testGlobsMatchWholeNamesAndRolesMatchRoles() throws {
        let bias = slot("transformer.h.0.attn.c_attn.bias", role: .bias)
        let weight = slot("transformer.h.0.attn.c_attn.weight", role: .weight, shape: [2, 2])
        let gain = slot("transformer.ln_f.weight", role: .scale)
        func pattern(_ text: String) throws -> ParameterPattern { try ParameterPattern(text, key: "k") }
        XCTAssertTrue(try pattern("*.bias").matches(bias))
        XCTAssertFalse(try pattern("*.bias").matches(weight))
        XCTAssertTrue(try pattern("transformer.h.*.attn.*").matches(weight))
        XCTAssertFalse(try pattern("transformer.h.*.attn.*").matches(gain))
        XCTAssertTrue(try pattern("transformer.h.?.attn.c_attn.weight").matches(weight))
        XCTAssertFalse(try pattern("transformer.h.?.attn").matches(weight), "a glob matches the whole name")
        XCTAssertTrue(try pattern("transformer.ln_f.weight").matches(gain))
        XCTAssertTrue(try pattern("*").matches(gain))
        XCTAssertTrue(try pattern("role:scale").matches(gain))
        XCTAssertFalse(try pattern("role:scale").matches(weight))
        XCTAssertTrue(try pattern("role:weight").matches(weight))
        XCTAssertEqual(try pattern("role:bias"), .role(.bias))
        XCTAssertThrowsError(try pattern("role:norm")) { error in
            guard case .invalidChoice(let key, let value, let valid) = error as? ConfigError else { return XCTFail("\(error)") }
            XCTAssertEqual(key, "k")
            XCTAssertEqual(value, "role:norm")
            XCTAssertEqual(valid, ["role:weight", "role:bias", "role:embedding", "role:scale"])
        }
    }

    /// A group that changes nothing must not change the trajectory: the partition gathers, runs and
    /// scatters without touching the arithmetic. Bit-exact for every optimizer of the catalogue (the
    /// reference chain is rebuilt without the fused AdamW loop, whose rounding order differs).
    func testGroupsWithoutOverridesKeepEveryOptimizersTrajectory() throws {
        for name in OptimizerCatalog.names {
            var settings = CatalogTests.settings(name)
            let rate = Float(try OptimizerCatalog.learningRate(section: section(settings)))
            let plain = try makeOptimizer(settings, layout: problem.layout)
            func unfused(_ optimizer: any Optimizer) -> any Optimizer {
                if let chain = optimizer as? TransformChain {
                    return TransformChain(name: chain.name, transforms: chain.transforms.flatMap { ($0 as? FusedAdamW)?.unfused ?? [$0] },
                                          layout: problem.layout)
                }
                if let lookahead = optimizer as? Lookahead {
                    return Lookahead(inner: unfused(lookahead.inner), layout: problem.layout, k: lookahead.k, alpha: lookahead.alpha)
                }
                return optimizer
            }
            let reference = unfused(plain)
            let group = groups([[("params", .string("role:bias"))]])
            if name == "lookahead", let index = settings.firstIndex(where: { $0.0 == "inner" }),
               case .map(var inner) = settings[index].1 {
                inner[group.0] = group.1
                settings[index].1 = .map(inner)
            } else {
                settings.append(group)
            }
            let grouped = try makeOptimizer(settings, layout: problem.layout)
            XCTAssertEqual(trajectory(grouped, learningRate: rate), trajectory(reference, learningRate: rate), name)
        }
    }

    /// Per-group weight decay and rate: the bias group against a plain SGD on the bias alone at the
    /// group's rate (the schedule's factor applied to the group's base rate), the rest against one at
    /// the top-level settings.
    func testGroupSettingsAndRateApplyToTheirParametersOnly() throws {
        let top: [(String, ConfigValue)] = [("name", .string("sgd")), ("lr", .double(0.1)), ("momentum", .double(0.9)),
                                            ("weight_decay", .double(0.01))]
        let grouped = try makeOptimizer(top + [groups([[("params", .list([.string("role:bias")])), ("lr", .double(0.03)),
                                                        ("weight_decay", .double(0)), ("nesterov", .bool(true))]])],
                                        layout: problem.layout)
        let weightLayout = ParameterLayout([ParameterSpec(name: "weight", shape: [4, 6], role: .weight)])
        let biasLayout = ParameterLayout([ParameterSpec(name: "bias", shape: [4], role: .bias)])
        let weightOnly = try makeOptimizer(top, layout: weightLayout)
        let biasOnly = try makeOptimizer([("name", .string("sgd")), ("momentum", .double(0.9)), ("nesterov", .bool(true))],
                                         layout: biasLayout)
        let parameters = problem.start(), gradients = FloatBuffer(count: problem.layout.totalCount)
        let weights = FloatBuffer(Array(parameters.array[0..<24])), biases = FloatBuffer(Array(parameters.array[24...]))
        for step in 1...5 {
            // A decaying schedule: the factor 0.9^step must reach both groups.
            let rate = Float(0.1 * pow(0.9, Double(step)))
            let loss = problem.gradient(parameters, into: gradients)
            let g = gradients.array
            grouped.step(parameters: parameters, gradients: gradients, context: StepContext(step: step, learningRate: rate, loss: loss))
            weightOnly.step(parameters: weights, gradients: FloatBuffer(Array(g[0..<24])),
                            context: StepContext(step: step, learningRate: rate, loss: loss))
            biasOnly.step(parameters: biases, gradients: FloatBuffer(Array(g[24...])),
                          context: StepContext(step: step, learningRate: Float(Double(rate) * (0.03 / 0.1)), loss: loss))
            XCTAssertEqual(parameters.array.map(\.bitPattern), (weights.array + biases.array).map(\.bitPattern), "step \(step)")
        }
        let partition = try XCTUnwrap((grouped as? TransformChain)?.transforms.first as? ParameterPartition)
        let rates = partition.learningRates(scheduled: 0.1)
        XCTAssertEqual(rates.map(\.group), ["groups.0", "groups.default"])
        XCTAssertEqual(rates[0].rate, 0.03, accuracy: Float(0.03).ulp)
        XCTAssertEqual(rates[1].rate, 0.1)
    }

    /// The first matching group wins; parameters no group matches keep the top-level settings.
    func testFirstMatchingGroupWins() throws {
        let layout = ParameterLayout([ParameterSpec(name: "h.0.weight", shape: [2, 2], role: .weight),
                                      ParameterSpec(name: "h.0.bias", shape: [2], role: .bias),
                                      ParameterSpec(name: "h.1.weight", shape: [2, 2], role: .weight),
                                      ParameterSpec(name: "h.1.bias", shape: [2], role: .bias)])
        // Plain SGD: p ← p − lr·g with g = 1 everywhere shows each parameter's rate directly.
        let optimizer = try makeOptimizer([("name", .string("sgd")), ("lr", .double(1)),
                                           groups([[("params", .string("h.1.*")), ("lr", .double(0.5))],
                                                   [("params", .string("role:bias")), ("lr", .double(0.25))]])],
                                          layout: layout)
        let parameters = FloatBuffer(count: layout.totalCount)
        optimizer.step(parameters: parameters, gradients: FloatBuffer([Float](repeating: 1, count: layout.totalCount)),
                       context: StepContext(step: 1, learningRate: 1, loss: 0))
        XCTAssertEqual(parameters.array, [-1, -1, -1, -1, -0.25, -0.25, -0.5, -0.5, -0.5, -0.5, -0.5, -0.5])
    }

    /// Global transforms stay global: a clip by the global norm sees the whole gradient, not a group's.
    func testTransformsActOnTheWholeModel() throws {
        let clip: (String, ConfigValue) = ("transforms", .list([.map(ConfigMap([("name", .string("clip_norm")), ("max_norm", .double(0.5))]))]))
        let top: [(String, ConfigValue)] = [("name", .string("sgd")), ("lr", .double(0.1)), clip]
        let plain = try makeOptimizer(top, layout: problem.layout)
        let grouped = try makeOptimizer(top + [groups([[("params", .string("role:bias"))]])], layout: problem.layout)
        XCTAssertEqual(trajectory(grouped, learningRate: 0.1), trajectory(plain, learningRate: 0.1))
    }

    /// State under stable, distinct names, sized to each group, restored bit-exactly, for every optimizer.
    func testGroupedStateIsNamedAndRestoresBitExactly() throws {
        for name in OptimizerCatalog.names where name != "lookahead" {
            let optimizer = try makeOptimizer(CatalogTests.settings(name) + [groups([[("params", .string("bias"))]])],
                                              layout: problem.layout)
            let names = optimizer.state.map(\.name)
            XCTAssertEqual(Set(names).count, names.count, "\(name): \(names)")
            XCTAssertTrue(names.allSatisfy { $0.hasPrefix("groups.0.") || $0.hasPrefix("groups.default.") }, "\(name): \(names)")
            let plainNames = try makeOptimizer(CatalogTests.settings(name), layout: problem.layout).state.map(\.name)
            XCTAssertEqual(Set(names.map { String($0.split(separator: ".", maxSplits: 2)[2]) }), Set(plainNames), name)
            let (_, moved) = assertStateRestoresBitExactly(optimizer, on: problem, label: name)
            XCTAssertTrue(moved, "\(name): steps 4–7 left the parameters where they were")
        }
    }

    func testUnknownKeyInAGroupNamesItAndTheValidOnes() {
        guard case .unknownKey(let key, let suggestion, let valid)? =
            error([("name", .string("adamw")), groups([[("params", .string("role:bias")), ("weight_decy", .double(0))]])])
        else { return XCTFail("expected unknownKey") }
        XCTAssertEqual(key, "optimizer.groups[0].weight_decy")
        XCTAssertEqual(suggestion, "optimizer.groups[0].weight_decay")
        XCTAssertTrue(valid.contains("params") && valid.contains("weight_decay") && valid.contains("lr"), "\(valid)")
        XCTAssertFalse(valid.contains("name") || valid.contains("transforms"), "\(valid)")
    }

    func testPatternThatMatchesNothingIsNamed() {
        guard case .invalid(let key, let reason)? =
            error([("name", .string("adamw")), groups([[("params", .list([.string("role:bias"), .string("*.gain")]))]])])
        else { return XCTFail("expected invalid") }
        XCTAssertEqual(key, "optimizer.groups[0].params")
        XCTAssertTrue(reason.contains("'*.gain' matches no parameter"), reason)
        // A role the model has none of is the same mistake.
        guard case .invalid(_, let roleReason)? =
            error([("name", .string("adamw")), groups([[("params", .string("role:embedding"))]])])
        else { return XCTFail("expected invalid") }
        XCTAssertTrue(roleReason.contains("'role:embedding'"), roleReason)
    }

    func testGroupLeftEmptyByAnEarlierOneIsAnError() {
        guard case .invalid(let key, let reason)? =
            error([("name", .string("sgd")), groups([[("params", .string("*"))], [("params", .string("role:bias"))]])])
        else { return XCTFail("expected invalid") }
        XCTAssertEqual(key, "optimizer.groups[1].params")
        XCTAssertTrue(reason.contains("earlier group"), reason)
    }

    func testSettingsThatCannotVaryPerGroupAreNamed() {
        let cases: [([(String, ConfigValue)], String)] = [
            ([("name", .string("adalo")), groups([[("params", .string("role:bias")), ("lr", .double(0.1))]])], "optimizer.groups[0].lr"),
            ([("name", .string("adam")), groups([[("params", .string("role:bias")), ("name", .string("sgd"))]])], "optimizer.groups[0].name"),
            ([("name", .string("adam")), groups([[("params", .string("role:bias")), ("transforms", .list([]))]])],
             "optimizer.groups[0].transforms"),
        ]
        for (entries, expected) in cases {
            guard case .invalid(let key, _)? = error(entries) else { XCTFail("expected invalid for \(expected)"); continue }
            XCTAssertEqual(key, expected)
        }
        guard case .invalid(let key, let reason)? =
            error([("name", .string("lookahead")), ("inner", .map(ConfigMap([("name", .string("adam"))]))),
                   groups([[("params", .string("role:bias"))]])])
        else { return XCTFail("expected invalid") }
        XCTAssertEqual(key, "optimizer.groups")
        XCTAssertTrue(reason.contains("optimizer.inner.groups"), reason)
    }

    func testMalformedGroupsAreRejected() {
        XCTAssertEqual(error([("name", .string("sgd")), groups([[("lr", .double(0.1))]])]),
                       .missingKey(key: "optimizer.groups[0].params"))
        XCTAssertEqual(error([("name", .string("sgd")), ("groups", .string("role:bias"))]),
                       .wrongType(key: "optimizer.groups", expected: "non-empty list of mappings", found: "string"))
        XCTAssertEqual(error([("name", .string("sgd")), groups([[("params", .int(3))]])]),
                       .wrongType(key: "optimizer.groups[0].params", expected: "pattern or non-empty list of patterns", found: "integer"))
        guard case .outOfRange(let key, _, _)? =
            error([("name", .string("adam")), groups([[("params", .string("role:bias")), ("betas", .list([.double(0.9), .double(1)]))]])])
        else { return XCTFail("expected outOfRange") }
        XCTAssertEqual(key, "optimizer.groups[0].betas[1]")
        guard case .invalid(let zeroKey, _)? =
            error([("name", .string("sgd")), ("lr", .double(0)), groups([[("params", .string("role:bias")), ("lr", .double(0.1))]])])
        else { return XCTFail("expected invalid") }
        XCTAssertEqual(zeroKey, "optimizer.groups[0].lr")
    }

    /// Every parameter in a group: the top-level settings are still checked.
    func testTopLevelSettingsAreCheckedWhenEveryParameterIsGrouped() {
        guard case .unknownKey(let key, _, _)? =
            error([("name", .string("adam")), ("betaz", .double(0)), groups([[("params", .string("*"))]])])
        else { return XCTFail("expected unknownKey") }
        XCTAssertEqual(key, "optimizer.betaz")
    }

    /// Without a model (a sweep's variants are checked before any is built) selectors need not match,
    /// but every group's settings are still checked.
    func testCheckWithoutAModelReadsEveryGroupsSettings() throws {
        let named = groups([[("params", .string("transformer.wte.weight")), ("lr", .double(0.003))]])
        XCTAssertNoThrow(try OptimizerCatalog.check(section: section([("name", .string("adamw")), named])))
        XCTAssertNotNil(error([("name", .string("adamw")), named]), "against a model the selector must match")
        XCTAssertThrowsError(try OptimizerCatalog.check(section: section([
            ("name", .string("adamw")), groups([[("params", .string("transformer.wte.weight")), ("betaz", .double(0))]])]))) { error in
            guard case .unknownKey(let key, _, _) = error as? ConfigError else { return XCTFail("\(error)") }
            XCTAssertEqual(key, "optimizer.groups[0].betaz")
        }
    }

    // MARK: Muon's split through groups

    /// `use_muon: true` sends a vector through Newton–Schulz as an n×1 matrix: on the first step the
    /// Nesterov direction is (1−μ²)g, normalized to a unit vector whose one singular value goes
    /// through the quintic five times, and the step is lr·√n (√max(1, rows/cols)) times that.
    func testMuonGroupSendsAVectorThroughNewtonSchulz() throws {
        let layout = ParameterLayout([ParameterSpec(name: "bias", shape: [5], role: .bias)])
        let optimizer = try makeOptimizer([("name", .string("muon")), ("lr", .double(0.1)),
                                           groups([[("params", .string("bias")), ("use_muon", .bool(true))]])],
                                          layout: layout)
        let g: [Float] = [0.3, -1.2, 0.5, 2, -0.1]
        let parameters = FloatBuffer(count: 5)
        optimizer.step(parameters: parameters, gradients: FloatBuffer(g), context: StepContext(step: 1, learningRate: 0.1, loss: 0))
        var sigma = 1.0
        for _ in 0..<5 { sigma = 3.4445 * sigma - 4.7750 * pow(sigma, 3) + 2.0315 * pow(sigma, 5) }
        let norm = g.reduce(0) { $0 + Double($1 * $1) }.squareRoot()
        for i in 0..<5 {
            let expected = -0.1 * 5.0.squareRoot() * sigma * Double(g[i]) / norm
            XCTAssertEqual(Double(parameters[i]), expected, accuracy: 1e-6 * (1 + abs(expected)), "element \(i)")
        }
    }

    /// `use_muon: false` makes a group one of pytorch_optimizer's AdamW groups: its lr, betas, eps and
    /// weight_decay are the AdamW branch's, so a matrix in it steps like Adam at those settings (the
    /// branch's lerp form rounds differently from Adam's β·m + (1−β)·g: a few float32 roundings per step).
    func testMuonAdamWGroupStepsLikeAdam() throws {
        let muon = try makeOptimizer([("name", .string("muon")), ("lr", .double(0.02)),
                                      groups([[("params", .string("*")), ("use_muon", .bool(false)), ("lr", .double(0.01)),
                                               ("betas", .list([.double(0.8), .double(0.9)])), ("eps", .double(1e-8))]])],
                                     layout: problem.layout)
        let adam = try makeOptimizer([("name", .string("adam")), ("betas", .list([.double(0.8), .double(0.9)]))],
                                     layout: problem.layout)
        let ours = problem.start(), theirs = problem.start(), gradients = FloatBuffer(count: problem.layout.totalCount)
        for step in 1...5 {
            let loss = problem.gradient(ours, into: gradients)
            muon.step(parameters: ours, gradients: gradients, context: StepContext(step: step, learningRate: 0.02, loss: loss))
            problem.gradient(theirs, into: gradients)
            adam.step(parameters: theirs, gradients: gradients, context: StepContext(step: step, learningRate: 0.01, loss: loss))
        }
        let start = problem.start()
        for i in 0..<ours.count {
            XCTAssertNotEqual(ours[i], start[i])
            XCTAssertEqual(ours[i], theirs[i], accuracy: 1e-6 * (1 + abs(theirs[i])), "element \(i)")
        }
        guard case .unknownKey(let key, _, let valid)? =
            error([("name", .string("muon")), groups([[("params", .string("bias")), ("use_muon", .bool(false)), ("momentum", .double(0.9))]])])
        else { return XCTFail("expected unknownKey") }
        XCTAssertEqual(key, "optimizer.groups[0].momentum")
        XCTAssertTrue(valid.contains("betas") && !valid.contains("ns_steps"), "\(valid)")
    }
}
