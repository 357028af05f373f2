import Configuration
import Optimizers
import Tensors
import XCTest

/// A small least-squares problem over a layout with a 2-D weight and a bias.
struct Quadratic {
    let layout = ParameterLayout([
        ParameterSpec(name: "weight", shape: [4, 6], role: .weight),
        ParameterSpec(name: "bias", shape: [4], role: .bias),
    ])
    let target: FloatBuffer

    init(seed: UInt64 = 7) {
        target = FloatBuffer(count: layout.totalCount)
        let random = KeyedRandom(seed, 1)
        for i in 0..<target.count { target[i] = random.uniform(i) * 2 - 1 }
    }

    func start(seed: UInt64 = 3) -> FloatBuffer {
        let parameters = FloatBuffer(count: layout.totalCount)
        let random = KeyedRandom(seed, 2)
        for i in 0..<parameters.count { parameters[i] = random.uniform(i) * 2 - 1 }
        return parameters
    }

    /// Fills the gradient of ½·mean((p − target)²)·count, i.e. g = p − target, and returns the mean loss.
    @discardableResult
    func gradient(_ parameters: FloatBuffer, into gradients: FloatBuffer) -> Float {
        var loss: Float = 0
        for i in 0..<parameters.count {
            let d = parameters[i] - target[i]
            gradients[i] = d
            loss += 0.5 * d * d
        }
        return loss / Float(parameters.count)
    }
}

func section(_ entries: [(String, ConfigValue)], path: String = "optimizer") -> ConfigSection {
    ConfigSection(map: ConfigMap(entries.map { (key: $0.0, value: $0.1) }), path: path)
}

func makeOptimizer(_ entries: [(String, ConfigValue)], layout: ParameterLayout) throws -> any Optimizer {
    try OptimizerCatalog.make(section: section(entries), layout: layout)
}

/// Steps `optimizer` three times on `problem`, saves its state and the parameters, steps four more,
/// restores both and repeats those four: the parameters must come out bit for bit the same. Returns
/// the saved state and whether the four steps moved the parameters at all.
@discardableResult
func assertStateRestoresBitExactly(_ optimizer: any Optimizer, on problem: Quadratic, label: String,
                                   file: StaticString = #filePath, line: UInt = #line) -> (state: [[Float]], moved: Bool) {
    let parameters = problem.start(), gradients = FloatBuffer(count: problem.layout.totalCount)
    func run(_ steps: ClosedRange<Int>) {
        for step in steps {
            let loss = problem.gradient(parameters, into: gradients)
            optimizer.step(parameters: parameters, gradients: gradients,
                           context: StepContext(step: step, learningRate: 0.01, loss: loss))
        }
    }
    run(1...3)
    let saved = optimizer.state.map { $0.storage.array }, savedParameters = parameters.array
    run(4...7)
    let first = parameters.array
    for (tensor, values) in zip(optimizer.state, saved) {
        values.withUnsafeBufferPointer { tensor.storage.baseAddress.update(from: $0.baseAddress!, count: values.count) }
    }
    for i in 0..<parameters.count { parameters[i] = savedParameters[i] }
    run(4...7)
    XCTAssertEqual(parameters.array.map(\.bitPattern), first.map(\.bitPattern), "\(label) did not restore exactly",
                   file: file, line: line)
    return (saved, first != savedParameters)
}
