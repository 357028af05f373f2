import Configuration
import Foundation
import Tensors

/// Measures an optimizer's step throughput on a synthetic layout (for `bigbatch optimizers --bench`).
public enum OptimizerBenchmark {
    /// Steps `name` (default settings) on `parameterCount` parameters for about `seconds`.
    /// Bytes per second counts parameters, gradients and state read and written once per step.
    public static func run(name: String, parameterCount: Int, seconds: Double) throws -> (paramsPerSecond: Double, bytesPerSecond: Double) {
        precondition(parameterCount > 0 && seconds > 0)
        let columns = 1024
        let rows = max(parameterCount / columns, 1)
        var specs = [ParameterSpec(name: "weight", shape: [rows, columns], role: .weight)]
        if parameterCount - rows * columns > 0 {
            specs.append(ParameterSpec(name: "bias", shape: [parameterCount - rows * columns], role: .bias))
        }
        let layout = ParameterLayout(specs)
        var map = ConfigMap()
        map["name"] = .string(name)
        if name == "lookahead" { map["inner"] = .map(ConfigMap([("name", .string("adamw"))])) }
        let optimizer = try OptimizerCatalog.make(section: ConfigSection(map: map, path: "optimizer"), layout: layout)
        let parameters = FloatBuffer(count: layout.totalCount), gradients = FloatBuffer(count: layout.totalCount)
        let noise = FloatBuffer(count: layout.totalCount)
        KeyedRandom(1).fillUniform(noise.pointer)
        parameters.copy(from: noise)
        var step = 1
        func once() {
            gradients.copy(from: noise)
            optimizer.step(parameters: parameters, gradients: gradients,
                           context: StepContext(step: step, learningRate: 1e-4, loss: 1))
            step += 1
        }
        once()
        // The gradient refill is timed separately and subtracted: the trainer hands over a filled buffer.
        var copyTime = 0.0, total = 0.0, steps = 0
        let start = Date()
        while total < seconds {
            let before = Date()
            gradients.copy(from: noise)
            copyTime += Date().timeIntervalSince(before)
            optimizer.step(parameters: parameters, gradients: gradients,
                           context: StepContext(step: step, learningRate: 1e-4, loss: 1))
            step += 1
            steps += 1
            total = Date().timeIntervalSince(start)
        }
        let stepTime = max(total - copyTime, 1e-9) / Double(steps)
        let stateFloats = optimizer.state.reduce(0) { $0 + $1.storage.count }
        let bytesPerStep = Double(3 * layout.totalCount + 2 * stateFloats) * 4  // read p, g, state; write p, state
        return (Double(layout.totalCount) / stepTime, bytesPerStep / stepTime)
    }
}
