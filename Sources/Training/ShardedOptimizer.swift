import Checkpoints
import Configuration
import Distributed
import Foundation
import Optimizers
import Tensors

/// ZeRO stage 1 (`distributed.shard_optimizer`): each rank keeps the optimizer state of one
/// contiguous range of the flat buffers and updates only those parameters; the gradient sums are
/// reduce-scattered to the ranges' owners and the updated parameters all-gathered.
///
/// Every rank builds the configured optimizer over its range (`ShardPlan`), cut only where the
/// optimizer's transforms allow (`ShardRequirement`: between rows for elementwise ones, between
/// tensors for per-tensor statistics, factored moments or orthogonalization), and statistics of the
/// whole model (a global norm) are summed over the ranks (`ShardStatistics`). So the update is the
/// unsharded one up to the order of a few float sums.
///
/// Checkpoints do not depend on the number of ranks: the state is gathered to rank 0 under the
/// unsharded optimizer's names and shapes when written, and each rank takes its slice when read.
/// A shard's state tensor is the unsharded one's slice along its last axis (moments laid out like
/// the parameters, per-tensor statistics in tensor order, each shard's rows of a history ring), or
/// the same on every rank (a scalar of the whole model).
final class ShardedOptimizer {
    let plan: ShardPlan
    /// This rank's optimizer, over the parameters of `range`.
    let shard: any Optimizer
    let range: Range<Int>
    /// The unsharded optimizer's state, names and shapes in its order: what a checkpoint holds.
    let fullState: [(name: String, shape: [Int])]
    /// For each tensor of `fullState`, every rank's length along its last axis; nil where every rank
    /// holds all of it.
    let blocks: [[Int]?]

    private let world: any Communicator
    private let store: ParameterStore
    private let parameters: FloatBuffer, gradients: FloatBuffer
    private let statistics: ShardStatistics

    /// The unsharded optimizer's state names and shapes, the plan and this rank's shard, with this
    /// shard's own tensors checked. Makes no collective call, so that an error can be agreed on.
    static func build(optimizer tree: ConfigValue, store: ParameterStore, ranks: Int, rank: Int) throws
        -> (full: [(name: String, shape: [Int])], plan: ShardPlan, shard: any Optimizer)
    {
        let built = try OptimizerCatalog.makeShard(tree, layout: store.layout, shards: ranks, index: rank)
        let whole = Dictionary(built.whole.map { ($0.name, $0.shape) }, uniquingKeysWith: { first, _ in first })
        for tensor in built.shard.state {
            guard let shape = whole[tensor.name], tensor.shape.count == shape.count, tensor.shape.dropLast() == shape.dropLast() else {
                throw TrainingError.unshardableState(optimizer: built.shard.name, tensor: tensor.name, shard: tensor.shape,
                                                     whole: whole[tensor.name] ?? [])
            }
        }
        return (built.whole, built.plan, built.shard)
    }

    /// Learns every rank's shape of each state tensor (one small reduction) and checks that they make
    /// up the unsharded tensors; every rank reaches the same verdict.
    init(built: (full: [(name: String, shape: [Int])], plan: ShardPlan, shard: any Optimizer),
         store: ParameterStore, world: any Communicator) throws {
        (fullState, plan, shard) = built
        self.world = world
        self.store = store
        range = plan.ranges[world.rank]
        parameters = FloatBuffer(viewing: store.parameters, offset: range.lowerBound, length: range.count)
        gradients = FloatBuffer(viewing: store.gradients, offset: range.lowerBound, length: range.count)
        statistics = ShardStatistics { [world] values in
            do {
                try world.allReduce(values, .sum)
            } catch {
                FileHandle.standardError.write(Data("bigbatch: rank \(world.rank): summing the optimizer's statistics over its shards failed: \(error)\n".utf8))
                world.abort(code: 1)
            }
        }

        // Per rank and tensor, 1 + its length along the last axis (0: absent); build checked the rest of the shape.
        let local = Dictionary(shard.state.map { ($0.name, $0.shape) }, uniquingKeysWith: { first, _ in first })
        let count = fullState.count, ranks = world.size
        var table = [Int64](repeating: 0, count: ranks * count)
        for (index, tensor) in fullState.enumerated() {
            if let shape = local[tensor.name] { table[world.rank * count + index] = Int64(1 + (shape.last ?? 1)) }
        }
        try table.withUnsafeMutableBufferPointer { (buffer) throws(CommunicationError) in try world.allReduce(buffer, .sum) }
        let name = shard.name
        blocks = try built.full.enumerated().map { (index, tensor) throws -> [Int]? in
            let shapes = (0..<ranks).map { rank -> [Int]? in
                let entry = Int(table[rank * count + index])
                return entry == 0 ? nil : tensor.shape.dropLast() + [entry - 1]
            }
            do {
                return try ShardedState.lengths(whole: tensor.shape, shards: shapes)
            } catch let mismatch as ShardedStateMismatch {
                throw TrainingError.unshardableState(optimizer: name, tensor: tensor.name, shard: mismatch.shard, whole: tensor.shape)
            }
        }
    }

    /// Each rank's number of parameters, for the reduce-scatter and the all-gather.
    var parameterBlocks: [Int] { plan.ranges.map(\.count) }

    /// Updates this rank's parameters from its range of the reduced, averaged gradient, then gathers
    /// every rank's parameters, so that all of them hold the whole model again.
    func step(context: StepContext) throws {
        var context = context
        context.statistics = statistics
        shard.step(parameters: parameters, gradients: gradients, context: context)
        try world.allGather(store.parameters.pointer, blocks: parameterBlocks)
    }

    /// Gathers the whole gradient after the reduce-scatter, for the steps whose gradients are inspected.
    func gatherGradients() throws {
        try world.allGather(store.gradients.pointer, blocks: parameterBlocks)
    }

    /// Bytes of optimizer state this rank holds.
    var stateBytes: Int { shard.state.reduce(0) { $0 + $1.storage.count * MemoryLayout<Float>.stride } }

    /// The unsharded state on rank 0 (names, shapes and values; empty on the other ranks). A
    /// collective: every rank must call it.
    func gatheredState() throws -> [(name: String, shape: [Int], values: [Float])] {
        let local = Dictionary(shard.state.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var gathered: [(name: String, shape: [Int], values: [Float])] = []
        for (tensor, lengths) in zip(fullState, blocks) {
            let mine = local[tensor.name]
            guard let lengths else {
                if world.isRoot { gathered.append((tensor.name, tensor.shape, mine!.storage.array)) }
                continue
            }
            let last = tensor.shape.last ?? 1, leading = tensor.shape.reduce(1, *) / max(last, 1)
            let counts = lengths.map { $0 * leading }
            var received = [Float](repeating: 0, count: world.isRoot ? counts.reduce(0, +) : 0)
            let input = mine.map { UnsafeBufferPointer($0.storage.pointer) } ?? UnsafeBufferPointer(start: nil, count: 0)
            try received.withUnsafeMutableBufferPointer { (output) throws(CommunicationError) in
                try world.gather(input, into: output, blocks: counts, root: 0)
            }
            guard world.isRoot else { continue }
            // Rank after rank, each block [leading, its length]: side by side along the last axis.
            let values = received.withUnsafeBufferPointer { all in
                var start = 0
                let parts = counts.map { length in
                    defer { start += length }
                    return UnsafeBufferPointer(rebasing: all[start..<(start + length)])
                }
                return ShardedState.assemble(whole: tensor.shape, lengths: lengths, parts: parts)
            }
            gathered.append((tensor.name, tensor.shape, values))
        }
        return gathered
    }

    /// Takes this rank's slice of each unsharded state tensor, which `load(name, shape, into)` reads
    /// from a checkpoint (whole, as the unsharded optimizer keeps it).
    func restore(_ load: (_ name: String, _ shape: [Int], _ into: UnsafeMutableBufferPointer<Float>) throws -> Void) throws {
        let local = Dictionary(shard.state.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for (tensor, lengths) in zip(fullState, blocks) {
            let whole = FloatBuffer(count: tensor.shape.reduce(1, *))
            try load(tensor.name, tensor.shape, whole.pointer)
            guard let mine = local[tensor.name] else { continue }
            guard let lengths else {
                mine.storage.copy(from: whole)
                continue
            }
            ShardedState.slice(UnsafeBufferPointer(whole.pointer), whole: tensor.shape, lengths: lengths, shard: world.rank,
                               into: mine.storage.baseAddress)
        }
    }
}
