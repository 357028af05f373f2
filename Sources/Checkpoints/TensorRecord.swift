import Foundation

/// One named tensor as stored in a safetensors file: raw little-endian element bytes.
public struct TensorRecord: Sendable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    /// Exactly `elementCount × dtype.byteSize` bytes, little-endian, row-major.
    public let bytes: Data

    /// Preconditions (programmer errors): non-negative shape and a byte count that matches it.
    public init(name: String, dtype: DType, shape: [Int], bytes: Data) {
        precondition(shape.allSatisfy { $0 >= 0 }, "tensor \(name) has a negative dimension in \(shape)")
        let expected = TensorRecord.byteCount(shape: shape, dtype: dtype)
        precondition(expected == bytes.count, "tensor \(name): \(bytes.count) bytes for shape \(shape) of \(dtype.rawValue)")
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    /// A float32 tensor copied from `values`.
    public init(name: String, shape: [Int], floats values: UnsafeBufferPointer<Float>) {
        let data = values.isEmpty ? Data() : Data(buffer: values)
        self.init(name: name, dtype: .float32, shape: shape, bytes: data)
    }

    /// A float32 tensor copied from `values`.
    public init(name: String, shape: [Int], floats values: [Float]) {
        self = values.withUnsafeBufferPointer { TensorRecord(name: name, shape: shape, floats: $0) }
    }

    public var elementCount: Int { shape.reduce(1, *) }

    /// The element count × size, or nil when it overflows `Int` (possible only for hostile headers).
    static func byteCount(shape: [Int], dtype: DType) -> Int? {
        var total = dtype.byteSize
        for dimension in shape {
            let (product, overflow) = total.multipliedReportingOverflow(by: dimension)
            if overflow { return nil }
            total = product
        }
        return total
    }

    /// Copies the elements into `destination`, which must hold exactly `elementCount` floats.
    /// Preconditions: dtype F32 and matching count (callers check and report these as errors).
    func copyFloats(into destination: UnsafeMutableBufferPointer<Float>) {
        precondition(dtype == .float32 && destination.count == elementCount, "float copy of \(name) mismatched")
        guard !destination.isEmpty else { return }
        bytes.withUnsafeBytes { raw in
            UnsafeMutableRawBufferPointer(destination).copyMemory(from: raw)
        }
    }

    /// The elements as floats (little-endian host assumed, as on every platform this trainer runs on).
    public func floats() -> [Float]? {
        guard dtype == .float32 else { return nil }
        return [Float](unsafeUninitializedCapacity: elementCount) { buffer, initialized in
            copyFloats(into: buffer)
            initialized = elementCount
        }
    }
}
