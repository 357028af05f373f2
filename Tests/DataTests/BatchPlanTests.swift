import Data
import XCTest

final class BatchPlanTests: XCTestCase {
    /// Concatenating every rank's micro-batches in block order (q = j·R + r) gives the step's global batch.
    func assertSplitsExactly(_ plan: BatchPlan, step: Int, file: StaticString = #filePath, line: UInt = #line) {
        let perRank = (0..<plan.worldSize).map { plan.microBatches(step: step, rank: $0) }
        var concatenated: [Int] = []
        for j in 0..<plan.microSteps {
            for r in 0..<plan.worldSize {
                XCTAssertEqual(perRank[r].count, plan.microSteps, file: file, line: line)
                XCTAssertLessThanOrEqual(perRank[r][j].count, plan.microBatch, file: file, line: line)
                concatenated += perRank[r][j]
            }
        }
        XCTAssertEqual(concatenated, plan.globalBatch(step: step), "step \(step)", file: file, line: line)
    }

    func testUnionOverRanksIsTheSingleProcessBatch() throws {
        let n = 103, micro = 3
        for policy in LastBatchPolicy.allCases {
            for ranks in [1, 2, 3, 4] {
                for k in [1, 2, 4] {
                    let global = ranks * k * micro
                    let plan = try BatchPlan(sampleCount: n, globalBatch: global, microBatch: micro, worldSize: ranks,
                                             lastBatch: policy, seed: 42)
                    let single = try BatchPlan(sampleCount: n, globalBatch: global, microBatch: global, worldSize: 1,
                                               lastBatch: policy, seed: 42)
                    XCTAssertEqual(plan.microSteps, k)
                    XCTAssertEqual(plan.stepsPerEpoch, policy == .drop ? n / global : (n + global - 1) / global)
                    for epoch in 0..<2 {
                        var seen: [Int] = []
                        for s in 0..<plan.stepsPerEpoch {
                            let step = plan.firstStep(ofEpoch: epoch) + s
                            XCTAssertEqual(plan.epoch(ofStep: step), epoch)
                            XCTAssertEqual(plan.globalBatch(step: step), single.globalBatch(step: step),
                                           "R=\(ranks) k=\(k) step \(step): plan depends on the rank count")
                            assertSplitsExactly(plan, step: step)
                            seen += plan.globalBatch(step: step)
                        }
                        XCTAssertEqual(Set(seen).count, seen.count, "a sample repeats within epoch \(epoch)")
                        let expected = policy == .drop ? n - n % global : n
                        XCTAssertEqual(seen.count, expected, "R=\(ranks) k=\(k) \(policy)")
                        XCTAssertTrue(seen.allSatisfy { (0..<n).contains($0) })
                    }
                }
            }
        }
    }

    func testShortLastBatchGivesEveryRankAllMicroSteps() throws {
        // 50 samples, G = 24 on 4 ranks × 2 micro-steps × 3: the third step has 2 samples for 8 blocks.
        let plan = try BatchPlan(sampleCount: 50, globalBatch: 24, microBatch: 3, worldSize: 4, lastBatch: .keep, seed: 7)
        XCTAssertEqual(plan.stepsPerEpoch, 3)
        XCTAssertEqual(plan.batchSize(step: 2), 2)
        XCTAssertEqual(plan.batchSize(step: 3), 24)
        let lastStep = (0..<4).map { plan.microBatches(step: 2, rank: $0) }
        XCTAssertTrue(lastStep.allSatisfy { $0.count == 2 })
        XCTAssertEqual(lastStep.map { $0.map(\.count) }, [[1, 0], [1, 0], [0, 0], [0, 0]])
        assertSplitsExactly(plan, step: 2)
        // 14 of 24: blocks of 2 and 1, spread over all ranks.
        let spread = try BatchPlan(sampleCount: 38, globalBatch: 24, microBatch: 3, worldSize: 4, lastBatch: .keep, seed: 7)
        XCTAssertEqual((0..<4).map { spread.microBatches(step: 1, rank: $0).map(\.count) }, [[2, 2], [2, 2], [2, 1], [2, 1]])
        assertSplitsExactly(spread, step: 1)
    }

    func testPlanIsAPureFunctionOfSeedAndEpoch() throws {
        let a = try BatchPlan(sampleCount: 1000, globalBatch: 64, microBatch: 16, worldSize: 2, lastBatch: .drop, seed: 1)
        let b = try BatchPlan(sampleCount: 1000, globalBatch: 64, microBatch: 8, worldSize: 4, lastBatch: .drop, seed: 1)
        let c = try BatchPlan(sampleCount: 1000, globalBatch: 64, microBatch: 16, worldSize: 2, lastBatch: .drop, seed: 2)
        // A resumed run asks for a late step first: same answer as after walking there.
        let late = a.microBatches(step: 40, rank: 1)
        _ = (0..<40).map { a.globalBatch(step: $0) }
        XCTAssertEqual(a.microBatches(step: 40, rank: 1), late)
        XCTAssertEqual(a.globalBatch(step: 40), b.globalBatch(step: 40))
        XCTAssertNotEqual(a.globalBatch(step: 40), c.globalBatch(step: 40))
        XCTAssertEqual(a.order(epoch: 3), BatchPlan.drawOrder(seed: 1, epoch: 3, count: 1000))
        XCTAssertNotEqual(a.order(epoch: 3), a.order(epoch: 4))
        XCTAssertEqual(a.order(epoch: 3).sorted(), Array(0..<1000))
    }

    /// 100 on 3 ranks × micro 8: k = ⌈100/24⌉ = 5, 15 blocks of 6 or 7 — shares 34, 33, 33.
    func testAnyGlobalBatchSplitsOverAnyRanks() throws {
        let plan = try BatchPlan(sampleCount: 1000, globalBatch: 100, microBatch: 8, worldSize: 3, lastBatch: .drop, seed: 0)
        XCTAssertEqual(plan.microSteps, 5)
        XCTAssertEqual((0..<3).map { plan.share(step: 0, rank: $0) }, [34, 33, 33])
        XCTAssertEqual(plan.microBatches(step: 0, rank: 0).map(\.count), [7, 7, 7, 7, 6])
        assertSplitsExactly(plan, step: 0)
        // 256 on 3 ranks × 32 and on 5 ranks × 32, the equivalence tests' cases.
        for ranks in [3, 5] {
            let uneven = try BatchPlan(sampleCount: 60000, globalBatch: 256, microBatch: 32, worldSize: ranks,
                                       lastBatch: .drop, seed: 7)
            assertSplitsExactly(uneven, step: 3)
            let shares = (0..<ranks).map { uneven.share(step: 3, rank: $0) }
            XCTAssertEqual(shares.reduce(0, +), 256)
            XCTAssertLessThanOrEqual(shares.max()! - shares.min()!, 1, "\(shares)")
        }
    }

    /// For every small case: blocks fit the micro-batch and hold whole chunks (the last one of a batch
    /// may be short), and the ranks' shares differ by at most one chunk (counted in chunks). A
    /// micro-batch smaller than a chunk makes micro-steps of one chunk.
    func testSharesDifferByAtMostOneUnit() throws {
        for chunk in [1, 2, 3, 4] {
            for micro in Array(1..<chunk) + Array(stride(from: chunk, through: 4 * chunk, by: chunk)) {
                for ranks in 1...5 {
                    for global in ranks * chunk...(3 * ranks * micro + 5) {
                        let plan = try BatchPlan(sampleCount: 2 * global + 7, globalBatch: global, microBatch: micro,
                                                 worldSize: ranks, lastBatch: .keep, seed: 1, chunk: chunk)
                        XCTAssertEqual(plan.microBatch, max(micro, chunk))
                        for step in 0..<plan.stepsPerEpoch {
                            assertSplitsExactly(plan, step: step)
                            var shares: [Int] = []
                            for rank in 0..<ranks {
                                var units = 0
                                for j in 0..<plan.microSteps {
                                    let range = plan.positions(step: step, rank: rank, microStep: j)
                                    XCTAssertLessThanOrEqual(range.count, max(micro, chunk))
                                    XCTAssertTrue(range.isEmpty || range.lowerBound % chunk == 0,
                                                  "chunk \(chunk): block starts at \(range.lowerBound)")
                                    XCTAssertTrue(range.count % chunk == 0 || range.upperBound == plan.batchSize(step: step),
                                                  "chunk \(chunk): a block of \(range.count) inside the batch")
                                    units += (range.count + chunk - 1) / chunk
                                }
                                shares.append(units)
                            }
                            XCTAssertLessThanOrEqual(shares.max()! - shares.min()!, 1,
                                                     "G \(global) R \(ranks) b \(micro) c \(chunk): \(shares) chunks")
                        }
                    }
                }
            }
        }
    }

    /// The reproducible tests' decompositions of 256 with chunks of 64: micro-batches of 16 or 32 become
    /// one chunk each, so 4 ranks × 16 and 2 ranks × 32 hold the same chunks as one process.
    func testChunksLargerThanTheMicroBatchMakeMicroStepsOfOneChunk() throws {
        let whole = try BatchPlan(sampleCount: 1000, globalBatch: 256, microBatch: 256, worldSize: 1, lastBatch: .drop,
                                  seed: 3, chunk: 64)
        for (ranks, micro, k) in [(4, 16, 1), (2, 32, 2), (1, 32, 4), (3, 32, 2)] {
            let plan = try BatchPlan(sampleCount: 1000, globalBatch: 256, microBatch: micro, worldSize: ranks,
                                     lastBatch: .drop, seed: 3, chunk: 64)
            XCTAssertEqual(plan.microBatch, 64)
            XCTAssertEqual(plan.microSteps, k, "\(ranks) × \(micro)")
            assertSplitsExactly(plan, step: 5)
            let blocks = (0..<k).flatMap { j in (0..<ranks).map { plan.positions(step: 5, rank: $0, microStep: j) } }
            XCTAssertTrue(blocks.allSatisfy { $0.isEmpty || ($0.count == 64 && $0.lowerBound % 64 == 0) }, "\(blocks)")
            XCTAssertEqual(plan.globalBatch(step: 5), whole.globalBatch(step: 5))
        }
    }

    func testImpossibleSplitsAreRefused() {
        XCTAssertThrowsError(try BatchPlan(sampleCount: 1000, globalBatch: 3, microBatch: 8, worldSize: 4,
                                           lastBatch: .drop, seed: 0)) { error in
            XCTAssertEqual(error as? BatchPlanError, .fewerUnitsThanRanks(globalBatch: 3, chunk: 1, worldSize: 4))
            XCTAssertTrue("\(error)".contains("global batch 3 is smaller than the 4 ranks"), "\(error)")
        }
        XCTAssertThrowsError(try BatchPlan(sampleCount: 1000, globalBatch: 64, microBatch: 16, worldSize: 5,
                                           lastBatch: .drop, seed: 0, chunk: 16)) { error in
            XCTAssertTrue("\(error)".contains("4 chunks of 16, fewer than the 5 ranks"), "\(error)")
            XCTAssertTrue("\(error)".contains("use distributed.chunk 12 or less"), "\(error)")
        }
        XCTAssertThrowsError(try BatchPlan(sampleCount: 1000, globalBatch: 64, microBatch: 24, worldSize: 1,
                                           lastBatch: .drop, seed: 0, chunk: 16)) { error in
            XCTAssertEqual(error as? BatchPlanError, .microBatchNotMultipleOfChunk(microBatch: 24, chunk: 16))
            XCTAssertTrue("\(error)".contains("use batch.micro 16 or 32"), "\(error)")
        }
        XCTAssertThrowsError(try BatchPlan(sampleCount: 10, globalBatch: 16, microBatch: 8, worldSize: 2,
                                           lastBatch: .drop, seed: 0)) {
            XCTAssertEqual($0 as? BatchPlanError, .noFullBatch(sampleCount: 10, globalBatch: 16))
        }
        XCTAssertThrowsError(try BatchPlan(sampleCount: 10, globalBatch: 0, microBatch: 8, worldSize: 2,
                                           lastBatch: .drop, seed: 0)) {
            XCTAssertEqual($0 as? BatchPlanError, .notPositive(name: "global batch", value: 0))
        }
    }

    func testEvaluationShardsCoverTheSetOnce() {
        for count in [0, 1, 7, 10000] {
            for ranks in 1...5 {
                let shards = (0..<ranks).map { EvaluationShard.range(count: count, rank: $0, worldSize: ranks) }
                XCTAssertEqual(shards.first?.lowerBound, 0)
                XCTAssertEqual(shards.last?.upperBound, count)
                for (a, b) in zip(shards, shards.dropFirst()) { XCTAssertEqual(a.upperBound, b.lowerBound) }
                XCTAssertLessThanOrEqual((shards.map(\.count).max() ?? 0) - (shards.map(\.count).min() ?? 0), 1)
            }
        }
        XCTAssertEqual(EvaluationShard.range(count: 10000, rank: 1, worldSize: 3), 3333..<6666)
    }
}
