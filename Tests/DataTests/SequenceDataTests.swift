import Configuration
import Data
import XCTest

/// Samples that are not images: token sequences of shape [T] with T targets each go through the
/// batch plan, the prefetching loader and preprocessing with the same guarantees as images.
final class SequenceDataTests: XCTestCase {
    /// 40 sequences of 6 tokens (stored as floats), each with 6 next-token targets.
    func sequences(count: Int = 40, length: Int = 6, vocabulary: Int = 11) -> Dataset {
        let tokens = (0..<(count * length)).map { Float($0 * 5 % vocabulary) }
        let targets = (0..<(count * length)).map { Int32(($0 * 5 + 5) % vocabulary) }
        return Dataset(sampleShape: [length], classes: vocabulary, pixels: .floats(tokens), targets: targets,
                       targetsPerSample: length)
    }

    func testDatasetOfSequences() {
        let set = sequences()
        XCTAssertEqual(set.count, 40)
        XCTAssertEqual(set.sampleSize, 6)
        XCTAssertFalse(set.isImage)
        XCTAssertEqual(set.channels, 1)
        let part = set.subset(3..<5)
        XCTAssertEqual(part.count, 2)
        XCTAssertEqual(part.targets, Array(set.targets[18..<30]))
    }

    /// The loader hands out each sample's whole sequence and all its targets, for every rank's share.
    func testLoaderDeliversSequencesAndAllTheirTargets() throws {
        let set = sequences()
        let pre = try Preprocessing(config: DataConfig(normalization: .none), trainingSet: set)
        let plan = try BatchPlan(sampleCount: 40, globalBatch: 8, microBatch: 2, worldSize: 2, lastBatch: .drop, seed: 4)
        guard case .floats(let tokens) = set.pixels else { return XCTFail("tokens are floats") }
        for rank in 0..<2 {
            let loader = BatchLoader(dataset: set, preprocessing: pre, plan: plan, rank: rank, seed: 4, firstStep: 0,
                                     lastStep: 7)
            defer { loader.stop() }
            for step in 0..<7 {
                for expected in plan.microBatches(step: step, rank: rank) {
                    guard let batch = try loader.next() else { return XCTFail("ended early at step \(step)") }
                    XCTAssertEqual(Array(batch.indices), expected)
                    XCTAssertEqual(Array(batch.targets), expected.flatMap { set.targets[($0 * 6)..<($0 * 6 + 6)] })
                    // No normalization: the token values arrive as stored.
                    XCTAssertEqual(Array(batch.inputs), expected.flatMap { tokens[($0 * 6)..<($0 * 6 + 6)] })
                }
            }
            XCTAssertNil(try loader.next())
        }
    }

    /// Augmentation needs images; asking for it on sequences names the key and the shape.
    func testAugmentingSequencesIsRefused() {
        var config = DataConfig(normalization: .none)
        config.augmentation = Augmentation(cropPadding: 0, flip: true)
        XCTAssertThrowsError(try Preprocessing(config: config, trainingSet: sequences())) { error in
            XCTAssertTrue("\(error)".contains("data.augment") && "\(error)".contains("[6]"), "\(error)")
        }
    }
}
