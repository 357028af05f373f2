import Data
import XCTest

final class BatchLoaderTests: XCTestCase {
    func testDeliversThePlanWithCorrectPixelsAndLabels() throws {
        let set = patternDataset(count: 50)
        let pre = Preprocessing(sampleShape: set.sampleShape, mean: [0.5], std: [0.25],
                                augmentation: Augmentation(cropPadding: 1, flip: true))
        let plan = try BatchPlan(sampleCount: 50, globalBatch: 12, microBatch: 2, worldSize: 3, lastBatch: .keep, seed: 3)
        XCTAssertEqual(plan.stepsPerEpoch, 5)
        var union: [Int: [Int]] = [:]
        for rank in 0..<3 {
            let loader = BatchLoader(dataset: set, preprocessing: pre, plan: plan, rank: rank, seed: 3, firstStep: 2, lastStep: 11)
            for step in 2..<11 {
                for (j, expected) in plan.microBatches(step: step, rank: rank).enumerated() {
                    guard let batch = try loader.next() else { return XCTFail("ended early at step \(step)") }
                    XCTAssertEqual(batch.step, step)
                    XCTAssertEqual(batch.microStep, j)
                    XCTAssertEqual(batch.epoch, step / 5)
                    XCTAssertEqual(batch.isLastMicroStep, j == 1)
                    XCTAssertEqual(batch.globalBatchSize, plan.batchSize(step: step))
                    XCTAssertEqual(batch.count, expected.count)
                    XCTAssertEqual(Array(batch.indices), expected)
                    XCTAssertEqual(Array(batch.targets), expected.map { set.targets[$0] })
                    var reference = [Float](repeating: .nan, count: expected.count * set.sampleSize)
                    reference.withUnsafeMutableBufferPointer {
                        pre.fill(from: set, indices: expected, seed: 3, epoch: step / 5, into: $0)
                    }
                    XCTAssertEqual(Array(batch.inputs), reference)
                    union[step, default: []] += expected
                }
            }
            XCTAssertNil(try loader.next())
            XCTAssertNil(try loader.next())
            loader.stop()
        }
        for step in 2..<11 { XCTAssertEqual(union[step]?.sorted(), plan.globalBatch(step: step).sorted()) }
    }

    /// Sample s of epoch e gets the same input whether 1 rank or 4 ranks × 2 micro-steps process it.
    func testPixelsDoNotDependOnRankCount() throws {
        let set = patternDataset(count: 64)
        let pre = Preprocessing(sampleShape: set.sampleShape, augmentation: Augmentation(cropPadding: 2, flip: true))
        func inputs(ranks: Int, micro: Int) throws -> [Int: [Float]] {
            let plan = try BatchPlan(sampleCount: 64, globalBatch: 16, microBatch: micro, worldSize: ranks, lastBatch: .drop, seed: 11)
            var bySample: [Int: [Float]] = [:]
            for rank in 0..<ranks {
                let loader = BatchLoader(dataset: set, preprocessing: pre, plan: plan, rank: rank, seed: 11, firstStep: 3, lastStep: 6)
                while let batch = try loader.next() {
                    for (i, sample) in batch.indices.enumerated() {
                        let key = batch.epoch * 1000 + sample
                        XCTAssertNil(bySample[key])
                        bySample[key] = Array(batch.inputs[(i * 60)..<(i * 60 + 60)])
                    }
                }
            }
            return bySample
        }
        let single = try inputs(ranks: 1, micro: 16)
        XCTAssertEqual(single.count, 48)
        XCTAssertEqual(try inputs(ranks: 4, micro: 2), single)
        XCTAssertEqual(try inputs(ranks: 2, micro: 4), single)
    }

    func testStoppingEarlyDoesNotHang() throws {
        let set = patternDataset(count: 200)
        let pre = Preprocessing(sampleShape: set.sampleShape)
        let plan = try BatchPlan(sampleCount: 200, globalBatch: 8, microBatch: 4, worldSize: 1, lastBatch: .drop, seed: 1)
        let loader = BatchLoader(dataset: set, preprocessing: pre, plan: plan, rank: 0, seed: 1, firstStep: 0, lastStep: 100_000)
        for _ in 0..<3 { XCTAssertNotNil(try loader.next()) }
        loader.stop()
        XCTAssertNil(try loader.next())
        loader.stop()
        // Dropped without stop(), or before taking anything: deinit stops and joins the thread.
        for taken in [0, 1, 5] {
            let other = BatchLoader(dataset: set, preprocessing: pre, plan: plan, rank: 0, seed: 1, firstStep: 7, lastStep: 100_000)
            for _ in 0..<taken { _ = try other.next() }
        }
        let empty = BatchLoader(dataset: set, preprocessing: pre, plan: plan, rank: 0, seed: 1, firstStep: 4, lastStep: 4)
        XCTAssertNil(try empty.next())
    }

    func testSurfacesErrorsAfterTheGoodMicroBatches() throws {
        let set = patternDataset(count: 50)
        let pre = Preprocessing(sampleShape: set.sampleShape)
        // The plan believes in 60 samples: some step names an index the data set lacks.
        let plan = try BatchPlan(sampleCount: 60, globalBatch: 10, microBatch: 5, worldSize: 1, lastBatch: .drop, seed: 2)
        let loader = BatchLoader(dataset: set, preprocessing: pre, plan: plan, rank: 0, seed: 2, firstStep: 0, lastStep: 6)
        var delivered = 0
        do {
            while let batch = try loader.next() {
                XCTAssertTrue(batch.indices.allSatisfy { $0 < 50 })
                delivered += 1
            }
            XCTFail("expected an error")
        } catch let error as BatchLoaderError {
            guard case .sampleOutOfRange(let index, 50, let step) = error else { return XCTFail("\(error)") }
            XCTAssertGreaterThanOrEqual(index, 50)
            XCTAssertEqual(delivered, step * 2 + (plan.microBatches(step: step, rank: 0)[0].contains { $0 >= 50 } ? 0 : 1))
            XCTAssertTrue(error.description.contains("\(index)"))
        }
    }

    func testLoadsRealFashionMNISTBatches() throws {
        let config = DataConfig(normalization: .fixed(mean: [0.2860], std: [0.3530]))
        let train = try DatasetLoader.load(config, split: .train)
        let pre = try Preprocessing(config: config, trainingSet: train)
        let plan = try BatchPlan(sampleCount: train.count, globalBatch: 256, microBatch: 64, worldSize: 2, lastBatch: .drop, seed: 5)
        XCTAssertEqual(plan.stepsPerEpoch, 234)
        let loader = BatchLoader(dataset: train, preprocessing: pre, plan: plan, rank: 1, seed: 5, firstStep: 233, lastStep: 235)
        var steps: [Int] = []
        while let batch = try loader.next() {
            XCTAssertEqual(batch.count, 64)
            XCTAssertEqual(batch.inputs.count, 64 * 784)
            let low = (0 - 0.2860) / Float(0.3530), high = (1 - 0.2860) / Float(0.3530)
            XCTAssertTrue(batch.inputs.allSatisfy { $0 >= low - 1e-5 && $0 <= high + 1e-5 })
            steps.append(batch.step)
        }
        XCTAssertEqual(steps, [233, 233, 234, 234])
    }
}
