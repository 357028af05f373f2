import Tensors

/// A scratch buffer that grows to the largest size asked for and is reused otherwise, so the
/// steady state allocates nothing (a short last batch reuses the buffers of the full ones).
final class Workspace {
    private(set) var buffer = FloatBuffer(count: 0)

    func reserve(_ count: Int) {
        if count > buffer.count { buffer = FloatBuffer(count: count) }
    }

    var pointer: UnsafeMutablePointer<Float> { buffer.baseAddress }
    var capacity: Int { buffer.count }
}

/// A growing buffer of `Int32` indices (max-pooling winners).
final class IndexWorkspace {
    private(set) var pointer: UnsafeMutablePointer<Int32>
    private(set) var capacity = 0

    init() { pointer = .allocate(capacity: 1) }

    deinit { pointer.deallocate() }

    func reserve(_ count: Int) {
        guard count > capacity else { return }
        pointer.deallocate()
        pointer = .allocate(capacity: count)
        capacity = count
    }
}
