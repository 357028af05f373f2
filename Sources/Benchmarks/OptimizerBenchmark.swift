import Configuration
import Foundation
import Optimizers
import Tensors

/// Measures an optimizer's step throughput on a synthetic layout (for `bigbatch bench optimizer`).
public enum OptimizerBenchmark {
    /// Throughput of one optimizer over repeated steps.
    public struct Result: Sendable, CustomStringConvertible {
        public let name: String
        public let parameterCount: Int
        public let steps: Int
        /// Whether the step overwrote the gradient buffer, so that it was refilled (untimed) before each step.
        public let refillsGradients: Bool
        /// Median and fastest wall time of one `step` call (the gradient refill is not timed).
        public let medianStepSeconds: Double
        public let minimumStepSeconds: Double
        /// Bytes one step moves per parameter: 12 for the parameter read and write plus the gradient
        /// read, and 8 per state float per parameter (read and written once), e.g. 28 for AdamW (m, v).
        public let bytesPerParameter: Double

        /// Parameters per second at the median step time (as PyTorch's optimizer benchmark reports).
        public var paramsPerSecond: Double { Double(parameterCount) / medianStepSeconds }
        /// Memory traffic at the median step time: `bytesPerParameter` × `paramsPerSecond`.
        public var bytesPerSecond: Double { bytesPerParameter * paramsPerSecond }

        public var description: String {
            String(format: "%@ on %d parameters: %.3f G params/s, %.1f GB/s (%.0f bytes/param; median step %.3f ms, min %.3f ms, %d steps)",
                   name, parameterCount, paramsPerSecond / 1e9, bytesPerSecond / 1e9, bytesPerParameter,
                   medianStepSeconds * 1e3, minimumStepSeconds * 1e3, steps)
        }

        /// One JSON object line, keys as in the PyTorch anchor script (`params_per_s`) plus `gbps`.
        public var json: String {
            String(format: "{\"name\":\"%@\",\"params\":%d,\"params_per_s\":%.0f,\"gbps\":%.2f,\"bytes_per_param\":%.0f,\"step_ms_median\":%.3f,\"step_ms_min\":%.3f,\"steps\":%d,\"refills_gradients\":%@}",
                   name, parameterCount, paramsPerSecond, bytesPerSecond / 1e9, bytesPerParameter,
                   medianStepSeconds * 1e3, minimumStepSeconds * 1e3, steps, refillsGradients ? "true" : "false")
        }
    }

    /// Steps `name` (default settings) on `parameterCount` parameters for about `seconds` (at least 5 steps)
    /// after two warm-up steps, timing each `step` call alone.
    public static func run(name: String, parameterCount: Int, seconds: Double) throws -> Result {
        precondition(parameterCount > 0 && seconds > 0)
        let columns = min(1024, parameterCount)
        let rows = parameterCount / columns
        var specs = [ParameterSpec(name: "weight", shape: [rows, columns], role: .weight)]
        if parameterCount > rows * columns {
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
        var times: [Double] = []
        // Chains that leave the gradient buffer untouched (the fused AdamW kernel) step on the same
        // gradient every time, as PyTorch's benchmark does; the others get a fresh copy before each
        // step (untimed), as the trainer hands over a filled buffer.
        var refillsGradients = true
        let start = DispatchTime.now().uptimeNanoseconds
        while true {
            if refillsGradients { gradients.copy(from: noise) }
            let before = DispatchTime.now().uptimeNanoseconds
            optimizer.step(parameters: parameters, gradients: gradients,
                           context: StepContext(step: step, learningRate: 1e-4, loss: 1))
            let after = DispatchTime.now().uptimeNanoseconds
            if step == 1 { refillsGradients = memcmp(gradients.baseAddress, noise.baseAddress, 4 * noise.count) != 0 }
            if step > 2 { times.append(Double(after - before) * 1e-9) }
            step += 1
            if times.count >= 5 && Double(after - start) * 1e-9 >= seconds { break }
        }
        times.sort()
        let median = times.count % 2 == 1 ? times[times.count / 2]
            : (times[times.count / 2 - 1] + times[times.count / 2]) / 2
        let stateFloats = optimizer.state.reduce(0) { $0 + $1.storage.count }
        let bytesPerParameter = 12 + 8 * Double(stateFloats) / Double(layout.totalCount)
        return Result(name: name, parameterCount: layout.totalCount, steps: times.count, refillsGradients: refillsGradients,
                      medianStepSeconds: max(median, 1e-12), minimumStepSeconds: times[0],
                      bytesPerParameter: bytesPerParameter)
    }
}
