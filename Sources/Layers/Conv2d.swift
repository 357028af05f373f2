import Tensors

/// 2-D convolution over NCHW samples by im2col and one GEMM per sample.
///
/// Weight `[outC, inC, kh, kw]` (output axis 0), bias `[outC]`. Each sample is unfolded into a
/// `[inC·kh·kw, OH·OW]` column matrix small enough to stay in L2, and `W · columns` lands straight
/// in the sample's `[outC, OH·OW]` output, already in NCHW order. Backward unfolds the sample
/// again (cheaper than keeping every sample's columns, which would stream from memory) for
/// `dW += dY · columnsᵀ` and folds `Wᵀ · dY` back onto the input. The samples go one after
/// another on the calling thread: `Model` runs whole copies of the network on separate threads,
/// which beats splitting each of these small products.
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
    private let columnGradient = Workspace()
    /// All ones, one per output position: `dY · ones` sums each channel's plane for the bias gradient.
    private let ones = Workspace()

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
        // Bounded so that the output size and the column matrix below are computed without overflow.
        let limit = 1 << 30
        guard inputShape.allSatisfy({ $0 <= limit }), outChannels <= limit, kernelSize <= limit, stride <= limit,
              padding <= limit else {
            throw .invalidArgument(layer: label, reason: "input \(inputShape), channels \(outChannels), kernel "
                                   + "\(kernelSize), stride \(stride) and padding \(padding) must each be at most \(limit)")
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
        guard CheckedSize.product([inputShape[0], kernelSize, kernelSize, oh, ow, 3]) != nil else {
            throw .invalidArgument(layer: label, reason: "its column matrix (\(inputShape[0]) × \(kernelSize)² rows, "
                                   + "\(oh) × \(ow) columns) is too large to count")
        }
        outputShape = shape
        (outHeight, outWidth) = (oh, ow)
    }

    public var fixedWorkspaceCount: Int { 2 * patch * outPlane + outPlane }

    /// Rows of the column matrix: one per weight of an output channel.
    var patch: Int { inChannels * kernelHeight * kernelWidth }
    var outPlane: Int { outHeight * outWidth }
    /// A 1×1 kernel at stride 1 without padding reads the input as its own column matrix.
    var unfoldsToInput: Bool { kernelHeight == 1 && kernelWidth == 1 && stride == 1 && padding == 0 }

    public var parameterSpecs: [ParameterSpec] {
        [ParameterSpec(name: "\(name).weight", shape: [outChannels, inChannels, kernelHeight, kernelWidth],
                       role: .weight, outputAxis: 0),
         ParameterSpec(name: "\(name).bias", shape: [outChannels], role: .bias, outputAxis: 0)]
    }

    public func bind(_ store: ParameterStore) {
        weight = BoundParameter(store, "\(name).weight")
        bias = BoundParameter(store, "\(name).bias")
    }

    /// The workspaces hold one sample, whatever the batch.
    public func reserve(batch: Int) {
        columns.reserve(unfoldsToInput ? 0 : patch * outPlane)
        columnGradient.reserve(patch * outPlane)
        if ones.capacity < outPlane {
            ones.reserve(outPlane)
            ones.pointer.update(repeating: 1, count: outPlane)
        }
    }

    /// The sample's column matrix: unfolded into `columns`, or the input itself for a plain 1×1 kernel.
    private func columns(of sample: UnsafePointer<Float>) -> UnsafePointer<Float> {
        if unfoldsToInput { return sample }
        unfold(sample, into: columns.pointer)
        return UnsafePointer(columns.pointer)
    }

    public func forward(_ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, batch: Int,
                        context: PassContext) {
        let weight = weight.bound(name), bias = bias.bound(name)
        let plane = outPlane
        for s in 0..<batch {
            let sampleColumns = columns(of: input + s * inputCount)
            let y = output + s * outputCount
            for channel in 0..<outChannels { (y + channel * plane).update(repeating: bias.value[channel], count: plane) }
            BLAS.gemm(m: outChannels, n: plane, k: patch, a: weight.value, b: sampleColumns, beta: 1, c: y)
        }
    }

    public func backward(input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                         inputGradient: UnsafeMutablePointer<Float>?, batch: Int, context: PassContext) {
        let weight = weight.bound(name), bias = bias.bound(name)
        let plane = outPlane
        for s in 0..<batch {
            let dy = outputGradient + s * outputCount
            BLAS.gemv(m: outChannels, n: plane, a: dy, x: ones.pointer, beta: 1, y: bias.gradient)
            let sampleColumns = columns(of: input + s * inputCount)
            BLAS.gemm(transposeB: true, m: outChannels, n: patch, k: plane, a: dy, b: sampleColumns, beta: 1,
                      c: weight.gradient)
            guard let inputGradient else { continue }
            let dx = inputGradient + s * inputCount
            if unfoldsToInput {
                BLAS.gemm(transposeA: true, m: patch, n: plane, k: outChannels, a: weight.value, b: dy, c: dx)
            } else {
                BLAS.gemm(transposeA: true, m: patch, n: plane, k: outChannels, a: weight.value, b: dy,
                          c: columnGradient.pointer)
                fold(columnGradient.pointer, into: dx)
            }
        }
    }

    /// The valid output columns `lo..<hi` of a stride-1 row for kernel column `kj`.
    @inline(__always) private func validRange(_ kj: Int) -> (Int, Int) {
        let lo = min(max(0, padding - kj), outWidth)
        let hi = max(lo, min(outWidth, width + padding - kj))
        return (lo, hi)
    }

    /// im2col of one sample:
    /// `columns[(c·kh + i)·kw + j][oh·OW + ow] = x[c][oh·stride − pad + i][ow·stride − pad + j]`.
    func unfold(_ input: UnsafePointer<Float>, into columns: UnsafeMutablePointer<Float>) {
        let plane = outPlane, inPlane = height * width
        // Stride 1 with rows as wide as the input's: each row is one shifted copy of the input
        // plane, with the columns that fell into the padding cleared afterwards.
        let planeShift = stride == 1 && outWidth == width
        for row in 0..<patch {
            let (c, tap) = row.quotientAndRemainder(dividingBy: kernelHeight * kernelWidth)
            let (ki, kj) = tap.quotientAndRemainder(dividingBy: kernelWidth)
            let (lo, hi) = validRange(kj)
            let source = input + c * inPlane
            let destination = columns + row * plane
            if planeShift {
                let dy = ki - padding, offset = dy * width + kj - padding
                let firstRow = min(max(0, -dy), outHeight), endRow = max(firstRow, min(outHeight, height - dy))
                let a = firstRow * width, b = endRow * width
                let copyStart = min(max(a, -offset), b), copyEnd = max(copyStart, min(b, inPlane - offset))
                destination.update(repeating: 0, count: copyStart)
                (destination + copyStart).update(from: source + copyStart + offset, count: copyEnd - copyStart)
                (destination + copyEnd).update(repeating: 0, count: plane - copyEnd)
                if lo > 0 || hi < outWidth {
                    for oh in firstRow..<endRow {
                        let line = destination + oh * outWidth
                        line.update(repeating: 0, count: lo)
                        (line + hi).update(repeating: 0, count: outWidth - hi)
                    }
                }
                continue
            }
            for oh in 0..<outHeight {
                let ih = oh * stride - padding + ki
                let line = destination + oh * outWidth
                if ih < 0 || ih >= height {
                    line.update(repeating: 0, count: outWidth)
                    continue
                }
                let sourceRow = source + ih * width
                if stride == 1 {
                    line.update(repeating: 0, count: lo)
                    (line + lo).update(from: sourceRow + (kj - padding) + lo, count: hi - lo)
                    (line + hi).update(repeating: 0, count: outWidth - hi)
                } else {
                    for ow in 0..<outWidth {
                        let iw = ow * stride - padding + kj
                        line[ow] = iw >= 0 && iw < width ? sourceRow[iw] : 0
                    }
                }
            }
        }
    }

    /// col2im of one sample: each input plane is cleared and then gets every column entry copied
    /// from it added back, so the target needs no clearing beforehand. Overwrites the entries of
    /// `columns` that unfolding would have read from the padding.
    func fold(_ columns: UnsafeMutablePointer<Float>, into target: UnsafeMutablePointer<Float>) {
        let plane = outPlane, inPlane = height * width
        let planeShift = stride == 1 && outWidth == width
        for c in 0..<inChannels {
            let destination = target + c * inPlane
            destination.update(repeating: 0, count: inPlane)
            for ki in 0..<kernelHeight {
                for kj in 0..<kernelWidth {
                    let row = (c * kernelHeight + ki) * kernelWidth + kj
                    let rowColumns = columns + row * plane
                    let (lo, hi) = validRange(kj)
                    if planeShift {
                        // As in `unfold`, the row is the input plane shifted by one offset: clearing
                        // the entries that came from the padding leaves one long contiguous sum.
                        let dy = ki - padding, offset = dy * width + kj - padding
                        let firstRow = min(max(0, -dy), outHeight), endRow = max(firstRow, min(outHeight, height - dy))
                        let a = firstRow * width, b = endRow * width
                        let start = min(max(a, -offset), b), end = max(start, min(b, inPlane - offset))
                        if lo > 0 || hi < outWidth {
                            for oh in firstRow..<endRow {
                                let line = rowColumns + oh * outWidth
                                line.update(repeating: 0, count: lo)
                                (line + hi).update(repeating: 0, count: outWidth - hi)
                            }
                        }
                        let shifted = destination + offset
                        for j in start..<end { shifted[j] += rowColumns[j] }
                        continue
                    }
                    for oh in 0..<outHeight {
                        let ih = oh * stride - padding + ki
                        if ih < 0 || ih >= height { continue }
                        let source = rowColumns + oh * outWidth
                        let destinationRow = destination + ih * width
                        if stride == 1 {
                            let shifted = destinationRow + (kj - padding)
                            for ow in lo..<hi { shifted[ow] += source[ow] }
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

    public func flops(inputGradient: Bool) -> (forward: Double, backward: Double) {
        let product = 2 * Double(outChannels * patch * outPlane)
        return (product + Double(outputCount), product * (inputGradient ? 2 : 1) + Double(outputCount))
    }
}
