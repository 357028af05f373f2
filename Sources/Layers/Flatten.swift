/// Reshapes `[C, H, W]` (or any shape) to `[C·H·W]`; the data is already in that order.
public final class Flatten: Layer {
    public let name: String
    public let inputShape: [Int]
    public let outputShape: [Int]

    public init(name: String, inputShape: [Int]) {
        self.name = name
        self.inputShape = inputShape
        self.outputShape = [inputShape.reduce(1, *)]
    }

    public func forward(_ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, batch: Int,
                        context: PassContext) {
        output.update(from: input, count: batch * inputCount)
    }

    public func backward(input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                         inputGradient: UnsafeMutablePointer<Float>?, batch: Int, context: PassContext) {
        inputGradient?.update(from: outputGradient, count: batch * inputCount)
    }

    public func flops(inputGradient: Bool) -> (forward: Double, backward: Double) { (0, 0) }
}
