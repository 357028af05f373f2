import Tensors

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// The pointwise nonlinearities.
///
/// GELU uses the tanh approximation 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), as in GPT-2 and
/// PyTorch's `gelu(approximate="tanh")`; it is within 1e-3 of the erf form and cheaper.
public enum Activation: String, Sendable, Equatable, CaseIterable {
    case relu, gelu, silu, tanh

    /// Whether Kaiming (He) initialization suits it; tanh takes Xavier instead.
    public var isRectifierFamily: Bool { self != .tanh }
}

/// Applies an `Activation` elementwise; the shape is unchanged.
public final class ActivationLayer: Layer {
    public let name: String
    public let inputShape: [Int]
    public var outputShape: [Int] { inputShape }
    public let activation: Activation

    public init(name: String, inputShape: [Int], activation: Activation) {
        self.name = name
        self.inputShape = inputShape
        self.activation = activation
    }


    public func forward(_ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, batch: Int,
                        context: PassContext) {
        let n = batch * inputCount
        switch activation {
        case .relu:
            Parallel.forEachRange(n, work: n) { range in Elementwise.relu(input, into: output, range: range) }
        case .gelu:
            Parallel.forEachRange(n, work: 8 * n) { range in Elementwise.gelu(input, into: output, range: range) }
        case .silu:
            for i in 0..<n {
                let x = input[i]
                output[i] = x / (1 + expf(-x))
            }
        case .tanh:
            for i in 0..<n { output[i] = tanhf(input[i]) }
        }
    }

    public func backward(input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                         inputGradient: UnsafeMutablePointer<Float>?, batch: Int, context: PassContext) {
        guard let inputGradient else { return }
        let n = batch * inputCount
        switch activation {
        case .relu:
            Parallel.forEachRange(n, work: n) { range in
                Elementwise.reluGradient(output: output, outputGradient: outputGradient, into: inputGradient,
                                         range: range)
            }
        case .gelu:
            Parallel.forEachRange(n, work: 16 * n) { range in
                Elementwise.geluGradient(input: input, outputGradient: outputGradient, into: inputGradient, range: range)
            }
        case .silu:
            for i in 0..<n {
                let x = input[i]
                let s = 1 / (1 + expf(-x))
                inputGradient[i] = outputGradient[i] * s * (1 + x * (1 - s))
            }
        case .tanh:
            for i in 0..<n {
                let y = output[i]
                inputGradient[i] = outputGradient[i] * (1 - y * y)
            }
        }
    }

    public func flops(inputGradient: Bool) -> (forward: Double, backward: Double) {
        let perElement: Double = activation == .relu ? 1 : 8
        return (perElement * Double(inputCount), inputGradient ? 2 * perElement * Double(inputCount) : 0)
    }
}
