import Data
import XCTest

/// A small data set whose pixels tell samples and positions apart.
func patternDataset(count: Int, shape: [Int] = [2, 5, 6], classes: Int = 10) -> Dataset {
    let size = shape.reduce(1, *)
    let pixels = (0..<(count * size)).map { UInt8(truncatingIfNeeded: ($0 * 37 + $0 / size * 11) % 251) }
    let labels = (0..<count).map { Int32($0 * 7 % classes) }
    return Dataset(sampleShape: shape, classes: classes, pixels: .bytes(pixels), targets: labels)
}

final class PreprocessingTests: XCTestCase {
    func testScalesAndNormalizesPerChannel() {
        let set = patternDataset(count: 4)
        let pre = Preprocessing(sampleShape: set.sampleShape, mean: [0.25, 0.5], std: [0.5, 2])
        var output = [Float](repeating: .nan, count: 2 * set.sampleSize)
        output.withUnsafeMutableBufferPointer { pre.fill(from: set, indices: [3, 1], into: $0) }
        guard case .bytes(let raw) = set.pixels else { return XCTFail() }
        for (position, sample) in [3, 1].enumerated() {
            for i in 0..<set.sampleSize {
                let channel = i / 30
                let expected = (Float(raw[sample * 60 + i]) / 255 - pre.mean[channel]) / pre.std[channel]
                XCTAssertEqual(output[position * 60 + i], expected, accuracy: 1e-6)
            }
        }
        var byRange = [Float](repeating: .nan, count: 2 * set.sampleSize)
        var byIndices = byRange
        byRange.withUnsafeMutableBufferPointer { pre.fill(from: set, range: 1..<3, into: $0) }
        byIndices.withUnsafeMutableBufferPointer { pre.fill(from: set, indices: [1, 2], into: $0) }
        XCTAssertEqual(byRange, byIndices)
        XCTAssertEqual(Array(byRange[0..<60]), Array(output[60..<120]))  // sample 1 in both
        let floats = Dataset(sampleShape: [1, 1, 3], classes: 2, pixels: .floats([0.5, 1, -2]), targets: [1])
        var out = [Float](repeating: 0, count: 3)
        out.withUnsafeMutableBufferPointer {
            Preprocessing(sampleShape: [1, 1, 3], mean: [0.5], std: [0.5]).fill(from: floats, indices: [0], into: $0)
        }
        XCTAssertEqual(out, [0, 1, -5])
    }

    /// Reference: pad with black, crop at the drawn offset, then mirror — written the slow, obvious way.
    func reference(_ set: Dataset, _ pre: Preprocessing, sample: Int, seed: UInt64, epoch: Int) -> [Float] {
        let (c, h, w) = (set.channels, set.height, set.width), p = pre.augmentation.cropPadding
        let draw = pre.augmentationDraw(seed: seed, epoch: epoch, sample: sample)
        var result: [Float] = []
        for channel in 0..<c {
            for y in 0..<h {
                for x in 0..<w {
                    let cx = draw.flip ? w - 1 - x : x
                    let (py, px) = (y + draw.dy, cx + draw.dx)  // position in the padded image
                    let inside = py >= p && py < h + p && px >= p && px < w + p
                    let raw = inside ? set.pixels.scaledValue(at: ((sample * c + channel) * h + py - p) * w + px - p) : 0
                    result.append((raw - pre.mean[channel]) / pre.std[channel])
                }
            }
        }
        return result
    }

    func testAugmentationMatchesReferenceAndCoversTheRange() {
        let set = patternDataset(count: 300)
        let pre = Preprocessing(sampleShape: set.sampleShape, mean: [0.3, 0.4], std: [0.2, 0.3],
                                augmentation: Augmentation(cropPadding: 2, flip: true))
        let indices = Array(0..<300)
        var output = [Float](repeating: .nan, count: 300 * set.sampleSize)
        output.withUnsafeMutableBufferPointer { pre.fill(from: set, indices: indices, seed: 9, epoch: 4, into: $0) }
        var offsets = Set<Int>(), flips = Set<Bool>()
        for sample in indices {
            let expected = reference(set, pre, sample: sample, seed: 9, epoch: 4)
            let difference = zip(output[(sample * 60)..<(sample * 60 + 60)], expected).map { abs($0 - $1) }.max() ?? .nan
            XCTAssertLessThan(difference, 1e-5, "sample \(sample)")
            let draw = pre.augmentationDraw(seed: 9, epoch: 4, sample: sample)
            offsets.insert(draw.dx)
            offsets.insert(draw.dy + 10)
            flips.insert(draw.flip)
        }
        XCTAssertEqual(offsets, [0, 1, 2, 3, 4, 10, 11, 12, 13, 14])
        XCTAssertEqual(flips, [false, true])
    }

    func testSameSeedEpochSampleGivesSamePixelsAnywhere() {
        let set = patternDataset(count: 40)
        let pre = Preprocessing(sampleShape: set.sampleShape, augmentation: Augmentation(cropPadding: 2, flip: true))
        func pixels(_ indices: [Int], epoch: Int) -> [Float] {
            var output = [Float](repeating: .nan, count: indices.count * set.sampleSize)
            output.withUnsafeMutableBufferPointer { pre.fill(from: set, indices: indices, seed: 5, epoch: epoch, into: $0) }
            return output
        }
        let alone = pixels([17], epoch: 2)
        let inBatch = pixels([3, 8, 17, 25], epoch: 2)
        XCTAssertEqual(Array(inBatch[(2 * 60)..<(3 * 60)]), alone)
        // Over 40 samples some draw must change between epochs (each has 50 crop/flip outcomes).
        XCTAssertNotEqual(pixels(Array(0..<40), epoch: 2), pixels(Array(0..<40), epoch: 3))
        // Evaluation never augments.
        var plain = [Float](repeating: .nan, count: 60)
        plain.withUnsafeMutableBufferPointer { pre.fill(from: set, indices: [17], into: $0) }
        let expected = (0..<60).map { set.pixels.scaledValue(at: 17 * 60 + $0) }
        XCTAssertLessThan(zip(plain, expected).map { abs($0 - $1) }.max() ?? .nan, 1e-6)
    }
}
