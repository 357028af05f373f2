import Tensors

/// 2-D convolution over NCHW samples by im2col and one GEMM per chunk of samples.
///
/// Weight `[outC, inC, kh, kw]` (output axis 0), bias `[outC]`. A chunk of samples is unfolded
/// into a `[inC·kh·kw, chunk·OH·OW]` column matrix so one GEMM covers all of them: per-sample
/// products are too small for OpenBLAS's fast kernels. When the whole batch's columns fit
/// `columnBudget` they are unfolded once and kept for backward; otherwise the batch goes in chunks
/// and backward unfolds each chunk again, so memory stays bounded whatever the batch.
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
    /// The input and batch whose columns the last forward left in `columns`, if it covered the batch.
    private var unfolded: (input: UnsafePointer<Float>, batch: Int)?

    /// Column-matrix budget in floats (64 MiB); tests shrink it to exercise several chunks.
    var columnBudget = 1 << 24
    /// Column-gradient budget in floats (4 MiB): the input gradient is folded in pieces this size,
    /// each still in cache from the product that wrote it.
    var columnGradientBudget = 1 << 20
    /// Forward unfolds and multiplies pieces of this many column floats (4 MiB) even when the whole
    /// batch's columns are kept, so each piece is still in cache when its product reads it.
    var forwardPieceBudget = 1 << 20

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
    func gradientChunkSize(batch: Int) -> Int { max(1, min(batch, columnGradientBudget / (patch * outPlane))) }

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
        columnGradient.reserve(patch * gradientChunkSize(batch: chunk) * outPlane)
        product.reserve(outChannels * outPlane * max(1, min(chunk, forwardPieceBudget / (patch * outPlane))))
    }

    public func forward(_ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, batch: Int,
                        context: PassContext) {
        let weight = weight.bound(name), bias = bias.bound(name)
        let chunk = chunkSize(batch: batch), plane = outPlane, k = outChannels, sampleCount = outputCount
        let piece = max(1, min(chunk, forwardPieceBudget / (patch * plane)))
        var start = 0
        while start < batch {
            let n = min(chunk, batch - start)
            let columnCount = n * plane
            var s0 = 0
            while s0 < n {
                let m = min(piece, n - s0), pieceColumns = m * plane
                let pieceStart = columns.pointer + s0 * plane
                unfold(input + (start + s0) * inputCount, samples: m, into: pieceStart, rowStride: columnCount)
                BLAS.gemm(m: k, n: pieceColumns, k: patch, a: weight.value, b: pieceStart, ldb: columnCount,
                          c: product.pointer)
                // [K, m, OH·OW] → [m, K, OH·OW] with the bias added.
                let product = product.pointer, target = output + (start + s0) * sampleCount
                Parallel.forEachRange(m * k, work: m * sampleCount) { items in
                    for item in items {
                        let (s, channel) = item.quotientAndRemainder(dividingBy: k)
                        let source = product + channel * pieceColumns + s * plane
                        let destination = target + s * sampleCount + channel * plane
                        let b = bias.value[channel]
                        for p in 0..<plane { destination[p] = source[p] + b }
                    }
                }
                s0 += m
            }
            start += n
        }
        unfolded = chunk == batch ? (input, batch) : nil
    }

    /// Most columns one weight-gradient product sums over; longer sums fall off OpenBLAS's fast path.
    static let weightGradientSlice = 2048

    public func backward(input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                         inputGradient: UnsafeMutablePointer<Float>?, batch: Int, context: PassContext) {
        let weight = weight.bound(name), bias = bias.bound(name)
        let chunk = chunkSize(batch: batch), plane = outPlane, k = outChannels, sampleCount = outputCount
        let reuse = unfolded.map { $0.input == input && $0.batch == batch } ?? false
        var start = 0
        while start < batch {
            let n = min(chunk, batch - start)
            let columnCount = n * plane
            let upstream = outputGradient + start * sampleCount
            if !reuse { unfold(input + start * inputCount, samples: n, into: columns.pointer) }
            guard let inputGradient else {
                // Only dW is needed (the first layer): one product per sample straight from dY's
                // [K, OH·OW] planes skips regathering dY.
                Parallel.forEachRange(k, work: n * sampleCount) { channels in
                    for channel in channels {
                        var sum: Float = 0
                        for s in 0..<n {
                            let source = upstream + s * sampleCount + channel * plane
                            for p in 0..<plane { sum += source[p] }
                        }
                        bias.gradient[channel] += sum
                    }
                }
                for s in 0..<n {
                    BLAS.gemm(transposeB: true, m: k, n: patch, k: plane, a: upstream + s * sampleCount,
                              b: columns.pointer + s * plane, ldb: columnCount, beta: 1, c: weight.gradient)
                }
                start += n
                continue
            }
            // dY as [K, n·OH·OW], and the bias gradient on the way (each worker owns whole channels).
            let gathered = product.pointer
            Parallel.forEachRange(k, work: n * sampleCount) { channels in
                for channel in channels {
                    var sum: Float = 0
                    for s in 0..<n {
                        let source = upstream + s * sampleCount + channel * plane
                        let destination = gathered + channel * columnCount + s * plane
                        for p in 0..<plane {
                            destination[p] = source[p]
                            sum += source[p]
                        }
                    }
                    bias.gradient[channel] += sum
                }
            }
            // dW += dY·colsᵀ, in slices of the summed axis.
            var first = 0
            while first < columnCount {
                let width = min(Self.weightGradientSlice, columnCount - first)
                BLAS.gemm(transposeB: true, m: k, n: patch, k: width, a: gathered + first, lda: columnCount,
                          b: columns.pointer + first, ldb: columnCount, beta: 1, c: weight.gradient)
                first += width
            }
            // dcols = Wᵀ·dY, folded back onto the input positions, a few samples at a time.
            let piece = gradientChunkSize(batch: n)
            var s0 = 0
            while s0 < n {
                let m = min(piece, n - s0)
                BLAS.gemm(transposeA: true, m: patch, n: m * plane, k: k, a: weight.value,
                          b: gathered + s0 * plane, ldb: columnCount, c: columnGradient.pointer)
                fold(columnGradient.pointer, samples: m, into: inputGradient + (start + s0) * inputCount)
                s0 += m
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
    ///
    /// Work items are (row, sample) pairs, split over the threads.
    /// `rowStride` (default `samples·OH·OW`) lets a piece of samples land inside a wider column matrix.
    func unfold(_ input: UnsafePointer<Float>, samples: Int, into columns: UnsafeMutablePointer<Float>,
                rowStride: Int? = nil) {
        let plane = outPlane, columnCount = rowStride ?? samples * plane, inPlane = height * width
        let (outHeight, outWidth, height, width) = (outHeight, outWidth, height, width)
        let (stride, padding, kernelHeight, kernelWidth) = (stride, padding, kernelHeight, kernelWidth)
        let inputCount = inputCount
        // Stride 1 with rows as wide as the input's: each (row, sample) is one shifted copy of the
        // input plane, with the columns that fell into the padding cleared afterwards.
        let planeShift = stride == 1 && outWidth == width
        Parallel.forEachRange(patch * samples, work: patch * samples * plane) { items in
            for item in items {
                let (row, s) = item.quotientAndRemainder(dividingBy: samples)
                let (c, tap) = row.quotientAndRemainder(dividingBy: kernelHeight * kernelWidth)
                let (ki, kj) = tap.quotientAndRemainder(dividingBy: kernelWidth)
                let (lo, hi) = validRange(kj)
                let source = input + s * inputCount + c * inPlane
                let destination = columns + row * columnCount + s * plane
                if planeShift {
                    let dy = ki - padding, offset = dy * width + kj - padding
                    let firstRow = min(max(0, -dy), outHeight), endRow = max(firstRow, min(outHeight, height - dy))
                    let a = firstRow * width, b = endRow * width
                    let copyStart = min(max(a, -offset), b), copyEnd = max(copyStart, min(b, inPlane - offset))
                    for j in 0..<copyStart { destination[j] = 0 }
                    for j in copyStart..<copyEnd { destination[j] = source[j + offset] }
                    for j in copyEnd..<plane { destination[j] = 0 }
                    if lo > 0 || hi < outWidth {
                        for oh in firstRow..<endRow {
                            let line = destination + oh * outWidth
                            for ow in 0..<lo { line[ow] = 0 }
                            for ow in hi..<outWidth { line[ow] = 0 }
                        }
                    }
                    continue
                }
                for oh in 0..<outHeight {
                    let ih = oh * stride - padding + ki
                    let line = destination + oh * outWidth
                    if ih < 0 || ih >= height {
                        for ow in 0..<outWidth { line[ow] = 0 }
                        continue
                    }
                    let sourceRow = source + ih * width
                    if stride == 1 {
                        let shifted = sourceRow + (kj - padding)
                        for ow in 0..<lo { line[ow] = 0 }
                        for ow in lo..<hi { line[ow] = shifted[ow] }
                        for ow in hi..<outWidth { line[ow] = 0 }
                    } else {
                        for ow in 0..<outWidth {
                            let iw = ow * stride - padding + kj
                            line[ow] = iw >= 0 && iw < width ? sourceRow[iw] : 0
                        }
                    }
                }
            }
        }
    }

    /// col2im: each input plane is cleared and then gets every column entry copied from it added
    /// back, so the target needs no clearing beforehand and each plane stays in cache while it is summed.
    ///
    /// Work items are (channel, sample) planes, which no two items share.
    func fold(_ columns: UnsafePointer<Float>, samples: Int, into target: UnsafeMutablePointer<Float>) {
        let plane = outPlane, columnCount = samples * plane, inPlane = height * width
        let (outHeight, outWidth, height, width) = (outHeight, outWidth, height, width)
        let (stride, padding, kernelHeight, kernelWidth) = (stride, padding, kernelHeight, kernelWidth)
        let inputCount = inputCount
        Parallel.forEachRange(inChannels * samples, work: patch * columnCount) { items in
            for item in items {
                let (c, s) = item.quotientAndRemainder(dividingBy: samples)
                let destination = target + s * inputCount + c * inPlane
                for i in 0..<inPlane { destination[i] = 0 }
                for ki in 0..<kernelHeight {
                    for kj in 0..<kernelWidth {
                        let row = (c * kernelHeight + ki) * kernelWidth + kj
                        let sampleColumns = columns + row * columnCount + s * plane
                        let (lo, hi) = validRange(kj)
                        for oh in 0..<outHeight {
                            let ih = oh * stride - padding + ki
                            if ih < 0 || ih >= height { continue }
                            let source = sampleColumns + oh * outWidth
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
    }

    public func flops(inputGradient: Bool) -> (forward: Double, backward: Double) {
        let product = 2 * Double(outChannels * patch * outPlane)
        return (product + Double(outputCount), product * (inputGradient ? 2 : 1) + Double(outputCount))
    }
}
