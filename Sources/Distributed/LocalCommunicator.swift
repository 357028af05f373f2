import Foundation

/// A world of one process, without MPI: every collective is the identity. Lets the optimizers,
/// the trainer and their tests run in-process.
public final class LocalCommunicator: Communicator {
    public init() {}

    public var rank: Int { 0 }
    public var size: Int { 1 }
    public var processorName: String { ProcessInfo.processInfo.hostName }
    public var libraryVersion: String { "none (single process)" }
    public var watchdog: CollectiveWatchdog? { nil }

    public func barrier() throws(CommunicationError) {}
    public func broadcast<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int) throws(CommunicationError) {
        guard root == 0 else { throw .invalidRoot(root, size: 1) }
    }
    public func broadcast(bytes buffer: UnsafeMutableRawBufferPointer, root: Int) throws(CommunicationError) {
        guard root == 0 else { throw .invalidRoot(root, size: 1) }
    }
    public func allReduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, _ operation: ReductionOperation) throws(CommunicationError) {}
    public func allReduceBFloat16Sum(_ buffer: UnsafeMutableBufferPointer<UInt16>) throws(CommunicationError) {}
    public func startAllReduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, _ operation: ReductionOperation) throws(CommunicationError) -> PendingReduction {
        CompletedReduction()
    }
    public func reduceScatter(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>, _ operation: ReductionOperation) throws(CommunicationError) {
        guard input.count == output.count else {
            throw .lengthMismatch(call: "reduceScatter", expected: output.count, actual: input.count)
        }
        _ = output.update(fromContentsOf: input)
    }
    public func allGather(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>) throws(CommunicationError) {
        guard input.count == output.count else {
            throw .lengthMismatch(call: "allGather", expected: input.count, actual: output.count)
        }
        _ = output.update(fromContentsOf: input)
    }
    public func reduceScatter<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, blocks counts: [Int],
                                                    _ operation: ReductionOperation) throws(CommunicationError) {
        guard counts == [buffer.count] else { throw .lengthMismatch(call: "reduceScatter", expected: buffer.count, actual: counts.reduce(0, +)) }
    }
    public func allGather<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, blocks counts: [Int]) throws(CommunicationError) {
        guard counts == [buffer.count] else { throw .lengthMismatch(call: "allGather", expected: buffer.count, actual: counts.reduce(0, +)) }
    }
    public func gather<T: CollectiveElement>(_ input: UnsafeBufferPointer<T>, into output: UnsafeMutableBufferPointer<T>,
                                             blocks counts: [Int], root: Int) throws(CommunicationError) {
        guard root == 0 else { throw .invalidRoot(root, size: 1) }
        guard counts == [input.count], output.count == input.count else {
            throw .lengthMismatch(call: "gather", expected: input.count, actual: output.count)
        }
        _ = output.update(fromContentsOf: input)
    }
    public var allowsCollectivesFromAnotherThread: Bool { true }
    public func abort(code: Int32) -> Never { exit(code) }
    public func wallClock() -> Double { Date().timeIntervalSince1970 }
}

final class CompletedReduction: PendingReduction {
    func wait() throws(CommunicationError) {}
    func test() throws(CommunicationError) -> Bool { true }
}
