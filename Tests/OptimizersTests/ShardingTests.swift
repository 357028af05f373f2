import Configuration
import Foundation
import Optimizers
import Tensors
import XCTest

/// The pieces of the sharded optimizer that need no MPI: where the shards are cut, how their state
/// makes up the unsharded one, and that statistics of the whole model are summed over the shards.
/// `ShardedOptimizerTests` trains every catalogue optimizer sharded under real mpirun.
final class ShardingTests: XCTestCase {
    /// A matrix, a bias, a norm gain and a 3-D tensor: rows of several widths.
    let layout = ParameterLayout([
        ParameterSpec(name: "a.weight", shape: [10, 7], role: .weight),
        ParameterSpec(name: "a.bias", shape: [10], role: .bias),
        ParameterSpec(name: "norm.weight", shape: [10], role: .scale),
        ParameterSpec(name: "b.weight", shape: [3, 4, 5], role: .weight),
    ])

    func testRowCutsAreNearEqualAndBetweenRows() {
        for shards in 1...6 {
            let plan = ShardPlan(layout: layout, shards: shards, requirement: .rows)
            XCTAssertEqual(plan.ranges.count, shards)
            XCTAssertEqual(plan.ranges.first?.lowerBound, 0)
            XCTAssertEqual(plan.ranges.last?.upperBound, layout.totalCount)
            for (a, b) in zip(plan.ranges, plan.ranges.dropFirst()) { XCTAssertEqual(a.upperBound, b.lowerBound) }
            // No shard exceeds an equal share by a whole row (the widest is 20 elements).
            for range in plan.ranges {
                XCTAssertLessThan(Double(range.count), Double(layout.totalCount) / Double(shards) + 20, "\(shards) shards: \(plan.ranges)")
            }
            var rebuilt: [String: Int] = [:]
            for index in 0..<shards {
                let part = plan.layout(ofShard: index, in: layout)
                XCTAssertTrue(part.isPart)
                XCTAssertEqual(part.totalCount, plan.ranges[index].count)
                for slot in part.slots {
                    let whole = layout.slot(named: slot.name)!
                    XCTAssertEqual(slot.role, whole.role)
                    XCTAssertEqual(Array(slot.shape.dropFirst()), Array(whole.shape.dropFirst()), "\(slot.name) cut inside a row")
                    rebuilt[slot.name, default: 0] += slot.count
                }
            }
            XCTAssertEqual(rebuilt, Dictionary(uniqueKeysWithValues: layout.slots.map { ($0.name, $0.count) }))
        }
    }

    /// However many shards, whole tensors of [70, 10, 10, 60] never make a shard larger than needed:
    /// the 70-element tensor alone.
    func testTensorCutsKeepTheLargestShardSmall() {
        let plan = ShardPlan(layout: layout, shards: 4, requirement: .tensors)
        XCTAssertEqual(plan.ranges.map(\.count).max(), 70, "\(plan.ranges)")
        XCTAssertEqual(plan.ranges.map(\.count).reduce(0, +), layout.totalCount)
    }

    func testTensorCutsKeepTensorsWholeAndHonourTheAlignment() {
        let offsets = Set(layout.slots.map(\.offset) + [layout.totalCount])
        for shards in 1...6 {
            let plan = ShardPlan(layout: layout, shards: shards, requirement: .tensors)
            for range in plan.ranges { XCTAssertTrue(offsets.contains(range.lowerBound) && offsets.contains(range.upperBound)) }
            for index in 0..<shards {
                for slot in plan.layout(ofShard: index, in: layout).slots {
                    XCTAssertEqual(slot.shape, layout.slot(named: slot.name)!.shape)
                }
            }
        }
        // Whole tensors of 70, 10, 10 and 60: on 2 shards the largest holds 80 (70 | 80 or 80 | 70, not
        // 90 | 60); on 3, 70 (70 | 20 | 60).
        XCTAssertEqual(ShardPlan(layout: layout, shards: 2, requirement: .tensors).ranges.map(\.count).max(), 80)
        XCTAssertEqual(ShardPlan(layout: layout, shards: 3, requirement: .tensors).ranges.map(\.count), [70, 20, 60])
        // Offsets 0, 70, 80, 90: with an alignment of 10 all are allowed; of 20, only 0 and 80.
        let aligned = ShardPlan(layout: layout, shards: 4, requirement: ShardRequirement(.tensors, alignment: 20))
        XCTAssertTrue(aligned.ranges.allSatisfy { $0.lowerBound % 20 == 0 })
        XCTAssertEqual(Set(aligned.ranges.map(\.lowerBound)), [0, 80])
    }

    func testRequirementsCombineToTheCoarsest() {
        let combined = ShardRequirement.rows.combined(with: ShardRequirement(.tensors, alignment: 32))
            .combined(with: ShardRequirement(.rows, alignment: 12))
        XCTAssertEqual(combined, ShardRequirement(.tensors, alignment: 96))
        let adamw = try! makeOptimizer([("name", .string("adamw"))], layout: layout)
        XCTAssertEqual(adamw.shardRequirement, .rows)
        let adafactor = try! makeOptimizer([("name", .string("adafactor"))], layout: layout)
        XCTAssertEqual(adafactor.shardRequirement, .tensors)
        // LAMB sums its per-tensor norms over the shards, except inside parameter groups.
        let lamb = try! makeOptimizer([("name", .string("lamb"))], layout: layout)
        XCTAssertEqual(lamb.shardRequirement, .rows)
        let grouped = try! makeOptimizer([("name", .string("lamb")),
                                          ("groups", .list([.map(ConfigMap([("params", .string("role:bias"))]))]))], layout: layout)
        XCTAssertEqual(grouped.shardRequirement, .tensors)
        let smmf = try! makeOptimizer([("name", .string("smmf"))], layout: layout)
        XCTAssertEqual(smmf.shardRequirement.alignment, 32)
    }

    func testStateIsTheShardsSideBySideAlongTheLastAxis() throws {
        let whole = [3, 10]
        let values = (0..<30).map(Float.init)
        let lengths = try XCTUnwrap(try ShardedState.lengths(whole: whole, shards: [[3, 4], nil, [3, 6]]))
        XCTAssertEqual(lengths, [4, 0, 6])
        var parts: [[Float]] = []
        for shard in 0..<3 {
            var part = [Float](repeating: -1, count: 3 * lengths[shard])
            values.withUnsafeBufferPointer { all in
                part.withUnsafeMutableBufferPointer { ShardedState.slice(all, whole: whole, lengths: lengths, shard: shard, into: $0.baseAddress!) }
            }
            parts.append(part)
        }
        XCTAssertEqual(parts[0], [0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23])
        let assembled = parts[0].withUnsafeBufferPointer { p0 in
            parts[1].withUnsafeBufferPointer { p1 in
                parts[2].withUnsafeBufferPointer { p2 in ShardedState.assemble(whole: whole, lengths: lengths, parts: [p0, p1, p2]) }
            }
        }
        XCTAssertEqual(assembled, values)
        XCTAssertNil(try ShardedState.lengths(whole: [1], shards: [[1], [1]]), "a scalar every shard holds")
        XCTAssertThrowsError(try ShardedState.lengths(whole: [3, 10], shards: [[3, 4], [2, 6]]))
        XCTAssertThrowsError(try ShardedState.lengths(whole: [10], shards: [[4], [5]]))
    }

    // MARK: Whole-model statistics

    /// Sums each call's values over `shards` threads, in shard order, as the all-reduce does over ranks.
    final class ThreadedSum: @unchecked Sendable {
        let shards: Int
        private let condition = NSCondition()
        private var parts: [[Double]]
        private var totals: [Double] = []
        private var arrived = 0, generation = 0

        init(shards: Int) {
            self.shards = shards
            parts = Array(repeating: [], count: shards)
        }

        func statistics(shard: Int) -> ShardStatistics {
            ShardStatistics { [self] values in
                condition.lock()
                defer { condition.unlock() }
                parts[shard] = Array(values)
                arrived += 1
                let round = generation
                if arrived == shards {
                    totals = parts.dropFirst().reduce(parts[0]) { zip($0, $1).map(+) }
                    arrived = 0
                    generation += 1
                    condition.broadcast()
                } else {
                    while generation == round { condition.wait() }
                }
                _ = values.update(fromContentsOf: totals)
            }
        }
    }

    /// One shard's optimizer and parameters, stepped on a thread of its own.
    final class ShardRun: @unchecked Sendable {
        let optimizer: any Optimizer
        let range: Range<Int>
        let parameters: FloatBuffer
        init(optimizer: any Optimizer, range: Range<Int>, start: [Float]) {
            self.optimizer = optimizer
            self.range = range
            parameters = FloatBuffer(Array(start[range]))
        }
    }

    /// Five steps of `tree`'s optimizer unsharded, and on `shards` shards stepping on threads of
    /// their own; returns the largest |a − b| / (1 + |b|) over the parameters.
    func shardedDeviation(_ tree: ConfigValue, shards: Int, summed: Bool) throws -> Double {
        let total = layout.totalCount
        let steps: [[Float]] = (1...5).map { step in
            let random = KeyedRandom(11, UInt64(step))
            return (0..<total).map { random.uniform($0) * 2 - 1 }
        }
        let start = (0..<total).map { Float(KeyedRandom(5, 0).uniform($0)) - 0.5 }
        let whole = try OptimizerCatalog.make(section: ConfigSection(tree, path: "optimizer"), layout: layout)
        let parameters = FloatBuffer(start), gradients = FloatBuffer(count: total)
        for (index, values) in steps.enumerated() {
            _ = gradients.pointer.update(fromContentsOf: values)
            whole.step(parameters: parameters, gradients: gradients, context: StepContext(step: index + 1, learningRate: 0.05, loss: 1))
        }
        let sum = ThreadedSum(shards: shards)
        let done = DispatchGroup()
        var runs: [ShardRun] = []
        for index in 0..<shards {
            let built = try OptimizerCatalog.makeShard(tree, layout: layout, shards: shards, index: index)
            let run = ShardRun(optimizer: built.shard, range: built.plan.ranges[index], start: start)
            runs.append(run)
            let statistics = summed ? sum.statistics(shard: index) : .unsharded
            done.enter()
            Thread {
                let g = FloatBuffer(count: run.range.count)
                for (step, values) in steps.enumerated() {
                    _ = g.pointer.update(fromContentsOf: values[run.range])
                    run.optimizer.step(parameters: run.parameters, gradients: g,
                                       context: StepContext(step: step + 1, learningRate: 0.05, loss: 1, statistics: statistics))
                }
                done.leave()
            }.start()
        }
        done.wait()
        let sharded = runs.flatMap(\.parameters.array)
        XCTAssertEqual(sharded.count, total)
        return zip(sharded, parameters.array).map { Double(abs($0 - $1)) / (1 + Double(abs($1))) }.max() ?? 0
    }

    func testGlobalStatisticsAreSummedOverTheShards() throws {
        for transform in ["{name: clip_norm, max_norm: 0.5}", "{name: cautious}", "{name: swd, weight_decay: 0.5}"] {
            let tree = try ConfigValue.parse(yaml: "name: adamw\nlr: 0.05\ntransforms: [\(transform)]\n", source: "test")
            XCTAssertLessThanOrEqual(try shardedDeviation(tree, shards: 3, summed: true), 1e-6, transform)
            // Shards that saw only their own statistics: far off, so the sums are what makes it exact.
            XCTAssertGreaterThan(try shardedDeviation(tree, shards: 3, summed: false), 1e-4, transform)
        }
    }

    /// Per-tensor norms of a tensor cut between shards are summed over them: within rounding of the
    /// unsharded run, and far from it when each shard used its own rows only.
    func testPerTensorStatisticsAreSummedOverCutTensors() throws {
        for yaml in ["name: lamb\nweight_decay: 0.01\n", "name: nsgda\n",
                     "name: sgd\nlr: 0.1\ntransforms: [{name: trust_ratio}]\n",
                     "name: adamw\ntransforms: [{name: normalize}]\n"] {
            let tree = try ConfigValue.parse(yaml: yaml, source: "test")
            let optimizer = try OptimizerCatalog.make(section: ConfigSection(tree, path: "optimizer"), layout: layout)
            XCTAssertEqual(optimizer.shardRequirement.granularity, .rows, yaml)
            XCTAssertTrue(ShardPlan(layout: layout, shards: 3, requirement: optimizer.shardRequirement)
                .layout(ofShard: 0, in: layout).part?.cutsTensors == true, "the plan cuts a tensor")
            XCTAssertLessThanOrEqual(try shardedDeviation(tree, shards: 3, summed: true), 1e-6, yaml)
            XCTAssertGreaterThan(try shardedDeviation(tree, shards: 3, summed: false), 1e-4, yaml)
        }
    }

    func testPerTensorStatisticsStayExactOnWholeTensors() throws {
        for name in ["adafactor", "sm3", "smmf", "muon", "adanorm", "amos"] {
            let tree = try ConfigValue.parse(yaml: "name: \(name)\n", source: "test")
            XCTAssertEqual(try shardedDeviation(tree, shards: 3, summed: true), 0, name)
        }
    }
}
