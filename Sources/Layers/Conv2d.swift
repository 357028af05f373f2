import Tensors

/// 2-D convolution over NCHW samples by im2col and one GEMM per chunk of samples.
///
/// Weight `[outC, inC, kh, kw]` (output axis 0), bias `[outC]`. A chunk of samples is unfolded
/// into a `[inC·kh·kw, chunk·OH·OW]` column matrix so one GEMM covers all of them; the chunk is
/// as large as fits a fixed workspace budget, which keeps the matrix in cache and the product
/// large enough for OpenBLAS's good kernels. Columns are unfolded again in backward rather than
/// kept, trading a cheap copy for memory.
public final class Conv2d: Layer {
    public let name: String
    public let inputShape: [Int]
    public let outputShape: [Int]
    public let inChannels: Int, height: Int, width: Int
    public let outChannels: Int, kernelHeight: Int, kernelWidth: Int
    public let stride: Int, padding: Int
    public let outHeight: Int, outWidth: Int
    private var weight: BoundParameter?
    private var bias: BoundParameter?
    private let columns = Workspace()
    private let product = Workspace()
    private let columnGradient = Workspace()

    /// Column-matrix budget in floats (4 MiB); tests shrink it to exercise several chunks.
    var columnBudget = 1 << 20

    public init(name: String, inputShape: [Int], outChannels: Int, kernelSize: Int, stride: Int = 1,
                padding: Int = 0) throws(ModelError) {
        let label = "\(name) (Conv2d)"
        guard inputShape.count == 3, inputShape.allSatisfy({ $0 > 0 }) else {
            throw .inputShape(layer: label, expected: "[C, H, W]", found: inputShape)
        }
        guard outChannels > 0, kernelSize > 0, stride > 0, padding >= 0 else {
            throw .invalidArgument(layer: label, reason: "channels \(outChannels), kernel \(kernelSize), stride \(stride) "
                                   + "must be positive and padding \(padding) non-negative")
        }
        self.name = name
        self.inputShape = inputShape
        (inChannels, height, width) = (inputShape[0], inputShape[1], inputShape[2])
        self.outChannels = outChannels
        (kernelHeight, kernelWidth) = (kernelSize, kernelSize)
        self.stride = stride
        self.padding = padding
        let oh = (height + 2 * padding - kernelSize) / stride + 1
        let ow = (width + 2 * padding - kernelSize) / stride + 1
        let paddedTooSmall = height + 2 * padding < kernelSize || width + 2 * padding < kernelSize
        let shape = [outChannels, paddedTooSmall ? 0 : oh, paddedTooSmall ? 0 : ow]
        guard !paddedTooSmall, oh > 0, ow > 0 else {
            throw .nonPositiveOutput(layer: label, input: inputShape, output: shape)
        }
        outputShape = shape
        (outHeight, outWidth) = (oh, ow)
    }

    /// Rows of the column matrix: one per weight of an output channel.
    var patch: Int { inChannels * kernelHeight * kernelWidth }
    var outPlane: Int { outHeight * outWidth }

    func chunkSize(batch: Int) -> Int { max(1, min(batch, columnBudget / (patch * outPlane))) }

    public var parameterSpecs: [ParameterSpec] {
        [ParameterSpec(name: "\(name).weight", shape: [outChannels, inChannels, kernelHeight, kernelWidth],
                       role: .weight, outputAxis: 0),
         ParameterSpec(name: "\(name).bias", shape: [outChannels], role: .bias, outputAxis: 0)]
    }

    public func bind(_ store: ParameterStore) {
        weight = BoundParameter(store, "\(name).weight")
        bias = BoundParameter(store, "\(name).bias")
    }

    public func reserve(batch: Int) {
        let chunk = chunkSize(batch: batch)
        columns.reserve(patch * chunk * outPlane)
        product.reserve(outChannels * chunk * outPlane)
        columnGradient.reserve(patch * chunk * outPlane)
    }

    public func forward(_ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, batch: Int,
                        context: PassContext) {
        let weight = weight.bound(name), bias = bias.bound(name)
        let chunk = chunkSize(batch: batch), plane = outPlane, k = outChannels
        var start = 0
        while start < batch {
            let n = min(chunk, batch - start)
            let columnCount = n * plane
            unfold(input + start * inputCount, samples: n, into: columns.pointer)
            BLAS.gemm(m: k, n: columnCount, k: patch, a: weight.value, b: columns.pointer, c: product.pointer)
            // [K, n, OH·OW] → [n, K, OH·OW] with the bias added.
            let product = product.pointer
            for s in 0..<n {
                let sample = output + (start + s) * outputCount
                for channel in 0..<k {
                    let source = product + channel * columnCount + s * plane
                    let destination = sample + channel * plane
                    let b = bias.value[channel]
                    for p in 0..<plane { destination[p] = source[p] + b }
                }
            }
            start += n
        }
    }

    public func backward(input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                         inputGradient: UnsafeMutablePointer<Float>?, batch: Int, context: PassContext) {
        let weight = weight.bound(name), bias = bias.bound(name)
        let chunk = chunkSize(batch: batch), plane = outPlane, k = outChannels
        var start = 0
        while start < batch {
            let n = min(chunk, batch - start)
            let columnCount = n * plane
            // dY as [K, n·OH·OW], and the bias gradient on the way.
            let gathered = product.pointer
            for s in 0..<n {
                let sample = outputGradient + (start + s) * outputCount
                for channel in 0..<k {
                    let source = sample + channel * plane
                    let destination = gathered + channel * columnCount + s * plane
                    var sum: Float = 0
                    for p in 0..<plane {
                        destination[p] = source[p]
                        sum += source[p]
                    }
                    bias.gradient[channel] += sum
                }
            }
            unfold(input + start * inputCount, samples: n, into: columns.pointer)
            // dW += dY·colsᵀ
            BLAS.gemm(transposeB: true, m: k, n: patch, k: columnCount, a: gathered, b: columns.pointer,
                      beta: 1, c: weight.gradient)
            if let inputGradient {
                // dcols = Wᵀ·dY, folded back onto the input positions.
                BLAS.gemm(transposeA: true, m: patch, n: columnCount, k: k, a: weight.value, b: gathered,
                          c: columnGradient.pointer)
                let target = inputGradient + start * inputCount
                target.update(repeating: 0, count: n * inputCount)
                fold(columnGradient.pointer, samples: n, into: target)
            }
            start += n
        }
    }

    /// The valid output columns `lo..<hi` of a stride-1 row for kernel column `kj`.
    @inline(__always) private func validRange(_ kj: Int) -> (Int, Int) {
        let lo = min(max(0, padding - kj), outWidth)
        let hi = max(lo, min(outWidth, width + padding - kj))
        return (lo, hi)
    }

    /// im2col: `columns[(c·kh + i)·kw + j][s·OH·OW + oh·OW + ow] = x[s][c][oh·stride − pad + i][ow·stride − pad + j]`.
    func unfold(_ input: UnsafePointer<Float>, samples: Int, into columns: UnsafeMutablePointer<Float>) {
        let plane = outPlane, columnCount = samples * plane, inPlane = height * width
        for c in 0..<inChannels {
            for ki in 0..<kernelHeight {
                for kj in 0..<kernelWidth {
                    let row = columns + ((c * kernelHeight + ki) * kernelWidth + kj) * columnCount
                    let (lo, hi) = validRange(kj)
                    for s in 0..<samples {
                        let source = input + s * inputCount + c * inPlane
                        for oh in 0..<outHeight {
                            let ih = oh * stride - padding + ki
                            let destination = row + s * plane + oh * outWidth
                            if ih < 0 || ih >= height {
                                destination.update(repeating: 0, count: outWidth)
                                continue
                            }
                            let sourceRow = source + ih * width
                            if stride == 1 {
                                for ow in 0..<lo { destination[ow] = 0 }
                                if hi > lo {
                                    destination.advanced(by: lo).update(from: sourceRow + (lo - padding + kj), count: hi - lo)
                                }
                                for ow in hi..<outWidth { destination[ow] = 0 }
                            } else {
                                for ow in 0..<outWidth {
                                    let iw = ow * stride - padding + kj
                                    destination[ow] = iw >= 0 && iw < width ? sourceRow[iw] : 0
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// col2im: adds every column entry back onto the input position it was copied from.
    func fold(_ columns: UnsafePointer<Float>, samples: Int, into target: UnsafeMutablePointer<Float>) {
        let plane = outPlane, columnCount = samples * plane, inPlane = height * width
        for c in 0..<inChannels {
            for ki in 0..<kernelHeight {
                for kj in 0..<kernelWidth {
                    let row = columns + ((c * kernelHeight + ki) * kernelWidth + kj) * columnCount
                    let (lo, hi) = validRange(kj)
                    for s in 0..<samples {
                        let destination = target + s * inputCount + c * inPlane
                        for oh in 0..<outHeight {
                            let ih = oh * stride - padding + ki
                            if ih < 0 || ih >= height { continue }
                            let source = row + s * plane + oh * outWidth
                            let destinationRow = destination + ih * width
                            if stride == 1 {
                                let shift = kj - padding
                                for ow in lo..<hi { destinationRow[ow + shift] += source[ow] }
                            } else {
                                for ow in 0..<outWidth {
                                    let iw = ow * stride - padding + kj
                                    if iw >= 0 && iw < width { destinationRow[iw] += source[ow] }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    public func flops(inputGradient: Bool) -> (forward: Double, backward: Double) {
        let product = 2 * Double(outChannels * patch * outPlane)
        return (product + Double(outputCount), product * (inputGradient ? 2 : 1) + Double(outputCount))
    }
}
