import Configuration
import Tensors

/// Where an optimizer's state may be cut when each rank keeps only its part of it (ZeRO stage 1,
/// `distributed.shard_optimizer`).
///
/// A shard is a contiguous range of the flat buffers, and each rank builds the same optimizer over
/// the tensors (or leading-axis rows of tensors) its range holds. That is exact as long as nothing a
/// transform computes for one element depends on elements of another shard, except through the sums
/// of `ShardStatistics`; the requirement says how coarse the cuts must be for that to hold.
public struct ShardRequirement: Sendable, Equatable {
    public enum Granularity: Int, Sendable, Comparable {
        /// A shard may begin at any row of a tensor's leading axis: each element's update depends
        /// only on itself and on statistics summed across shards (elementwise moments, global norms).
        case rows
        /// Shards begin only where a tensor begins: per-tensor norms, factored moments,
        /// orthogonalization and unit-wise statistics need the whole tensor on one rank.
        case tensors

        public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    }

    public var granularity: Granularity
    /// Shards begin only at multiples of this many elements (state packed several to a word).
    public var alignment: Int

    public init(_ granularity: Granularity, alignment: Int = 1) {
        precondition(alignment >= 1, "shard alignment \(alignment)")
        self.granularity = granularity
        self.alignment = alignment
    }

    public static let rows = ShardRequirement(.rows)
    public static let tensors = ShardRequirement(.tensors)

    /// A requirement that satisfies both: the coarser granularity, a common multiple of the alignments.
    public func combined(with other: ShardRequirement) -> ShardRequirement {
        func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
        return ShardRequirement(max(granularity, other.granularity),
                                alignment: alignment / gcd(alignment, other.alignment) * other.alignment)
    }

    /// The coarsest requirement of `transforms` (rows for none).
    public static func of(_ transforms: [any GradientTransform]) -> ShardRequirement {
        transforms.reduce(.rows) { $0.combined(with: $1.shardRequirement) }
    }
}

/// Sums an optimizer's partial statistics over the shards of a sharded optimizer: a global gradient
/// norm, say, is the square root of the sum of every shard's sum of squares.
///
/// Transforms that read the whole buffer (`ClipByGlobalNorm`, `CautiousMask`, `StableWeightDecay`)
/// pass their partial sums here, and those that read whole tensors (LAMB's trust ratio, nSGDA,
/// `TrustRatio`, `GradientNormalization`) theirs per tensor (`perTensor`) where the shards cut a
/// tensor, and so stay exact when each rank holds one range. It is a collective: every rank's
/// optimizer makes the same calls in the same order, which holds because every rank runs the same
/// transforms, and none calls it inside a parameter group, which a shard may lack: the global ones
/// act on the whole model, and a partition keeps tensors whole (`ParameterPartition.shardRequirement`).
public final class ShardStatistics: @unchecked Sendable {
    private let reduce: (UnsafeMutableBufferPointer<Double>) -> Void

    /// `reduce` replaces each value by its sum over all shards, in place.
    public init(reduce: @escaping (UnsafeMutableBufferPointer<Double>) -> Void) { self.reduce = reduce }

    /// One optimizer holding all of the state: the partial sums are the sums.
    public static let unsharded = ShardStatistics { _ in }

    /// The sums over every shard of `values` (this shard's parts).
    public func sum(_ values: [Double]) -> [Double] {
        var copy = values
        copy.withUnsafeMutableBufferPointer { reduce($0) }
        return copy
    }

    public func sum(_ value: Double) -> Double { sum([value])[0] }

    /// Per-tensor sums over the whole model: `partial(slot)` gives `count` partial sums for each of
    /// `layout`'s tensors; where a shard boundary cuts some tensor of the model, they are summed over
    /// every shard (laid out by each tensor's index in the whole model, so that the shards agree),
    /// else they are already whole. Returns them per slot of `layout`. A collective exactly when the
    /// plan cuts tensors, which every shard knows alike.
    public func perTensor(_ layout: ParameterLayout, count: Int, _ partial: (ParameterSlot) -> [Double]) -> [[Double]] {
        let local = layout.slots.map(partial)
        guard let part = layout.part, part.cutsTensors else { return local }
        var values = [Double](repeating: 0, count: part.wholeSlotCount * count)
        for (sums, whole) in zip(local, part.wholeIndices) {
            for (k, value) in sums.enumerated() { values[whole * count + k] = value }
        }
        let totals = sum(values)
        return part.wholeIndices.map { Array(totals[($0 * count)..<(($0 + 1) * count)]) }
    }
}

/// The ranges of the flat buffers each rank's optimizer shard owns: contiguous, in rank order,
/// together the whole layout, cut where `requirement` allows as close to equal sizes as it can.
public struct ShardPlan: Sendable, Equatable {
    public let ranges: [Range<Int>]
    public let requirement: ShardRequirement

    public init(layout: ParameterLayout, shards: Int, requirement: ShardRequirement) {
        precondition(shards >= 1, "\(shards) shards")
        self.requirement = requirement
        let total = layout.totalCount
        let cuts = Self.allowedCuts(layout, requirement)
        // Cuts nearest to the equal shares, unless packing shards up to the least feasible size keeps
        // the largest shard smaller (coarse cuts: a few big tensors).
        let nearest = Self.nearestCuts(cuts, total: total, shards: shards)
        let packed = Self.packedCuts(cuts, total: total, shards: shards)
        func largest(_ bounds: [Int]) -> Int { zip(bounds, bounds.dropFirst()).map { $1 - $0 }.max() ?? 0 }
        let bounds = largest(packed) < largest(nearest) ? packed : nearest
        ranges = (0..<shards).map { bounds[$0]..<bounds[$0 + 1] }
    }

    /// Bounds (0, the cuts, `total`) at the allowed cuts nearest to r·total/shards.
    static func nearestCuts(_ cuts: [Int], total: Int, shards: Int) -> [Int] {
        var bounds = [0]
        var position = 0  // index into cuts of the last bound
        for shard in 1..<shards {
            let target = Double(total) * Double(shard) / Double(shards)
            // Cuts are sorted: advance while the next one is at least as close to the target.
            while position + 1 < cuts.count && abs(Double(cuts[position + 1]) - target) <= abs(Double(cuts[position]) - target) {
                position += 1
            }
            bounds.append(max(cuts[position], bounds.last!))
        }
        bounds.append(total)
        return bounds
    }

    /// Bounds from packing each shard with as many elements as fit in the least size for which
    /// `shards` shards cover everything (binary search over the size, greedy packing).
    static func packedCuts(_ cuts: [Int], total: Int, shards: Int) -> [Int] {
        func pack(_ size: Int) -> [Int]? {
            var bounds = [0], index = 0
            for _ in 0..<shards {
                let start = bounds.last!
                while index + 1 < cuts.count && cuts[index + 1] - start <= size { index += 1 }
                bounds.append(cuts[index])
            }
            return bounds.last == total ? bounds : nil
        }
        var low = 1, high = max(total, 1)
        while low < high {
            let middle = (low + high) / 2
            if pack(middle) != nil { high = middle } else { low = middle + 1 }
        }
        return pack(low) ?? [0] + Array(repeating: total, count: shards)
    }

    /// Every element index where a shard may begin, ascending, 0 and the end included.
    static func allowedCuts(_ layout: ParameterLayout, _ requirement: ShardRequirement) -> [Int] {
        var cuts: [Int] = []
        for slot in layout.slots {
            switch requirement.granularity {
            case .tensors:
                cuts.append(slot.offset)
            case .rows:
                let rows = slot.shape.first ?? 1, width = slot.count / rows
                for row in 0..<rows { cuts.append(slot.offset + row * width) }
            }
        }
        cuts = cuts.filter { $0 % requirement.alignment == 0 }
        if cuts.first != 0 { cuts.insert(0, at: 0) }
        if cuts.last != layout.totalCount { cuts.append(layout.totalCount) }
        return cuts
    }

    /// The parameters shard `index` holds, as a layout of their own (offsets from its range's start):
    /// whole tensors under their names, and the rows of a cut tensor as a tensor of the same name,
    /// role and rank with fewer rows. Marked as a part, so parameter groups may match nothing in it.
    public func layout(ofShard index: Int, in full: ParameterLayout) -> ParameterLayout {
        let range = ranges[index]
        var specs: [ParameterSpec] = [], indices: [Int] = []
        for (wholeIndex, slot) in full.slots.enumerated() {
            let low = max(slot.offset, range.lowerBound), high = min(slot.offset + slot.count, range.upperBound)
            guard low < high else { continue }
            var shape = slot.shape
            if high - low != slot.count {
                let width = slot.count / slot.shape[0]
                precondition((low - slot.offset) % width == 0 && (high - low) % width == 0, "shard cuts \(slot.name) inside a row")
                shape[0] = (high - low) / width
            }
            specs.append(ParameterSpec(name: slot.name, shape: shape, role: slot.role, outputAxis: slot.outputAxis))
            indices.append(wholeIndex)
        }
        let cuts = ranges.dropFirst().contains { range in
            full.slots.contains { $0.offset < range.lowerBound && range.lowerBound < $0.offset + $0.count }
        }
        return ParameterLayout(specs, part: ParameterLayout.Part(wholeIndices: indices, wholeSlotCount: full.slots.count,
                                                                 cutsTensors: cuts))
    }
}

/// How the shards' state tensors make up the unsharded optimizer's: a shard's tensor is the
/// unsharded one's slice along the last axis (moments laid out like the parameters, per-tensor
/// statistics in tensor order, each shard's columns of a history ring), in shard order, or it is
/// the same on every shard (a statistic of the whole model). Checkpoints hold the unsharded form,
/// so they do not depend on the number of ranks.
public enum ShardedState {
    /// Each shard's length along the last axis of the unsharded tensor of shape `whole`, given each
    /// shard's shape (nil where a shard has no such tensor, as when a parameter group has no
    /// parameters in it); nil when every shard holds the whole tensor. Throws the first shape that
    /// is no such slice.
    public static func lengths(whole: [Int], shards: [[Int]?]) throws(ShardedStateMismatch) -> [Int]? {
        if shards.allSatisfy({ $0 == whole }) { return nil }
        var lengths: [Int] = []
        for shape in shards {
            guard let shape else { lengths.append(0); continue }
            guard shape.count == whole.count, shape.dropLast() == whole.dropLast() else { throw ShardedStateMismatch(shard: shape, whole: whole) }
            lengths.append(shape.last ?? 1)
        }
        guard lengths.reduce(0, +) == whole.last ?? 1 else { throw ShardedStateMismatch(shard: [lengths.reduce(0, +)], whole: whole) }
        return lengths
    }

    /// The unsharded tensor from its shards' values (`parts[r]`: shard r's, row-major), laid side by
    /// side along the last axis.
    public static func assemble(whole: [Int], lengths: [Int], parts: [UnsafeBufferPointer<Float>]) -> [Float] {
        let last = whole.last ?? 1, leading = whole.reduce(1, *) / max(last, 1)
        var values = [Float](repeating: 0, count: leading * last)
        var column = 0
        for (part, length) in zip(parts, lengths) {
            precondition(part.count == leading * length, "shard of \(part.count) values for \(leading)×\(length)")
            for row in 0..<leading {
                for j in 0..<length { values[row * last + column + j] = part[row * length + j] }
            }
            column += length
        }
        return values
    }

    /// Shard `index`'s values of the unsharded tensor `values` (shape `whole`), into `output`.
    public static func slice(_ values: UnsafeBufferPointer<Float>, whole: [Int], lengths: [Int], shard index: Int,
                             into output: UnsafeMutablePointer<Float>) {
        let last = whole.last ?? 1, leading = whole.reduce(1, *) / max(last, 1)
        let column = lengths[..<index].reduce(0, +), length = lengths[index]
        for row in 0..<leading {
            (output + row * length).update(from: values.baseAddress! + row * last + column, count: length)
        }
    }
}

/// A shard's state tensor that is no slice of the unsharded one along its last axis.
public struct ShardedStateMismatch: Error, Equatable {
    public let shard: [Int], whole: [Int]
}

extension OptimizerCatalog {
    /// The optimizer `tree` configures, over shard `index` of `shards`: the unsharded optimizer is
    /// built first (it checks the configuration against the whole model, and says where the state
    /// may be cut and what it is called and shaped), then the one over the shard's parameters.
    public static func makeShard(_ tree: ConfigValue, layout: ParameterLayout, shards: Int, index: Int) throws(ConfigError)
        -> (whole: [(name: String, shape: [Int])], plan: ShardPlan, shard: any Optimizer)
    {
        let whole = try make(section: ConfigSection(tree, path: "optimizer"), layout: layout)
        let plan = ShardPlan(layout: layout, shards: shards, requirement: whole.shardRequirement)
        let shard = try make(section: ConfigSection(tree, path: "optimizer"), layout: plan.layout(ofShard: index, in: layout))
        return (whole.state.map { ($0.name, $0.shape) }, plan, shard)
    }
}
