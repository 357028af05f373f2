/// A fixed-size, 64-byte aligned, zero-initialized buffer of `Float`s.
///
/// Parameters, gradients, optimizer moments and activations all live in buffers of this type:
/// alignment keeps vector loads on cache lines, and a stable base address lets collectives and
/// BLAS work on it in place.
public final class FloatBuffer: @unchecked Sendable {
    public let count: Int
    public let baseAddress: UnsafeMutablePointer<Float>
    /// The buffer a view reads, kept alive by it; nil for a buffer that owns its memory.
    private let viewed: FloatBuffer?

    public init(count: Int) {
        precondition(count >= 0, "negative buffer size \(count)")
        viewed = nil
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * MemoryLayout<Float>.stride, alignment: 64)
        baseAddress = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        baseAddress.initialize(repeating: 0, count: max(count, 1))
    }

    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { baseAddress.update(from: $0.baseAddress!, count: values.count) }
    }

    /// `length` elements of `buffer` from `offset`, shared with it (writes show in both): hands a
    /// range of the flat buffers, one rank's optimizer shard, to code that takes a whole buffer.
    public init(viewing buffer: FloatBuffer, offset: Int, length: Int) {
        precondition(offset >= 0 && length >= 0 && offset + length <= buffer.count, "view \(offset)+\(length) outside \(buffer.count)")
        viewed = buffer
        count = length
        baseAddress = buffer.baseAddress + offset
    }

    deinit { if viewed == nil { UnsafeMutableRawPointer(baseAddress).deallocate() } }

    /// The whole buffer.
    public var pointer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: baseAddress, count: count) }

    /// `count` elements starting at `offset`.
    public func slice(_ offset: Int, _ length: Int) -> UnsafeMutableBufferPointer<Float> {
        precondition(offset >= 0 && length >= 0 && offset + length <= count, "slice \(offset)+\(length) outside \(count)")
        return UnsafeMutableBufferPointer(start: baseAddress + offset, count: length)
    }

    public subscript(index: Int) -> Float {
        get { baseAddress[index] }
        set { baseAddress[index] = newValue }
    }

    public func fill(_ value: Float) { baseAddress.update(repeating: value, count: count) }
    public func zero() { fill(0) }

    public func copy(from other: FloatBuffer) {
        precondition(other.count == count, "copy between buffers of \(other.count) and \(count)")
        baseAddress.update(from: other.baseAddress, count: count)
    }

    public var array: [Float] { Array(pointer) }
}
