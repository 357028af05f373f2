import Foundation
import Tensors

/// A training checkpoint: float32 tensors (parameters as `param.<slot>`, optimizer state under
/// its own prefixes) plus string metadata, stored as a safetensors file tagged with a format version.
public struct Checkpoint: Sendable {
    /// Bumped whenever the meaning of the stored tensors changes, so an old binary refuses a
    /// newer checkpoint instead of silently misreading it.
    public static let formatVersion = "bigbatch-checkpoint-1"
    /// The `__metadata__` key holding `formatVersion`.
    public static let formatKey = "format"
    /// Conventional prefix of model parameter tensors.
    public static let parameterPrefix = "param."

    /// Caller metadata (step, configuration fingerprint, ...); `format` is added on writing.
    public var metadata: [String: String]
    public var tensors: [TensorRecord]
    /// Where this checkpoint came from; labels errors.
    public let source: String

    public init(metadata: [String: String] = [:], tensors: [TensorRecord] = []) {
        self.metadata = metadata
        self.tensors = tensors
        self.source = "(unsaved checkpoint)"
    }

    /// Accepts a decoded file only if it carries this build's format version.
    public init(file: SafeTensorsFile, source: String) throws(CheckpointError) {
        let format = file.metadata[Self.formatKey]
        guard format == Self.formatVersion else { throw .unsupportedFormat(path: source, found: format) }
        var metadata = file.metadata
        metadata[Self.formatKey] = nil
        self.metadata = metadata
        self.tensors = file.tensors
        self.source = source
    }

    public static func read(from url: URL) throws(CheckpointError) -> Checkpoint {
        try Checkpoint(file: SafeTensorsFile.read(from: url), source: url.path)
    }

    /// The safetensors image of this checkpoint, format version included.
    public var file: SafeTensorsFile {
        var metadata = self.metadata
        metadata[Self.formatKey] = Self.formatVersion
        return SafeTensorsFile(metadata: metadata, tensors: tensors)
    }

    /// Atomic write (see `AtomicFile`).
    public func write(to url: URL) throws(CheckpointError) { try file.write(to: url) }

    // MARK: Storing

    /// Adds a float32 tensor holding a snapshot of `values`.
    public mutating func append(_ name: String, shape: [Int], floats values: UnsafeBufferPointer<Float>) {
        tensors.append(TensorRecord(name: name, shape: shape, floats: values))
    }

    /// Adds a float32 tensor holding a copy of `values`.
    public mutating func append(_ name: String, shape: [Int], floats values: [Float]) {
        tensors.append(TensorRecord(name: name, shape: shape, floats: values))
    }

    /// Adds a float32 tensor holding a snapshot of the whole `buffer`.
    public mutating func append(_ name: String, shape: [Int], from buffer: FloatBuffer) {
        append(name, shape: shape, floats: UnsafeBufferPointer(buffer.pointer))
    }

    /// One float32 tensor `<prefix><slot name>` per slot of `layout`, snapshotting its range of
    /// `buffer` (parameters, or any optimizer state laid out like them).
    public static func tensors(from layout: ParameterLayout, buffer: FloatBuffer, prefix: String) -> [TensorRecord] {
        precondition(buffer.count == layout.totalCount, "buffer of \(buffer.count) for layout of \(layout.totalCount)")
        return layout.slots.map { slot in
            TensorRecord(name: prefix + slot.name, shape: slot.shape,
                         floats: UnsafeBufferPointer(buffer.slice(slot.offset, slot.count)))
        }
    }

    // MARK: Loading

    /// The tensor named `name`, checked to be float32 of `shape`.
    public func floatTensor(_ name: String, shape: [Int]) throws(CheckpointError) -> TensorRecord {
        guard let tensor = tensors.first(where: { $0.name == name }) else {
            throw .missingTensor(path: source, name: name)
        }
        return try checked(tensor, shape: shape)
    }

    private func checked(_ tensor: TensorRecord, shape: [Int]) throws(CheckpointError) -> TensorRecord {
        guard tensor.dtype == .float32 else {
            throw .dtypeMismatch(path: source, tensor: tensor.name, expected: .float32, found: tensor.dtype)
        }
        guard tensor.shape == shape else {
            throw .shapeMismatch(path: source, tensor: tensor.name, expected: shape, found: tensor.shape)
        }
        return tensor
    }

    /// Copies float32 tensor `name` of `shape` into `destination` (whose count must be the shape's).
    public func load(_ name: String, shape: [Int], into destination: UnsafeMutableBufferPointer<Float>)
        throws(CheckpointError)
    {
        precondition(destination.count == shape.reduce(1, *), "destination of \(destination.count) for shape \(shape)")
        try floatTensor(name, shape: shape).copyFloats(into: destination)
    }

    /// Copies float32 tensor `name` of `shape` into the whole of `buffer`.
    public func load(_ name: String, shape: [Int], into buffer: FloatBuffer) throws(CheckpointError) {
        try load(name, shape: shape, into: buffer.pointer)
    }

    /// The elements of float32 tensor `name` of `shape`.
    public func floats(_ name: String, shape: [Int]) throws(CheckpointError) -> [Float] {
        try floatTensor(name, shape: shape).floats() ?? []
    }

    /// Fills `buffer` from the `<prefix><slot name>` tensors, the inverse of `tensors(from:buffer:prefix:)`.
    ///
    /// Every slot must be present with its exact shape, and no other tensor may carry `prefix`
    /// (that would mean the checkpoint belongs to a different model). All checks pass before
    /// anything is copied, so a failed restore leaves `buffer` untouched.
    public func restore(into buffer: FloatBuffer, layout: ParameterLayout, prefix: String) throws(CheckpointError) {
        precondition(buffer.count == layout.totalCount, "buffer of \(buffer.count) for layout of \(layout.totalCount)")
        var byName: [String: TensorRecord] = [:]
        for tensor in tensors where tensor.name.hasPrefix(prefix) { byName[tensor.name] = tensor }
        var sources: [(slot: ParameterSlot, tensor: TensorRecord)] = []
        sources.reserveCapacity(layout.slots.count)
        for slot in layout.slots {
            guard let tensor = byName.removeValue(forKey: prefix + slot.name) else {
                throw .missingTensor(path: source, name: prefix + slot.name)
            }
            sources.append((slot, try checked(tensor, shape: slot.shape)))
        }
        if let extra = byName.keys.min() { throw .unexpectedTensor(path: source, name: extra) }
        for (slot, tensor) in sources { tensor.copyFloats(into: buffer.slice(slot.offset, slot.count)) }
    }
}
