import Configuration
import Foundation
import JSON
import Tensors

/// The outcome of replaying one reference trajectory.
public struct ConformanceResult: Sendable {
    public let caseName: String
    /// The largest |ours − reference| / (atol + rtol·|reference|) over every element and step.
    public let worstDeviation: Double
    /// The bound `worstDeviation` must not exceed (1: every element within its own tolerance).
    public let tolerance: Double
    /// The step (1-based) and parameter where the worst deviation occurred.
    public let worstStep: Int
    public let worstParameter: String
    public var passed: Bool { worstDeviation <= tolerance }
}

/// Why a reference file could not be replayed.
public enum ConformanceError: Error, CustomStringConvertible {
    case unreadable(file: String, reason: String)
    case malformed(file: String, reason: String)
    case unmappable(file: String, error: ConfigError)

    public var description: String {
        switch self {
        case .unreadable(let file, let reason): "reference \(file) cannot be read: \(reason)"
        case .malformed(let file, let reason): "reference \(file) is malformed: \(reason)"
        case .unmappable(let file, let error): "reference \(file) names an algorithm or setting BigBatch cannot map: \(error)"
        }
    }
}

/// Replays reference trajectories (torch.optim / pytorch_optimizer runs) through BigBatch's optimizers.
public enum Conformance {
    public static func run(file: URL) throws -> ConformanceResult {
        let label = file.lastPathComponent
        func fail(_ reason: String) -> ConformanceError { .malformed(file: label, reason: reason) }
        let data: Data
        do {
            data = try Data(contentsOf: file)
        } catch {
            let missing = !FileManager.default.fileExists(atPath: file.path)
            throw ConformanceError.unreadable(file: file.path, reason: missing ? "no such file" : error.localizedDescription)
        }
        let root: JSONValue
        do {
            root = try data.withUnsafeBytes { (bytes) throws(JSONSyntaxError) in try JSONParser.parse(bytes) }
        } catch let error as JSONSyntaxError {
            throw fail("not valid JSON: \(error.message) at byte \(error.offset)")
        }
        guard let caseName = root["case"]?.string, let algorithm = root["optimizer"]?.string,
              case .object(let hyper)? = root["hyperparameters"], case .array(let params)? = root["params"],
              case .array(let steps)? = root["steps"]
        else { throw fail("missing case, optimizer, hyperparameters, params or steps") }
        let (atol, rtol) = try tolerances(root["tolerance"]?.string ?? "", fail)

        var specs: [ParameterSpec] = [], initial: [[Float]] = [], targets: [[Float]] = []
        for param in params {
            guard let name = param["name"]?.string, let shape = param["shape"]?.numbers.map({ $0.map { Int($0) } }),
                  let start = param["initial"]?.floats, let target = param["target"]?.floats,
                  start.count == shape.reduce(1, *), target.count == start.count
            else { throw fail("a parameter lacks name, shape, initial or target of matching size") }
            specs.append(ParameterSpec(name: name, shape: shape, role: shape.count >= 2 ? .weight : .bias))
            initial.append(start)
            targets.append(target)
        }
        let layout = ParameterLayout(specs)

        var map = ConfigMap()
        map["name"] = .string(algorithm)
        for (key, value) in hyper.sorted(by: { $0.key < $1.key }) { map[key] = value.configValue }
        let optimizer: any Optimizer
        let learningRate: Double
        do {
            learningRate = try OptimizerCatalog.learningRate(section: ConfigSection(map: map, path: "optimizer"))
            optimizer = try OptimizerCatalog.make(section: ConfigSection(map: map, path: "optimizer"), layout: layout)
        } catch {
            throw ConformanceError.unmappable(file: label, error: error)
        }

        let parameters = FloatBuffer(count: layout.totalCount), gradients = FloatBuffer(count: layout.totalCount)
        let target = FloatBuffer(count: layout.totalCount)
        for (slot, (start, goal)) in zip(layout.slots, zip(initial, targets)) {
            for i in 0..<slot.count {
                parameters[slot.offset + i] = start[i]
                target[slot.offset + i] = goal[i]
            }
        }
        var worst = 0.0, worstStep = 0, worstParameter = ""
        for (index, step) in steps.enumerated() {
            guard let loss = step["loss"]?.number else { throw fail("step \(index + 1) has no loss") }
            for slot in layout.slots {
                guard let noise = step["noise"]?[slot.name]?.floats, noise.count == slot.count else {
                    throw fail("step \(index + 1) lacks noise for \(slot.name)")
                }
                for i in 0..<slot.count {
                    let k = slot.offset + i
                    gradients[k] = (parameters[k] - target[k]) + noise[i]
                }
            }
            optimizer.step(parameters: parameters, gradients: gradients,
                           context: StepContext(step: index + 1, learningRate: Float(learningRate), loss: Float(loss)))
            for slot in layout.slots {
                guard let expected = step["params_after"]?[slot.name]?.floats, expected.count == slot.count else {
                    throw fail("step \(index + 1) lacks params_after for \(slot.name)")
                }
                for i in 0..<slot.count {
                    let reference = Double(expected[i])
                    let deviation = abs(Double(parameters[slot.offset + i]) - reference) / (atol + rtol * abs(reference))
                    if !(deviation <= worst) {
                        worst = deviation.isNaN ? .infinity : deviation
                        worstStep = index + 1
                        worstParameter = slot.name
                    }
                }
            }
        }
        return ConformanceResult(caseName: caseName, worstDeviation: worst, tolerance: 1, worstStep: worstStep,
                                 worstParameter: worstParameter)
    }

    /// Reads "abs(ours - reference) <= ATOL + RTOL * abs(reference)".
    static func tolerances(_ text: String, _ fail: (String) -> ConformanceError) throws -> (Double, Double) {
        guard let bound = text.range(of: "<=") else { throw fail("tolerance '\(text)' has no '<='") }
        let terms = text[bound.upperBound...].split(separator: "+")
        guard terms.count == 2, let atol = Double(terms[0].trimmingCharacters(in: .whitespaces)),
              let rtol = Double(terms[1].split(separator: "*")[0].trimmingCharacters(in: .whitespaces))
        else { throw fail("tolerance '\(text)' is not 'ATOL + RTOL * abs(reference)'") }
        return (atol, rtol)
    }
}

extension JSONValue {
    /// The configuration value a YAML file with the same content would give.
    var configValue: ConfigValue {
        switch self {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .number:
            let x = number ?? .nan
            return x == x.rounded() && abs(x) < 1e15 ? .int(Int(x)) : .double(x)
        case .string(let s): return .string(s)
        case .array(let items): return .list(items.map(\.configValue))
        case .object(let map):
            var result = ConfigMap()
            for (key, value) in map.sorted(by: { $0.key < $1.key }) where result[key] == nil { result[key] = value.configValue }
            return .map(result)
        }
    }
}
