import Configuration
import Foundation
import Optimizers
import Tensors
import XCTest

/// The memory-lean optimizers (SMMF, SM3, Adafactor without β₁) hold a small fraction of AdamW's
/// state on the shipped models, and packing SMMF's signs did not change its trajectory.
final class LeanStateTests: XCTestCase {
    /// configs/fashion-mlp.yaml's parameters (669,706).
    static let mlp = ParameterLayout([
        ParameterSpec(name: "fc1.weight", shape: [512, 784], role: .weight),
        ParameterSpec(name: "fc1.bias", shape: [512], role: .bias),
        ParameterSpec(name: "fc2.weight", shape: [512, 512], role: .weight),
        ParameterSpec(name: "fc2.bias", shape: [512], role: .bias),
        ParameterSpec(name: "fc3.weight", shape: [10, 512], role: .weight),
        ParameterSpec(name: "fc3.bias", shape: [10], role: .bias),
    ])

    /// configs/fashion-cnn.yaml's parameters.
    static let cnn = ParameterLayout([
        ParameterSpec(name: "conv1.weight", shape: [32, 1, 3, 3], role: .weight),
        ParameterSpec(name: "conv1.bias", shape: [32], role: .bias),
        ParameterSpec(name: "conv2.weight", shape: [64, 32, 3, 3], role: .weight),
        ParameterSpec(name: "conv2.bias", shape: [64], role: .bias),
        ParameterSpec(name: "fc1.weight", shape: [128, 3136], role: .weight),
        ParameterSpec(name: "fc1.bias", shape: [128], role: .bias),
        ParameterSpec(name: "fc2.weight", shape: [10, 128], role: .weight),
        ParameterSpec(name: "fc2.bias", shape: [10], role: .bias),
    ])

    static let leanSettings: [(String, [(String, ConfigValue)])] = [
        ("smmf", [("name", .string("smmf"))]),
        ("sm3", [("name", .string("sm3"))]),
        ("adafactor", [("name", .string("adafactor")), ("betas", .list([.null, .double(0.999)]))]),
        ("adafactor", [("name", .string("adafactor")), ("betas", .list([.int(0), .double(0.999)]))]),
    ]

    func testLeanOptimizersHoldAtMostATenthOfAdamW() throws {
        XCTAssertEqual(Self.mlp.totalCount, 669_706)
        for layout in [Self.mlp, Self.cnn] {
            let adamw = try OptimizerCatalog.stateBytes(name: "adamw", layout: layout)
            XCTAssertEqual(adamw, 8 * layout.totalCount)
            for (name, entries) in Self.leanSettings {
                let bytes = try OptimizerCatalog.stateBytes(section: section(entries), layout: layout)
                XCTAssertGreaterThan(bytes, 0, name)
                XCTAssertLessThanOrEqual(Double(bytes), 0.10 * Double(adamw),
                                         "\(entries) on \(layout.totalCount) parameters: \(bytes) bytes vs AdamW \(adamw)")
            }
            // Defaults by name agree with the section form.
            XCTAssertEqual(try OptimizerCatalog.stateBytes(name: "smmf", layout: layout),
                           try OptimizerCatalog.stateBytes(section: section([("name", .string("smmf"))]), layout: layout))
        }
    }

    func testStateBytesFollowSettings() throws {
        let layout = Self.mlp, count = layout.totalCount
        let axes = layout.slots.reduce(0) { $0 + $1.shape.reduce(0, +) }
        XCTAssertEqual(try OptimizerCatalog.stateBytes(name: "sm3", layout: layout), 4 * axes)
        XCTAssertEqual(try OptimizerCatalog.stateBytes(section: section([("name", .string("sm3")), ("momentum", .double(0.9))]),
                                                       layout: layout), 4 * (axes + count))
        // Adafactor's default (the reference's betas (0.9, 0.999)) keeps a full first moment.
        let factored = try OptimizerCatalog.stateBytes(
            section: section([("name", .string("adafactor")), ("betas", .list([.null, .double(0.999)]))]), layout: layout)
        XCTAssertEqual(try OptimizerCatalog.stateBytes(name: "adafactor", layout: layout), factored + 4 * count)
        // SMMF: one sign bit per parameter, packed into 32-bit words.
        let smmf = try makeOptimizer([("name", .string("smmf"))], layout: layout)
        let signs = try XCTUnwrap(smmf.state.first { $0.name == "smmf.m_sign_bits" })
        XCTAssertEqual(signs.shape, [(count + 31) / 32])
    }

    func testAdafactorWithoutFirstMomentSkipsTheAverage() throws {
        let problem = Quadratic()
        func run(_ beta1: ConfigValue, steps: Int) throws -> (parameters: [Float], state: [String]) {
            let optimizer = try makeOptimizer([("name", .string("adafactor")), ("lr", .double(0.05)),
                                               ("relative_step", .bool(false)),
                                               ("betas", .list([beta1, .double(0.999)]))], layout: problem.layout)
            let parameters = problem.start(), gradients = FloatBuffer(count: problem.layout.totalCount)
            for step in 1...steps {
                let loss = problem.gradient(parameters, into: gradients)
                optimizer.step(parameters: parameters, gradients: gradients,
                               context: StepContext(step: step, learningRate: 0.05, loss: loss))
            }
            return (parameters.array, optimizer.state.map(\.name))
        }
        let start = problem.start().array
        let none = try run(.null, steps: 1), zero = try run(.int(0), steps: 1), averaged = try run(.double(0.9), steps: 1)
        XCTAssertFalse(none.state.contains("adafactor.m"))
        XCTAssertTrue(averaged.state.contains("adafactor.m"))
        XCTAssertEqual(none.parameters.map(\.bitPattern), zero.parameters.map(\.bitPattern))
        // From m₀ = 0 the first averaged step is (1 − β₁) times the raw one.
        for i in 0..<start.count {
            let raw = start[i] - none.parameters[i], damped = start[i] - averaged.parameters[i]
            XCTAssertNotEqual(raw, 0)
            XCTAssertEqual(damped, 0.1 * raw, accuracy: 1e-6 + 1e-4 * abs(raw), "element \(i)")
        }
        let later = try run(.null, steps: 30), laterZero = try run(.double(0), steps: 30)
        XCTAssertEqual(later.parameters.map(\.bitPattern), laterZero.parameters.map(\.bitPattern))
    }

    func testAdafactorBetasAreChecked() {
        func error(_ betas: ConfigValue) -> ConfigError? {
            do {
                _ = try makeOptimizer([("name", .string("adafactor")), ("betas", betas)], layout: Quadratic().layout)
                return nil
            } catch let error as ConfigError { return error } catch { return nil }
        }
        XCTAssertEqual(error(.list([.double(0.9), .null])), .wrongType(key: "optimizer.betas[1]", expected: "number", found: "null"))
        XCTAssertEqual(error(.list([.double(1), .double(0.999)])),
                       .outOfRange(key: "optimizer.betas[0]", value: "1.0", allowed: "in [0.0, 1.0)"))
        XCTAssertEqual(error(.list([.double(0.9)])), .invalid(key: "optimizer.betas", reason: "needs 2 entries, found 1"))
        XCTAssertNotNil(error(.string("fast")))
        XCTAssertNotNil(error(.list([.string("a"), .double(0.999)])))
        XCTAssertNil(error(.list([.double(0.8), .double(0.99)])))
    }

    /// The packed-sign SMMF against the former implementation, which kept each sign as a Float.
    func testPackedSignsKeepTheTrajectory() throws {
        // Sizes straddle 32-bit words so slots start and end inside words.
        let layout = ParameterLayout([
            ParameterSpec(name: "a", shape: [7, 5], role: .weight),
            ParameterSpec(name: "b", shape: [10], role: .bias),
            ParameterSpec(name: "c", shape: [3, 3, 3], role: .weight),
            ParameterSpec(name: "d", shape: [33, 17], role: .weight),
            ParameterSpec(name: "e", shape: [1], role: .bias),
        ])
        let count = layout.totalCount
        let packed = ScaleBySMMF(layout: layout, beta1: 0.9, beta2: 0.999, epsilon: 1e-8)
        let reference = UnpackedSMMF(layout: layout, beta1: 0.9, beta2: 0.999, epsilon: 1e-8)
        let parameters = FloatBuffer(count: count)
        let ours = FloatBuffer(count: count), theirs = FloatBuffer(count: count)
        for step in 1...12 {
            let random = KeyedRandom(41, UInt64(step))
            for i in 0..<count {
                // A drift per element so signs persist for some and flip for others; some exact zeros.
                var g = random.uniform(i) * 2 - 1 + (i % 3 == 0 ? 0.6 : -0.2)
                if (i + step) % 11 == 0 { g = 0 }
                ours[i] = g; theirs[i] = g
            }
            let context = StepContext(step: step, learningRate: 1, loss: 0)
            packed.apply(TransformBuffers(updates: ours.baseAddress, parameters: parameters.baseAddress,
                                          originalGradients: nil), range: 0..<count, context: context)
            reference.apply(theirs.baseAddress, step: step)
            XCTAssertEqual(ours.array.map(\.bitPattern), theirs.array.map(\.bitPattern), "update at step \(step)")
        }
        let state = Dictionary(uniqueKeysWithValues: packed.state.map { ($0.name, $0.storage.array) })
        XCTAssertEqual(Set(state.keys), ["smmf.m_row", "smmf.m_column", "smmf.m_sign_bits", "smmf.v_row", "smmf.v_column"])
        XCTAssertEqual(state["smmf.m_row"]?.map(\.bitPattern), reference.rowM.map(\.bitPattern))
        XCTAssertEqual(state["smmf.m_column"]?.map(\.bitPattern), reference.columnM.map(\.bitPattern))
        XCTAssertEqual(state["smmf.v_row"]?.map(\.bitPattern), reference.rowV.map(\.bitPattern))
        XCTAssertEqual(state["smmf.v_column"]?.map(\.bitPattern), reference.columnV.map(\.bitPattern))
        let words = try XCTUnwrap(state["smmf.m_sign_bits"]).map(\.bitPattern)
        XCTAssertEqual(words.count, (count + 31) / 32)
        let negative = (0..<count).map { words[$0 / 32] >> UInt32($0 % 32) & 1 == 1 }
        XCTAssertEqual(negative, reference.sign.map { $0 < 0 })
        XCTAssertTrue(negative.contains(true) && negative.contains(false))
        // Bits past the last parameter stay clear.
        XCTAssertEqual(words[words.count - 1] >> UInt32(count % 32), 0)
    }
}

/// SMMF exactly as it was computed before the signs were packed: one Float per sign, which also
/// holds |m| between the update and the recompression.
private final class UnpackedSMMF {
    let layout: ParameterLayout, beta1: Float, beta2: Float, epsilon: Float
    let shapes: [(rows: Int, columns: Int, rowOffset: Int, columnOffset: Int)]
    var rowM: [Float], columnM: [Float], sign: [Float], rowV: [Float], columnV: [Float]

    init(layout: ParameterLayout, beta1: Float, beta2: Float, epsilon: Float) {
        self.layout = layout
        self.beta1 = beta1; self.beta2 = beta2; self.epsilon = epsilon
        var shapes: [(rows: Int, columns: Int, rowOffset: Int, columnOffset: Int)] = [], rows = 0, columns = 0
        for slot in layout.slots {
            let (n, m) = ScaleBySMMF.squareShape(slot.count)
            shapes.append((n, m, rows, columns))
            rows += n; columns += m
        }
        self.shapes = shapes
        rowM = Array(repeating: 0, count: rows); rowV = rowM
        columnM = Array(repeating: 0, count: columns); columnV = columnM
        sign = Array(repeating: 0, count: layout.totalCount)
    }

    static func normalize(_ row: inout [Float], _ column: inout [Float], _ shape: (rows: Int, columns: Int, rowOffset: Int, columnOffset: Int)) {
        var total: Float = 0
        for i in 0..<shape.rows { total += row[shape.rowOffset + i] }
        let scale: Float = total > 0 ? 1 / total : 0
        if shape.rows <= shape.columns {
            for i in 0..<shape.rows { row[shape.rowOffset + i] *= scale }
        } else {
            for j in 0..<shape.columns { column[shape.columnOffset + j] *= scale }
        }
    }

    func apply(_ updates: UnsafeMutablePointer<Float>, step: Int) {
        let c1 = Float(1 - pow(Double(beta1), Double(step)))
        let rootC2 = Float(1 - pow(Double(beta2), Double(step))).squareRoot()
        for (index, slot) in layout.slots.enumerated() {
            let shape = shapes[index], n = shape.rows, mCount = shape.columns, g = updates + slot.offset
            let ro = shape.rowOffset, co = shape.columnOffset, so = slot.offset
            var newRows = [Float](repeating: 0, count: n), newColumns = [Float](repeating: 0, count: mCount)
            for i in 0..<n {
                for j in 0..<mCount {
                    let gi = g[i * mCount + j]
                    let v = beta2 * rowV[ro + i] * columnV[co + j] + (1 - beta2) * gi * gi
                    newRows[i] += v
                    newColumns[j] += v
                }
            }
            for i in 0..<n {
                for j in 0..<mCount {
                    let k = i * mCount + j, gi = g[k]
                    let mOld = sign[so + k] * rowM[ro + i] * columnM[co + j]
                    let mNew = beta1 * mOld + (1 - beta1) * gi
                    let v = beta2 * rowV[ro + i] * columnV[co + j] + (1 - beta2) * gi * gi
                    sign[so + k] = mNew < 0 ? -1 : 1
                    g[k] = (mNew / c1) / (v.squareRoot() / rootC2 + epsilon)
                    sign[so + k] *= max(abs(mNew), Float.leastNormalMagnitude)
                }
            }
            for i in 0..<n { rowV[ro + i] = newRows[i] }
            for j in 0..<mCount { columnV[co + j] = newColumns[j] }
            Self.normalize(&rowV, &columnV, shape)
            for i in 0..<n { rowM[ro + i] = 0 }
            for j in 0..<mCount { columnM[co + j] = 0 }
            for i in 0..<n {
                for j in 0..<mCount {
                    let k = so + i * mCount + j, magnitude = abs(sign[k])
                    rowM[ro + i] += magnitude
                    columnM[co + j] += magnitude
                    sign[k] = sign[k] < 0 ? -1 : 1
                }
            }
            Self.normalize(&rowM, &columnM, shape)
        }
    }
}
