import Tensors

/// Output size of a pooling window sweep, checked to be positive.
func pooledShape(_ label: String, _ inputShape: [Int], kernel: Int, stride: Int) throws(ModelError) -> [Int] {
    guard inputShape.count == 3, inputShape.allSatisfy({ $0 > 0 }) else {
        throw .inputShape(layer: label, expected: "[C, H, W]", found: inputShape)
    }
    guard kernel > 0, stride > 0 else {
        throw .invalidArgument(layer: label, reason: "kernel \(kernel) and stride \(stride) must be positive")
    }
    let h = inputShape[1] < kernel ? 0 : (inputShape[1] - kernel) / stride + 1
    let w = inputShape[2] < kernel ? 0 : (inputShape[2] - kernel) / stride + 1
    let shape = [inputShape[0], h, w]
    guard h > 0, w > 0 else { throw .nonPositiveOutput(layer: label, input: inputShape, output: shape) }
    return shape
}

/// Max pooling over k×k windows (no padding); the winner of each window is remembered for backward.
public final class MaxPool2d: Layer {
    public let name: String
    public let inputShape: [Int]
    public let outputShape: [Int]
    public let kernel: Int, stride: Int
    /// Each window's winner: its input index within the plane, or for 2×2 windows its place in the window.
    private let winners = IndexWorkspace()

    public init(name: String, inputShape: [Int], kernel: Int = 2, stride: Int? = nil) throws(ModelError) {
        self.name = name
        self.inputShape = inputShape
        self.kernel = kernel
        self.stride = stride ?? kernel
        outputShape = try pooledShape("\(name) (MaxPool2d)", inputShape, kernel: kernel, stride: stride ?? kernel)
    }

    public func reserve(batch: Int) { winners.reserve(batch * outputCount) }

    public func forward(_ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, batch: Int,
                        context: PassContext) {
        let (height, width) = (inputShape[1], inputShape[2])
        let (outHeight, outWidth) = (outputShape[1], outputShape[2])
        let inPlane = height * width, outPlane = outHeight * outWidth
        let winners = winners.pointer
        if kernel == 2 && stride == 2 {
            forwardTwoByTwo(input, output, winners, planes: batch * inputShape[0])
            return
        }
        for plane in 0..<(batch * inputShape[0]) {
            let source = input + plane * inPlane
            let destination = output + plane * outPlane
            let chosen = winners + plane * outPlane
            for oh in 0..<outHeight {
                for ow in 0..<outWidth {
                    let top = oh * stride, left = ow * stride
                    var best = source[top * width + left]
                    var where_ = top * width + left
                    for i in 0..<kernel {
                        for j in 0..<kernel {
                            let index = (top + i) * width + left + j
                            if source[index] > best { best = source[index]; where_ = index }
                        }
                    }
                    destination[oh * outWidth + ow] = best
                    chosen[oh * outWidth + ow] = Int32(where_)
                }
            }
        }
    }

    /// The common 2×2, stride-2 window without the general loops (the shipped CNN's pooling),
    /// planes split over the threads. The winner is kept as its place in the window (0 and 1 on
    /// the top row, 2 and 3 below) rather than as an input index: small constants keep the loop free
    /// of overflow checks, so it vectorizes (10× faster than with indices).
    private func forwardTwoByTwo(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>,
                                 _ winners: UnsafeMutablePointer<Int32>, planes: Int) {
        let (height, width) = (inputShape[1], inputShape[2])
        let (outHeight, outWidth) = (outputShape[1], outputShape[2])
        let inPlane = height * width, outPlane = outHeight * outWidth
        Parallel.forEachRange(planes, work: planes * inPlane) { range in
            for plane in range {
                let source = input + plane * inPlane
                let destination = output + plane * outPlane
                let chosen = winners + plane * outPlane
                for oh in 0..<outHeight {
                    let top = source + 2 * oh * width, bottom = top + width
                    let row = destination + oh * outWidth, rowChosen = chosen + oh * outWidth
                    for ow in 0..<outWidth {
                        let a = top[2 * ow], b = top[2 * ow + 1], c = bottom[2 * ow], d = bottom[2 * ow + 1]
                        let upper = b > a ? b : a, lower = d > c ? d : c
                        let lowerWins = lower > upper
                        row[ow] = lowerWins ? lower : upper
                        rowChosen[ow] = lowerWins ? (d > c ? 3 : 2) : (b > a ? 1 : 0)
                    }
                }
            }
        }
    }

    /// Backward of the 2×2, stride-2 window: the windows tile the input, so each one is written
    /// whole (gradient at its winner, zeros elsewhere) with no clearing pass; only a last odd row
    /// or column outside every window is cleared.
    private func backwardTwoByTwo(_ outputGradient: UnsafePointer<Float>, _ inputGradient: UnsafeMutablePointer<Float>,
                                  _ winners: UnsafePointer<Int32>, planes: Int) {
        let (height, width) = (inputShape[1], inputShape[2])
        let (outHeight, outWidth) = (outputShape[1], outputShape[2])
        let inPlane = height * width, outPlane = outHeight * outWidth
        Parallel.forEachRange(planes, work: planes * inPlane) { range in
            for plane in range {
                let destination = inputGradient + plane * inPlane
                let source = outputGradient + plane * outPlane
                let chosen = winners + plane * outPlane
                for oh in 0..<outHeight {
                    let top = destination + 2 * oh * width, bottom = top + width
                    let row = source + oh * outWidth, rowChosen = chosen + oh * outWidth
                    for ow in 0..<outWidth {
                        let g = row[ow], at = rowChosen[ow]
                        top[2 * ow] = at == 0 ? g : 0
                        top[2 * ow + 1] = at == 1 ? g : 0
                        bottom[2 * ow] = at == 2 ? g : 0
                        bottom[2 * ow + 1] = at == 3 ? g : 0
                    }
                    if width > 2 * outWidth {
                        top[width - 1] = 0
                        bottom[width - 1] = 0
                    }
                }
                for i in (2 * outHeight * width)..<inPlane { destination[i] = 0 }
            }
        }
    }

    public func backward(input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                         inputGradient: UnsafeMutablePointer<Float>?, batch: Int, context: PassContext) {
        guard let inputGradient else { return }
        let winners = winners.pointer
        if kernel == 2 && stride == 2 {
            backwardTwoByTwo(outputGradient, inputGradient, winners, planes: batch * inputShape[0])
            return
        }
        inputGradient.update(repeating: 0, count: batch * inputCount)
        let inPlane = inputShape[1] * inputShape[2], outPlane = outputShape[1] * outputShape[2]
        for plane in 0..<(batch * inputShape[0]) {
            let destination = inputGradient + plane * inPlane
            let source = outputGradient + plane * outPlane
            let chosen = winners + plane * outPlane
            for o in 0..<outPlane { destination[Int(chosen[o])] += source[o] }
        }
    }

    public func flops(inputGradient: Bool) -> (forward: Double, backward: Double) {
        (Double(outputCount * kernel * kernel), inputGradient ? Double(outputCount) : 0)
    }
}

/// Average pooling over k×k windows (no padding).
public final class AvgPool2d: Layer {
    public let name: String
    public let inputShape: [Int]
    public let outputShape: [Int]
    public let kernel: Int, stride: Int

    public init(name: String, inputShape: [Int], kernel: Int = 2, stride: Int? = nil) throws(ModelError) {
        self.name = name
        self.inputShape = inputShape
        self.kernel = kernel
        self.stride = stride ?? kernel
        outputShape = try pooledShape("\(name) (AvgPool2d)", inputShape, kernel: kernel, stride: stride ?? kernel)
    }

    public func forward(_ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, batch: Int,
                        context: PassContext) {
        let (height, width) = (inputShape[1], inputShape[2])
        let (outHeight, outWidth) = (outputShape[1], outputShape[2])
        let inPlane = height * width, outPlane = outHeight * outWidth
        let scale = 1 / Float(kernel * kernel)
        for plane in 0..<(batch * inputShape[0]) {
            let source = input + plane * inPlane
            let destination = output + plane * outPlane
            for oh in 0..<outHeight {
                for ow in 0..<outWidth {
                    let top = oh * stride, left = ow * stride
                    var sum: Float = 0
                    for i in 0..<kernel {
                        for j in 0..<kernel { sum += source[(top + i) * width + left + j] }
                    }
                    destination[oh * outWidth + ow] = sum * scale
                }
            }
        }
    }

    public func backward(input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                         inputGradient: UnsafeMutablePointer<Float>?, batch: Int, context: PassContext) {
        guard let inputGradient else { return }
        inputGradient.update(repeating: 0, count: batch * inputCount)
        let (height, width) = (inputShape[1], inputShape[2])
        let (outHeight, outWidth) = (outputShape[1], outputShape[2])
        let inPlane = height * width, outPlane = outHeight * outWidth
        let scale = 1 / Float(kernel * kernel)
        for plane in 0..<(batch * inputShape[0]) {
            let destination = inputGradient + plane * inPlane
            let source = outputGradient + plane * outPlane
            for oh in 0..<outHeight {
                for ow in 0..<outWidth {
                    let top = oh * stride, left = ow * stride
                    let g = source[oh * outWidth + ow] * scale
                    for i in 0..<kernel {
                        for j in 0..<kernel { destination[(top + i) * width + left + j] += g }
                    }
                }
            }
        }
    }

    public func flops(inputGradient: Bool) -> (forward: Double, backward: Double) {
        (Double(outputCount * kernel * kernel), inputGradient ? Double(outputCount * kernel * kernel) : 0)
    }
}

/// Averages each channel over all positions: `[C, H, W]` → `[C]`.
public final class GlobalAvgPool: Layer {
    public let name: String
    public let inputShape: [Int]
    public let outputShape: [Int]

    public init(name: String, inputShape: [Int]) throws(ModelError) {
        guard inputShape.count == 3, inputShape.allSatisfy({ $0 > 0 }) else {
            throw .inputShape(layer: "\(name) (GlobalAvgPool)", expected: "[C, H, W]", found: inputShape)
        }
        self.name = name
        self.inputShape = inputShape
        outputShape = [inputShape[0]]
    }

    public func forward(_ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, batch: Int,
                        context: PassContext) {
        let plane = inputShape[1] * inputShape[2]
        let scale = 1 / Float(plane)
        for p in 0..<(batch * inputShape[0]) {
            let source = input + p * plane
            var sum: Float = 0
            for i in 0..<plane { sum += source[i] }
            output[p] = sum * scale
        }
    }

    public func backward(input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                         inputGradient: UnsafeMutablePointer<Float>?, batch: Int, context: PassContext) {
        guard let inputGradient else { return }
        let plane = inputShape[1] * inputShape[2]
        let scale = 1 / Float(plane)
        for p in 0..<(batch * inputShape[0]) {
            (inputGradient + p * plane).update(repeating: outputGradient[p] * scale, count: plane)
        }
    }

    public func flops(inputGradient: Bool) -> (forward: Double, backward: Double) {
        (Double(inputCount), inputGradient ? Double(inputCount) : 0)
    }
}
