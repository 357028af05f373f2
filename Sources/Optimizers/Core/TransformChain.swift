import Tensors

/// An optimizer made of gradient transforms run in order, whose last output is added to the parameters.
///
/// Consecutive elementwise transforms are fused: the chain walks the buffer in cache-sized tiles
/// and runs every transform of the group on a tile before moving on (over several threads for
/// large buffers), so a chain like scale-by-Adam → decoupled decay → scale by −lr → apply costs
/// one pass over memory.
public final class TransformChain: Optimizer {
    public let name: String
    public let transforms: [any GradientTransform]
    private let originalGradients: FloatBuffer?

    public init(name: String, transforms: [any GradientTransform], layout: ParameterLayout) {
        self.name = name
        self.transforms = transforms
        originalGradients = transforms.contains { $0.needsOriginalGradients } ? FloatBuffer(count: layout.totalCount) : nil
    }

    /// AdamW and Adam chains run as one fused loop (same arithmetic up to rounding order).
    private var fusedAdamW: (ScaleByAdam, Float)? {
        guard let adam = transforms.first as? ScaleByAdam, adam.vMax == nil,
              let last = transforms.last as? ScaleByLearningRate, last.factor == 1 else { return nil }
        if transforms.count == 2 { return (adam, 0) }
        if transforms.count == 3, let decay = transforms[1] as? AddDecayedWeights { return (adam, decay.weightDecay) }
        return nil
    }

    public var state: [StateTensor] { transforms.flatMap(\.state) }

    public func step(parameters: FloatBuffer, gradients: FloatBuffer, context: StepContext) {
        precondition(parameters.count == gradients.count, "parameters \(parameters.count) vs gradients \(gradients.count)")
        if let originalGradients { originalGradients.copy(from: gradients) }
        for transform in transforms { transform.prepare(context: context) }
        let buffers = TransformBuffers(updates: gradients.baseAddress, parameters: parameters.baseAddress,
                                       originalGradients: originalGradients?.baseAddress)
        let all = 0..<parameters.count
        if let (adam, decay) = fusedAdamW {
            ParallelChunks.forEachChunk(all) { chunk in
                adam.applyFused(buffers, range: chunk, weightDecay: decay, learningRate: context.learningRate)
            }
            return
        }
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
            let isLast = end == transforms.count
            ParallelChunks.forEachTile(all) { tile in
                for transform in group { transform.apply(buffers, range: tile, context: context) }
                if isLast { TransformChain.add(buffers, tile) }
            }
            if isLast { return }
            index = end
        }
        ParallelChunks.forEachTile(all) { tile in TransformChain.add(buffers, tile) }
    }

    @inline(__always)
    static func add(_ buffers: TransformBuffers, _ range: Range<Int>) {
        let p = buffers.parameters, u = buffers.updates
        for i in range { p[i] += u[i] }
    }
}
