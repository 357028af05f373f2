/// What a parameter is for; optimizers use it to decide, e.g., which tensors get weight decay or
/// a factored second moment.
public enum ParameterRole: String, Sendable, Codable, CaseIterable {
    case weight, bias, embedding, scale
}

/// Declares one parameter tensor before the flat buffer exists.
public struct ParameterSpec: Sendable, Equatable {
    public var name: String
    public var shape: [Int]
    public var role: ParameterRole
    /// The axis that indexes output units (rows of a Linear weight, output channels of a
    /// convolution). Unit-wise transforms (AGC, soft clip, LARS, Norm Loss) reduce over the others.
    public var outputAxis: Int

    public init(name: String, shape: [Int], role: ParameterRole, outputAxis: Int = 0) {
        precondition(shape.allSatisfy { $0 > 0 }, "parameter \(name) has non-positive shape \(shape)")
        precondition(shape.isEmpty || (0..<shape.count).contains(outputAxis), "parameter \(name): bad output axis")
        self.name = name
        self.shape = shape
        self.role = role
        self.outputAxis = outputAxis
    }

    public var count: Int { shape.reduce(1, *) }
}

/// One parameter's place in the flat buffers: a named, shaped view.
public struct ParameterSlot: Sendable, Equatable {
    public let name: String
    public let shape: [Int]
    public let role: ParameterRole
    public let outputAxis: Int
    /// Index of the first element in the flat buffers.
    public let offset: Int
    public let count: Int

    public var range: Range<Int> { offset..<(offset + count) }
    /// Number of output units (size of `outputAxis`).
    public var units: Int { shape.isEmpty ? 1 : shape[outputAxis] }
    /// Elements per output unit.
    public var fanIn: Int { units == 0 ? 0 : count / units }
    /// Whether the output axis is the leading one, so that each unit is one contiguous row.
    public var isRowMajorUnits: Bool { outputAxis == 0 }
}

/// The deterministic order and offsets of every parameter of a model.
///
/// Offsets come from one ordered table of specs, so all ranks, the optimizers and the
/// checkpoints agree on where each tensor lives without exchanging anything.
public struct ParameterLayout: Sendable, Equatable {
    public let slots: [ParameterSlot]
    public let totalCount: Int
    /// Where these parameters sit in the whole model when they are only some of them (one rank's shard
    /// of a sharded optimizer); nil for a whole model.
    public let part: Part?

    /// One rank's share of a model's parameters, as a sharded optimizer sees it.
    public struct Part: Sendable, Equatable {
        /// Each slot's index among the whole model's slots.
        public let wholeIndices: [Int]
        public let wholeSlotCount: Int
        /// Whether some shard of the model holds only some rows of a tensor: then per-tensor
        /// statistics must be summed over the shards. The same on every shard.
        public let cutsTensors: Bool

        public init(wholeIndices: [Int], wholeSlotCount: Int, cutsTensors: Bool) {
            self.wholeIndices = wholeIndices
            self.wholeSlotCount = wholeSlotCount
            self.cutsTensors = cutsTensors
        }
    }

    /// Whether these are some of a model's parameters only, so that a parameter group or a selector
    /// matching none of them is no error.
    public var isPart: Bool { part != nil }

    public init(_ specs: [ParameterSpec], part: Part? = nil) {
        precondition(part.map { $0.wholeIndices.count == specs.count } ?? true, "one whole index per slot")
        self.part = part
        var slots: [ParameterSlot] = []
        var offset = 0
        for spec in specs {
            precondition(!slots.contains { $0.name == spec.name }, "duplicate parameter name \(spec.name)")
            slots.append(ParameterSlot(name: spec.name, shape: spec.shape, role: spec.role,
                                       outputAxis: spec.outputAxis, offset: offset, count: spec.count))
            offset += spec.count
        }
        self.slots = slots
        self.totalCount = offset
    }

    public func slot(named name: String) -> ParameterSlot? { slots.first { $0.name == name } }

    /// A short fingerprint of names, shapes and order, to check that two layouts match.
    public var signature: String {
        slots.map { "\($0.name)\($0.shape)" }.joined(separator: ";")
    }
}

/// All parameters in one contiguous buffer and all gradients in a second of the same layout.
public final class ParameterStore: @unchecked Sendable {
    public let layout: ParameterLayout
    public let parameters: FloatBuffer
    public let gradients: FloatBuffer

    public init(layout: ParameterLayout) {
        self.layout = layout
        parameters = FloatBuffer(count: layout.totalCount)
        gradients = FloatBuffer(count: layout.totalCount)
    }

    /// A store reading `other`'s parameters with gradients of its own: a worker thread's copy of
    /// a network accumulates here, apart from the others, until the gradients are summed.
    public init(sharingParametersOf other: ParameterStore) {
        layout = other.layout
        parameters = other.parameters
        gradients = FloatBuffer(count: other.layout.totalCount)
    }

    public func parameters(_ slot: ParameterSlot) -> UnsafeMutableBufferPointer<Float> {
        parameters.slice(slot.offset, slot.count)
    }

    public func gradients(_ slot: ParameterSlot) -> UnsafeMutableBufferPointer<Float> {
        gradients.slice(slot.offset, slot.count)
    }

    public func zeroGradients() { gradients.zero() }
}
