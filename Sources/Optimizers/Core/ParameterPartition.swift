import Tensors

/// Runs a separate optimizer core on each parameter group (optax's `partition`): the group's
/// gradients and parameters are gathered into one contiguous scratch, its own transforms run there
/// at its own learning rate, and its update is scattered back.
///
/// Each group's transforms are built for a layout of just its parameters, so per-tensor statistics
/// (trust ratios, factored moments, Muon's orthogonalization) see the same tensors as without groups
/// and their state is sized to the group. Transforms configured under `optimizer.transforms` run
/// outside the partition, on the whole model, so a global-norm clip stays global.
///
/// The learning rate follows PyTorch's param groups: each group has an absolute base rate, and the
/// schedule's factor (this step's rate over the top-level base rate) is applied to each group's base.
public final class ParameterPartition: GradientTransform {
    public let name = "groups"
    public let scope = TransformScope.whole

    struct Part {
        /// `groups.0.`, …, `groups.default.` (the prefix of its state names).
        let label: String
        /// The group's slots in the model's buffers: (offset, count), in order.
        let runs: [(offset: Int, count: Int)]
        let count: Int
        let transforms: [any GradientTransform]
        /// The group's base rate over the top-level base rate.
        let rateFactor: Double
    }

    let parts: [Part]
    public let state: [StateTensor]
    public let needsOriginalGradients: Bool
    /// What the groups' elementwise transforms need, and whole tensors as soon as one reads a tensor
    /// as a whole: a group's layout is its own, so it could not sum a cut tensor's statistics over the
    /// shards (and a shard may hold none of a group, so it must make no collective call either).
    public var shardRequirement: ShardRequirement {
        let transforms = parts.flatMap(\.transforms)
        let requirement = ShardRequirement.of(transforms)
        return transforms.contains { $0.scope == .whole } ? requirement.combined(with: .tensors) : requirement
    }
    private let updates: FloatBuffer, parameters: FloatBuffer, originals: FloatBuffer?

    init(parts: [Part]) {
        self.parts = parts
        state = parts.flatMap { part in
            part.transforms.flatMap(\.state).map { StateTensor(name: part.label + $0.name, shape: $0.shape, storage: $0.storage) }
        }
        let largest = parts.map(\.count).max() ?? 0
        needsOriginalGradients = parts.contains { $0.transforms.contains(where: \.needsOriginalGradients) }
        updates = FloatBuffer(count: largest)
        parameters = FloatBuffer(count: largest)
        originals = needsOriginalGradients ? FloatBuffer(count: largest) : nil
    }

    /// Each group's learning rate, given the schedule's rate for the top-level settings.
    public func learningRates(scheduled rate: Float) -> [(group: String, rate: Float)] {
        parts.map { (String($0.label.dropLast()), Float(Double(rate) * $0.rateFactor)) }
    }

    /// One part of `splitting`: the slots it takes (those no earlier part took), the transforms built
    /// for them laid out on their own, its rate over the scheduled one and the prefix of its state.
    struct Selection {
        var label = ""
        var rateFactor = 1.0
        let takes: (ParameterSlot) -> Bool
        let build: (ParameterLayout) -> [any GradientTransform]

        init(label: String = "", rateFactor: Double = 1, takes: @escaping (ParameterSlot) -> Bool,
             build: @escaping (ParameterLayout) -> [any GradientTransform]) {
            self.label = label
            self.rateFactor = rateFactor
            self.takes = takes
            self.build = build
        }
    }

    /// The partition of `layout` by `selections` (each slot goes to the first that takes it), as an
    /// algorithm splits its parameters between branches (Muon); a selection that takes no slot is left out.
    static func splitting(_ layout: ParameterLayout, _ selections: [Selection]) -> ParameterPartition {
        var taken = [Bool](repeating: false, count: layout.slots.count)
        var parts: [Part] = []
        for selection in selections {
            let chosen = layout.slots.indices.filter { !taken[$0] && selection.takes(layout.slots[$0]) }
            guard !chosen.isEmpty else { continue }
            for index in chosen { taken[index] = true }
            let slots = chosen.map { layout.slots[$0] }
            let own = ParameterLayout(slots.map { ParameterSpec(name: $0.name, shape: $0.shape, role: $0.role, outputAxis: $0.outputAxis) })
            parts.append(Part(label: selection.label, runs: runs(of: slots), count: own.totalCount,
                              transforms: selection.build(own), rateFactor: selection.rateFactor))
        }
        return ParameterPartition(parts: parts)
    }

    /// `slots` (in buffer order) as maximal runs of adjacent elements: what a part gathers and scatters.
    static func runs(of slots: [ParameterSlot]) -> [(offset: Int, count: Int)] {
        var runs: [(offset: Int, count: Int)] = []
        for slot in slots {
            if let last = runs.last, last.offset + last.count == slot.offset {
                runs[runs.count - 1].count += slot.count
            } else {
                runs.append((slot.offset, slot.count))
            }
        }
        return runs
    }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        let u = updates.baseAddress, p = parameters.baseAddress, g = originals?.baseAddress
        for part in parts {
            var position = 0
            for run in part.runs {
                (u + position).update(from: buffers.updates + run.offset, count: run.count)
                (p + position).update(from: buffers.parameters + run.offset, count: run.count)
                if let g, let source = buffers.originalGradients { (g + position).update(from: source + run.offset, count: run.count) }
                position += run.count
            }
            var local = context
            local.learningRate = Float(Double(context.learningRate) * part.rateFactor)
            for transform in part.transforms { transform.prepare(context: local) }
            TransformChain.run(part.transforms, TransformBuffers(updates: u, parameters: p, originalGradients: g),
                               count: part.count, context: local)
            position = 0
            for run in part.runs {
                (buffers.updates + run.offset).update(from: u + position, count: run.count)
                position += run.count
            }
        }
    }
}
