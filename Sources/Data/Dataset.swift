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

    public var count: Int {
        switch self {
        case .bytes(let values): values.count
        case .floats(let values): values.count
        }
    }

    /// The pixel at flat position `index`, on the [0, 1] scale the model sees before normalization.
    public func scaledValue(at index: Int) -> Float {
        switch self {
        case .bytes(let values): Float(values[index]) * (1 / 255)
        case .floats(let values): values[index]
        }
    }
}

/// An in-memory image classification set: samples of shape [C, H, W] stored back to back.
public struct Dataset: Sendable {
    /// [channels, height, width] of one sample.
    public let sampleShape: [Int]
    public let classes: Int
    public let pixels: Pixels
    public let labels: [Int32]

    public var count: Int { labels.count }
    public var sampleSize: Int { sampleShape.reduce(1, *) }
    public var channels: Int { sampleShape[0] }
    public var height: Int { sampleShape[1] }
    public var width: Int { sampleShape[2] }

    public init(sampleShape: [Int], classes: Int, pixels: Pixels, labels: [Int32]) {
        precondition(sampleShape.count == 3 && sampleShape.allSatisfy { $0 > 0 }, "sample shape \(sampleShape) is not [C, H, W]")
        precondition(classes > 0, "classes \(classes) must be positive")
        precondition(pixels.count == labels.count * sampleShape.reduce(1, *),
                     "\(pixels.count) pixels do not make \(labels.count) samples of \(sampleShape)")
        self.sampleShape = sampleShape
        self.classes = classes
        self.pixels = pixels
        self.labels = labels
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
        }
        return Dataset(sampleShape: sampleShape, classes: classes, pixels: part, labels: Array(labels[range]))
    }
}
