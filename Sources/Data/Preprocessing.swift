import Configuration
import Tensors

/// Turns stored samples into model inputs: scale (bytes to [0, 1]), normalize per channel, and (for
/// training) augment. Images `[C, H, W]` have C channels and may be augmented; a sample of any other
/// shape is one channel and is never augmented.
///
/// Augmentation draws from `KeyedRandom(seed, epoch, sample, augmentationPurpose)`, so a sample's
/// crop and flip depend only on (seed, epoch, sample) — not on the rank, micro-step or batch
/// position that processes it — which keeps any rank count and accumulation exact.
/// Padding is black (raw 0), normalized like every other pixel.
public struct Preprocessing: Sendable, Equatable {
    /// [C, H, W] for images, any shape otherwise.
    public let sampleShape: [Int]
    /// Per channel, on the [0, 1] scale.
    public let mean: [Float]
    public let std: [Float]
    public let augmentation: Augmentation

    /// The last key part of augmentation draws ("AUGM"), distinct from other users of the same seed.
    public static let augmentationPurpose: UInt64 = 0x4155_474D

    public init(sampleShape: [Int], mean: [Float]? = nil, std: [Float]? = nil, augmentation: Augmentation = Augmentation()) {
        precondition(!sampleShape.isEmpty && sampleShape.allSatisfy { $0 > 0 }, "sample shape \(sampleShape) has an empty axis")
        precondition(sampleShape.count == 3 || !augmentation.isEnabled, "samples \(sampleShape) are not images to augment")
        let channels = sampleShape.count == 3 ? sampleShape[0] : 1
        let mean = mean ?? [0], std = std ?? [1]
        precondition(mean.count == 1 || mean.count == channels, "\(mean.count) means for \(channels) channels")
        precondition(std.count == 1 || std.count == channels, "\(std.count) deviations for \(channels) channels")
        precondition(std.allSatisfy { $0 > 0 }, "standard deviations \(std) must be positive")
        self.sampleShape = sampleShape
        self.mean = mean.count == channels ? mean : Array(repeating: mean[0], count: channels)
        self.std = std.count == channels ? std : Array(repeating: std[0], count: channels)
        self.augmentation = augmentation
    }

    /// The configured preprocessing; `normalize: auto` measures the training set.
    public init(config: DataConfig, trainingSet: Dataset) throws(ConfigError) {
        let channels = trainingSet.channels
        var mean: [Double] = [0], std: [Double] = [1]
        switch config.normalization {
        case .none: break
        case .fromTrainingSet: (mean, std) = Preprocessing.channelStatistics(trainingSet)
        case .fixed(let m, let s):
            for (name, values) in [("mean", m), ("std", s)] where values.count != 1 && values.count != channels {
                throw .invalid(key: "data.normalize.\(name)",
                               reason: "has \(values.count) values but the data set has \(channels) channel(s)")
            }
            (mean, std) = (m, s)
        }
        if config.augmentation.isEnabled && !trainingSet.isImage {
            throw .invalid(key: "data.augment", reason: "needs images [C, H, W]; the samples are \(trainingSet.sampleShape)")
        }
        if config.augmentation.cropPadding > 0 && config.augmentation.cropPadding > min(trainingSet.height, trainingSet.width) {
            throw .outOfRange(key: "data.augment.crop_padding", value: "\(config.augmentation.cropPadding)",
                              allowed: "at most the image size \(min(trainingSet.height, trainingSet.width))")
        }
        self.init(sampleShape: trainingSet.sampleShape, mean: mean.map { Float($0) }, std: std.map { Float($0) },
                  augmentation: config.augmentation)
    }

    public var sampleSize: Int { sampleShape.reduce(1, *) }
    /// Channels normalized separately (C of an image, else one) and the values of each.
    var channels: Int { mean.count }
    var plane: Int { sampleSize / channels }

    /// A copy without augmentation (for evaluation).
    public var withoutAugmentation: Preprocessing {
        Preprocessing(sampleShape: sampleShape, mean: mean, std: std, augmentation: Augmentation())
    }

    /// Mean and standard deviation of each channel on the [0, 1] scale (std floored at 1e-6).
    public static func channelStatistics(_ dataset: Dataset) -> (mean: [Double], std: [Double]) {
        let channels = dataset.channels, plane = dataset.sampleSize / channels
        var sums = [Double](repeating: 0, count: channels), squares = sums
        switch dataset.pixels {
        case .bytes(let values):
            // A histogram per channel: exact and one pass of byte increments.
            var histogram = [Int](repeating: 0, count: channels * 256)
            values.withUnsafeBufferPointer { pixels in
                for sample in 0..<dataset.count {
                    for c in 0..<channels {
                        let base = (sample * channels + c) * plane
                        for i in 0..<plane { histogram[c * 256 + Int(pixels[base + i])] += 1 }
                    }
                }
            }
            for c in 0..<channels {
                for v in 0..<256 {
                    let x = Double(v) / 255, n = Double(histogram[c * 256 + v])
                    sums[c] += n * x
                    squares[c] += n * x * x
                }
            }
        case .tokens:
            // Token ids are categories, not intensities: nothing to normalize (DataConfig refuses it).
            return (Array(repeating: 0, count: channels), Array(repeating: 1, count: channels))
        case .floats(let values):
            for sample in 0..<dataset.count {
                for c in 0..<channels {
                    let base = (sample * channels + c) * plane
                    for i in 0..<plane {
                        let x = Double(values[base + i])
                        sums[c] += x
                        squares[c] += x * x
                    }
                }
            }
        }
        let n = Double(dataset.count * plane)
        let mean = sums.map { $0 / n }
        let std = zip(squares, mean).map { max(($0 / n - $1 * $1).squareRoot(), 1e-6) }
        return (mean, std)
    }

    /// Crop offsets in 0...2·padding and the flip of `sample` in `epoch`.
    public func augmentationDraw(seed: UInt64, epoch: Int, sample: Int) -> (dx: Int, dy: Int, flip: Bool) {
        guard augmentation.isEnabled else { return (augmentation.cropPadding, augmentation.cropPadding, false) }
        let random = KeyedRandom(seed, UInt64(epoch), UInt64(sample), Preprocessing.augmentationPurpose)
        let span = 2 * augmentation.cropPadding + 1
        let word = random.block(0)
        let dx = Int((UInt64(word.0) &* UInt64(span)) >> 32)
        let dy = Int((UInt64(word.1) &* UInt64(span)) >> 32)
        return (dx, dy, augmentation.flip && word.2 & 1 == 1)
    }

    /// Inputs for evaluation: no augmentation, whatever the configuration says.
    public func fill(from dataset: Dataset, indices: [Int], into output: UnsafeMutableBufferPointer<Float>) {
        precondition(output.count >= indices.count * sampleSize, "output of \(output.count) too small for \(indices.count) samples")
        indices.withUnsafeBufferPointer { fill(from: dataset, indices: $0, augmentationKey: nil, into: output.baseAddress!) }
    }

    /// Training inputs, augmented with draws keyed by (seed, epoch, sample).
    public func fill(from dataset: Dataset, indices: [Int], seed: UInt64, epoch: Int,
                     into output: UnsafeMutableBufferPointer<Float>) {
        precondition(output.count >= indices.count * sampleSize, "output of \(output.count) too small for \(indices.count) samples")
        indices.withUnsafeBufferPointer { fill(from: dataset, indices: $0, augmentationKey: (seed, epoch), into: output.baseAddress!) }
    }

    /// The targets of `indices`, `targetsPerSample` each.
    public static func fillTargets(from dataset: Dataset, indices: UnsafeBufferPointer<Int>, into output: UnsafeMutablePointer<Int32>) {
        let t = dataset.targetsPerSample
        dataset.targets.withUnsafeBufferPointer { targets in
            for (i, index) in indices.enumerated() { (output + i * t).update(from: targets.baseAddress! + index * t, count: t) }
        }
    }

    /// Evaluation inputs for the contiguous samples `range` (an `EvaluationShard` slice), without
    /// building an index array.
    public func fill(from dataset: Dataset, range: Range<Int>, into output: UnsafeMutableBufferPointer<Float>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= dataset.count, "samples \(range) outside 0..<\(dataset.count)")
        precondition(output.count >= range.count * sampleSize, "output of \(output.count) too small for \(range.count) samples")
        fill(from: dataset, samples: range, augmentationKey: nil, into: output.baseAddress!)
    }

    /// The allocation-free core: `indices.count` samples into `output`, augmented when a key is given.
    public func fill(from dataset: Dataset, indices: UnsafeBufferPointer<Int>, augmentationKey: (seed: UInt64, epoch: Int)?,
                     into output: UnsafeMutablePointer<Float>) {
        fill(from: dataset, samples: indices, augmentationKey: augmentationKey, into: output)
    }

    @inline(__always)
    private func fill<Samples: Collection<Int>>(from dataset: Dataset, samples: Samples,
                                                augmentationKey: (seed: UInt64, epoch: Int)?,
                                                into output: UnsafeMutablePointer<Float>) {
        precondition(dataset.sampleShape == sampleShape, "data set samples \(dataset.sampleShape) are not \(sampleShape)")
        switch dataset.pixels {
        case .bytes(let values):
            values.withUnsafeBufferPointer {
                fillSamples($0.baseAddress!, scale: 1 / 255, convert: { Float($0) }, samples, augmentationKey, output)
            }
        case .floats(let values):
            values.withUnsafeBufferPointer {
                fillSamples($0.baseAddress!, scale: 1, convert: { $0 }, samples, augmentationKey, output)
            }
        case .tokens(let values):
            values.withUnsafeBufferPointer {
                fillSamples($0.baseAddress!, scale: 1, convert: { Float($0) }, samples, augmentationKey, output)
            }
        }
    }

    @inline(__always)
    private func fillSamples<Element, Samples: Collection<Int>>(
        _ pixels: UnsafePointer<Element>, scale: Float, convert: (Element) -> Float, _ indices: Samples,
        _ key: (seed: UInt64, epoch: Int)?, _ output: UnsafeMutablePointer<Float>
    ) {
        let channels = channels, plane = plane, size = sampleSize
        // Only images are augmented; for other samples these are never read.
        let height = sampleShape.count == 3 ? sampleShape[1] : 1, width = sampleShape.count == 3 ? sampleShape[2] : plane
        let padding = augmentation.cropPadding
        let augmenting = key != nil && augmentation.isEnabled
        for (position, sample) in indices.enumerated() {
            let source = pixels + sample * size
            let target = output + position * size
            var dx = padding, dy = padding, flip = false
            if augmenting, let key { (dx, dy, flip) = augmentationDraw(seed: key.seed, epoch: key.epoch, sample: sample) }
            for c in 0..<channels {
                let a = scale / std[c], b = -mean[c] / std[c]
                let from = source + c * plane, to = target + c * plane
                if dx == padding && dy == padding && !flip {
                    for i in 0..<plane { to[i] = convert(from[i]) * a + b }
                    continue
                }
                // Output (y, x) reads source (y + dy - p, x' + dx - p) with x' = W-1-x when flipped.
                let shiftX = dx - padding
                let low = flip ? max(0, shiftX) : max(0, -shiftX)
                let high = flip ? min(width, width + shiftX) : min(width, width - shiftX)
                for y in 0..<height {
                    let row = to + y * width
                    let sy = y + dy - padding
                    if sy < 0 || sy >= height || low >= high {
                        for x in 0..<width { row[x] = b }
                        continue
                    }
                    let sourceRow = from + sy * width
                    for x in 0..<low { row[x] = b }
                    if flip {
                        let mirror = sourceRow + (width - 1 + shiftX)
                        for x in low..<high { row[x] = convert(mirror[-x]) * a + b }
                    } else {
                        let shifted = sourceRow + shiftX
                        for x in low..<high { row[x] = convert(shifted[x]) * a + b }
                    }
                    for x in high..<width { row[x] = b }
                }
            }
        }
    }
}
