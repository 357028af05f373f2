import Tensors

/// An optimizer made of gradient transforms run in order, whose last output is added to the parameters.
///
/// Consecutive elementwise transforms are fused: the chain walks the buffer in cache-sized tiles
/// and runs every transform of the group on a tile before moving on (over several threads for
/// large buffers), so a chain like scale-by-Adam → decoupled decay → scale by −lr → apply costs
/// one pass over memory. A last transform that writes the parameters itself (`FusedAdamW`, which the
/// catalogue chooses for AdamW) runs alone after the others, in large chunks.
public final class TransformChain: Optimizer {
    public let name: String
    public let transforms: [any GradientTransform]
    private let originalGradients: FloatBuffer?

    public init(name: String, transforms: [any GradientTransform], layout: ParameterLayout) {
        precondition(!transforms.dropLast().contains { $0.appliesToParameters },
                     "a transform that writes the parameters must be the chain's last")
        self.name = name
        self.transforms = transforms
        originalGradients = transforms.contains { $0.needsOriginalGradients } ? FloatBuffer(count: layout.totalCount) : nil
    }

    public var state: [StateTensor] { transforms.flatMap(\.state) }
    public var shardRequirement: ShardRequirement { .of(transforms) }

    public func step(parameters: FloatBuffer, gradients: FloatBuffer, context: StepContext) {
        precondition(parameters.count == gradients.count, "parameters \(parameters.count) vs gradients \(gradients.count)")
        if let originalGradients { originalGradients.copy(from: gradients) }
        for transform in transforms { transform.prepare(context: context) }
        let buffers = TransformBuffers(updates: gradients.baseAddress, parameters: parameters.baseAddress,
                                       originalGradients: originalGradients?.baseAddress)
        let all = 0..<parameters.count
        // A last transform that writes the parameters runs alone, in large chunks (a fused step).
        let fused = transforms.last.flatMap { $0.appliesToParameters ? $0 : nil }
        let stages = fused == nil ? transforms.count : transforms.count - 1
        var index = 0
        while index < stages {
            if transforms[index].scope == .whole {
                transforms[index].apply(buffers, range: all, context: context)
                index += 1
                continue
            }
            var end = index
            while end < stages && transforms[end].scope == .elementwise { end += 1 }
            let group = Array(transforms[index..<end])
            let addsUpdate = fused == nil && end == transforms.count
            ParallelChunks.forEachTile(all) { tile in
                for transform in group { transform.apply(buffers, range: tile, context: context) }
                if addsUpdate { TransformChain.add(buffers, tile) }
            }
            if addsUpdate { return }
            index = end
        }
        if let fused {
            ParallelChunks.forEachChunk(all) { chunk in fused.apply(buffers, range: chunk, context: context) }
            return
        }
        ParallelChunks.forEachTile(all) { tile in TransformChain.add(buffers, tile) }
    }

    /// Applies `transforms` (already prepared) in order to the first `count` elements of `buffers`,
    /// consecutive elementwise ones fused over tiles, without adding the update to the parameters:
    /// the body of a partition's group.
    static func run(_ transforms: [any GradientTransform], _ buffers: TransformBuffers, count: Int, context: StepContext) {
        precondition(!transforms.contains { $0.appliesToParameters }, "a group's transforms leave updates, never write parameters")
        let all = 0..<count
        var index = 0
        while index < transforms.count {
            if transforms[index].scope == .whole {
                transforms[index].apply(buffers, range: all, context: context)
                index += 1
                continue
            }
            var end = index
            while end < transforms.count && transforms[end].scope == .elementwise { end += 1 }
            let group = Array(transforms[index..<end])
            ParallelChunks.forEachTile(all) { tile in
                for transform in group { transform.apply(buffers, range: tile, context: context) }
            }
            index = end
        }
    }

    @inline(__always)
    static func add(_ buffers: TransformBuffers, _ range: Range<Int>) {
        let p = buffers.parameters, u = buffers.updates
        for i in range { p[i] += u[i] }
    }
}
