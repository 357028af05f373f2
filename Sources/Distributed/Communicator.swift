/// How a collective combines its inputs.
public enum ReductionOperation: Sendable {
    case sum, max, min
}

/// A failure of a collective or of the communication layer, with MPI's own text.
public enum CommunicationError: Error, CustomStringConvertible, Equatable {
    case mpi(call: String, code: Int32, message: String)
    case lengthMismatch(call: String, expected: Int, actual: Int)
    case invalidRoot(Int, size: Int)

    public var description: String {
        switch self {
        case .mpi(let call, let code, let message): "\(call) failed (MPI error \(code)): \(message)"
        case .lengthMismatch(let call, let expected, let actual):
            "\(call): buffer holds \(actual) elements, expected \(expected)"
        case .invalidRoot(let root, let size): "root rank \(root) outside 0..<\(size)"
        }
    }
}

/// Element types the collectives move.
public protocol CollectiveElement: Sendable {}
extension Float: CollectiveElement {}
extension Double: CollectiveElement {}
extension Int64: CollectiveElement {}

/// A non-blocking reduction in flight. Its buffer must stay alive and untouched until `wait()`.
public protocol PendingReduction: AnyObject {
    /// Blocks until the reduction is complete.
    func wait() throws(CommunicationError)
    /// Whether the reduction has completed (progresses it as a side effect).
    func test() throws(CommunicationError) -> Bool
}

/// The group of processes training together. The only door to MPI for the rest of the code;
/// passed explicitly, never global. Every rank must call the same collectives in the same order.
public protocol Communicator: AnyObject {
    var rank: Int { get }
    var size: Int { get }
    /// The host this rank runs on.
    var processorName: String { get }
    /// The communication library and its version.
    var libraryVersion: String { get }

    func barrier() throws(CommunicationError)
    func broadcast<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int) throws(CommunicationError)
    func broadcast(bytes buffer: UnsafeMutableRawBufferPointer, root: Int) throws(CommunicationError)
    func allReduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, _ operation: ReductionOperation) throws(CommunicationError)
    /// In-place SUM of bfloat16 values (their bit patterns): each pair added in float32 and rounded back.
    func allReduceBFloat16Sum(_ buffer: UnsafeMutableBufferPointer<UInt16>) throws(CommunicationError)
    func startAllReduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, _ operation: ReductionOperation) throws(CommunicationError) -> PendingReduction
    /// `input` holds `size` blocks of `output.count`; rank r receives the reduction of block r.
    func reduceScatter(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>, _ operation: ReductionOperation) throws(CommunicationError)
    /// Every rank contributes `input`; `output` receives all of them in rank order.
    func allGather(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>) throws(CommunicationError)
    /// In place over blocks of any lengths: `buffer` is `counts` (one length per rank, blocks in rank
    /// order) long and holds this rank's whole input; on return this rank's own block holds the
    /// reduction of that block over all ranks, and the other blocks are undefined.
    func reduceScatter<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, blocks counts: [Int],
                                             _ operation: ReductionOperation) throws(CommunicationError)
    /// In place over blocks of any lengths: every rank's own block of `buffer` is copied to all ranks.
    func allGather<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, blocks counts: [Int]) throws(CommunicationError)
    /// Rank `root` receives every rank's `input` (`counts[r]` long from rank r) in rank order into
    /// `output`, which only `root` reads (others may pass an empty buffer).
    func gather<T: CollectiveElement>(_ input: UnsafeBufferPointer<T>, into output: UnsafeMutableBufferPointer<T>,
                                      blocks counts: [Int], root: Int) throws(CommunicationError)
    /// Ends every process of the job, now. For failures that the other ranks cannot see.
    func abort(code: Int32) -> Never
    /// Seconds on a wall clock shared by the job's processes.
    func wallClock() -> Double
    /// Whether a thread other than the main one may call collectives while the main thread calls
    /// none (MPI_THREAD_SERIALIZED), as `OverlappedReduction`'s communication thread does.
    var allowsCollectivesFromAnotherThread: Bool { get }
    /// What ends this process when a collective overruns its deadline; nil where none can hang.
    var watchdog: CollectiveWatchdog? { get }
}

extension Communicator {
    public var isRoot: Bool { rank == 0 }

    /// Reduces a single value.
    public func allReduce<T: CollectiveElement>(_ value: T, _ operation: ReductionOperation) throws(CommunicationError) -> T {
        var copy = value
        try withUnsafeMutablePointer(to: &copy) { (pointer) throws(CommunicationError) in
            try allReduce(UnsafeMutableBufferPointer(start: pointer, count: 1), operation)
        }
        return copy
    }

    /// Whether every rank passes `flag == true`; a collective, so every rank must call it.
    public func allAgree(_ flag: Bool) throws(CommunicationError) -> Bool {
        try allReduce(Int64(flag ? 0 : 1), .max) == 0
    }
}
