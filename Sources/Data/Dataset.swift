/// Which part of a data set to load.
public enum Split: String, Sendable, CaseIterable {
    case train, test
}

/// Pixel storage of a data set: bytes as the files hold them (scaled by 1/255 when a batch is
/// assembled) or floats from a `<f4` `.npy` file (taken as they are). Keeping bytes halves nothing
/// and quarters memory: Fashion-MNIST's training images are 47 MB as bytes, 188 MB as floats.
public enum Pixels: Sendable, Equatable {
    case bytes([UInt8])
    case floats([Float])
    /// Token ids, handed to the model as they are (exact as Floats up to 2²⁴).
    case tokens([UInt16])

    public var count: Int {
        switch self {
        case .bytes(let values): values.count
        case .floats(let values): values.count
        case .tokens(let values): values.count
        }
    }

    /// The pixel at flat position `index`, on the [0, 1] scale the model sees before normalization.
    public func scaledValue(at index: Int) -> Float {
        switch self {
        case .bytes(let values): Float(values[index]) * (1 / 255)
        case .floats(let values): values[index]
        case .tokens(let values): Float(values[index])
        }
    }
}

/// An in-memory data set: samples of any shape (images `[C, H, W]`, token sequences `[T]`, …)
/// stored back to back, each with `targetsPerSample` integer targets (one class label, or T next
/// tokens), each target in `0..<classes`.
public struct Dataset: Sendable {
    /// The shape of one sample.
    public let sampleShape: [Int]
    /// Categories of each target (classes, or the vocabulary's size).
    public let classes: Int
    public let pixels: Pixels
    /// `targetsPerSample` targets for each sample, sample after sample.
    public let targets: [Int32]
    public let targetsPerSample: Int

    public var count: Int { targets.count / targetsPerSample }
    public var sampleSize: Int { sampleShape.reduce(1, *) }
    /// Whether samples are images `[C, H, W]`, which augmentation needs.
    public var isImage: Bool { sampleShape.count == 3 }
    /// Channels that normalization treats separately: C of an image, one for any other sample.
    public var channels: Int { isImage ? sampleShape[0] : 1 }
    public var height: Int {
        precondition(isImage, "samples \(sampleShape) are not images")
        return sampleShape[1]
    }
    public var width: Int {
        precondition(isImage, "samples \(sampleShape) are not images")
        return sampleShape[2]
    }

    public init(sampleShape: [Int], classes: Int, pixels: Pixels, targets: [Int32], targetsPerSample: Int = 1) {
        precondition(!sampleShape.isEmpty && sampleShape.allSatisfy { $0 > 0 }, "sample shape \(sampleShape) has an empty axis")
        precondition(classes > 0, "classes \(classes) must be positive")
        precondition(targetsPerSample > 0 && targets.count % targetsPerSample == 0,
                     "\(targets.count) targets are not \(targetsPerSample) per sample")
        precondition(pixels.count == targets.count / targetsPerSample * sampleShape.reduce(1, *),
                     "\(pixels.count) values do not make \(targets.count / targetsPerSample) samples of \(sampleShape)")
        self.sampleShape = sampleShape
        self.classes = classes
        self.pixels = pixels
        self.targets = targets
        self.targetsPerSample = targetsPerSample
    }

    /// The samples in `range` as a data set of their own (indices renumbered from 0).
    public func subset(_ range: Range<Int>) -> Dataset {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "subset \(range) outside 0..<\(count)")
        let size = sampleSize
        let pixelRange = range.lowerBound * size ..< range.upperBound * size
        let part: Pixels
        switch pixels {
        case .bytes(let values): part = .bytes(Array(values[pixelRange]))
        case .floats(let values): part = .floats(Array(values[pixelRange]))
        case .tokens(let values): part = .tokens(Array(values[pixelRange]))
        }
        let t = targetsPerSample
        return Dataset(sampleShape: sampleShape, classes: classes, pixels: part,
                       targets: Array(targets[(range.lowerBound * t)..<(range.upperBound * t)]), targetsPerSample: t)
    }
}
