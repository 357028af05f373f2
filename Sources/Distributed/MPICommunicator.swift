import CMPI
import Foundation

/// The communicator of all processes started by `mpirun` (or a single process without it:
/// OpenMPI's singleton mode).
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int
    /// Ends this process when a collective overruns `distributed.timeout_s` (armed by the trainer).
    public let watchdog: CollectiveWatchdog?

    /// Initializes MPI (once per process) and sets errors to return codes instead of aborting.
    public init() throws(CommunicationError) {
        try MPICommunicator.check(cmpi_init(), "MPI_Init")
        var rank: Int32 = 0, size: Int32 = 0
        try MPICommunicator.check(cmpi_rank(&rank), "MPI_Comm_rank")
        try MPICommunicator.check(cmpi_size(&size), "MPI_Comm_size")
        self.rank = Int(rank)
        self.size = Int(size)
        let ranks = Int(size)
        watchdog = CollectiveWatchdog(rank: Int(rank), size: ranks, rollCall: CollectiveWatchdog.RollCall(
            open: { cmpi_roll_call_open() != 0 },
            heard: { cmpi_roll_call_heard() != 0 },
            call: { seconds, overran in
                var words = [Int32](repeating: 0, count: ranks)
                _ = cmpi_roll_call(seconds, overran ? 1 : 0, &words)
                return words.map(Int.init)
            }))
    }

    /// Finalizes MPI; call once, after the last collective, on every rank.
    public func finalize() {
        watchdog?.stop()
        if cmpi_is_initialized() != 0 && cmpi_is_finalized() == 0 { _ = cmpi_finalize() }
    }

    public var allowsCollectivesFromAnotherThread: Bool { cmpi_serialized_threads() != 0 }

    public var processorName: String {
        var buffer = [CChar](repeating: 0, count: 256)
        _ = cmpi_processor_name(&buffer, Int32(buffer.count))
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public var libraryVersion: String {
        var buffer = [CChar](repeating: 0, count: 4096)
        _ = cmpi_library_version(&buffer, Int32(buffer.count))
        let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        // "Open MPI v4.1.4, package: ..." → "Open MPI v4.1.4"
        return text.split(separator: ",").first.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? text
    }

    public func barrier() throws(CommunicationError) {
        try watchdog?.guarding(.barrier, elements: 0) { () throws(CommunicationError) in
            try MPICommunicator.check(cmpi_barrier(), "MPI_Barrier")
        }
    }

    public func broadcast<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int) throws(CommunicationError) {
        try checkRoot(root)
        try watchdog?.guarding(.broadcast, elements: buffer.count) { () throws(CommunicationError) in
            try MPICommunicator.check(
                cmpi_broadcast(buffer.baseAddress, Int64(buffer.count), Self.datatype(T.self), Int32(root)), "MPI_Bcast")
        }
    }

    public func broadcast(bytes buffer: UnsafeMutableRawBufferPointer, root: Int) throws(CommunicationError) {
        try checkRoot(root)
        try watchdog?.guarding(.broadcast, elements: buffer.count) { () throws(CommunicationError) in
            try MPICommunicator.check(cmpi_broadcast(buffer.baseAddress, Int64(buffer.count), CMPI_BYTE, Int32(root)), "MPI_Bcast")
        }
    }

    public func allReduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, _ operation: ReductionOperation) throws(CommunicationError) {
        guard buffer.count > 0 else { return }
        try watchdog?.guarding(.allReduce, elements: buffer.count) { () throws(CommunicationError) in
            try MPICommunicator.check(
                cmpi_allreduce(buffer.baseAddress, Int64(buffer.count), Self.datatype(T.self), Self.op(operation)),
                "MPI_Allreduce")
        }
    }

    public func allReduceBFloat16Sum(_ buffer: UnsafeMutableBufferPointer<UInt16>) throws(CommunicationError) {
        guard buffer.count > 0 else { return }
        try watchdog?.guarding(.allReduce, elements: buffer.count) { () throws(CommunicationError) in
            try MPICommunicator.check(cmpi_allreduce_bf16_sum(buffer.baseAddress, Int64(buffer.count)), "MPI_Allreduce (bfloat16)")
        }
    }

    public func startAllReduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, _ operation: ReductionOperation) throws(CommunicationError) -> PendingReduction {
        var request: cmpi_request? = nil
        try MPICommunicator.check(
            cmpi_iallreduce(buffer.baseAddress, Int64(buffer.count), Self.datatype(T.self), Self.op(operation), &request),
            "MPI_Iallreduce")
        return MPIRequest(request, watchdog: watchdog, elements: buffer.count)
    }

    public func reduceScatter(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>, _ operation: ReductionOperation) throws(CommunicationError) {
        guard input.count == output.count * size else {
            throw .lengthMismatch(call: "MPI_Reduce_scatter_block", expected: output.count * size, actual: input.count)
        }
        try watchdog?.guarding(.reduceScatter, elements: input.count) { () throws(CommunicationError) in
            try MPICommunicator.check(
                cmpi_reduce_scatter_float(input.baseAddress, output.baseAddress, Int64(output.count), Self.op(operation)),
                "MPI_Reduce_scatter_block")
        }
    }

    public func allGather(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>) throws(CommunicationError) {
        guard output.count == input.count * size else {
            throw .lengthMismatch(call: "MPI_Allgather", expected: input.count * size, actual: output.count)
        }
        try watchdog?.guarding(.allGather, elements: output.count) { () throws(CommunicationError) in
            try MPICommunicator.check(cmpi_allgather_float(input.baseAddress, output.baseAddress, Int64(input.count)),
                                      "MPI_Allgather")
        }
    }

    public func reduceScatter<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, blocks counts: [Int],
                                                    _ operation: ReductionOperation) throws(CommunicationError) {
        try checkBlocks(counts, total: buffer.count, call: "MPI_Reduce_scatter")
        let lengths = counts.map(Int64.init)
        try watchdog?.guarding(.reduceScatterBlocks, elements: buffer.count) { () throws(CommunicationError) in
            try MPICommunicator.check(
                cmpi_reduce_scatter_v(buffer.baseAddress, lengths, Self.datatype(T.self), Self.op(operation)),
                "MPI_Reduce_scatter")
        }
    }

    public func allGather<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, blocks counts: [Int]) throws(CommunicationError) {
        try checkBlocks(counts, total: buffer.count, call: "MPI_Allgatherv")
        let lengths = counts.map(Int64.init)
        try watchdog?.guarding(.allGatherBlocks, elements: buffer.count) { () throws(CommunicationError) in
            try MPICommunicator.check(cmpi_allgather_v(buffer.baseAddress, lengths, Self.datatype(T.self)), "MPI_Allgatherv")
        }
    }

    public func gather<T: CollectiveElement>(_ input: UnsafeBufferPointer<T>, into output: UnsafeMutableBufferPointer<T>,
                                             blocks counts: [Int], root: Int) throws(CommunicationError) {
        try checkRoot(root)
        guard counts.count == size, counts[rank] == input.count else {
            throw .lengthMismatch(call: "MPI_Gatherv", expected: counts.count == size ? counts[rank] : size,
                                  actual: counts.count == size ? input.count : counts.count)
        }
        if rank == root { try checkBlocks(counts, total: output.count, call: "MPI_Gatherv") }
        let lengths = counts.map(Int64.init)
        try watchdog?.guarding(.gather, elements: counts.reduce(0, +)) { () throws(CommunicationError) in
            try MPICommunicator.check(cmpi_gather_v(input.baseAddress, output.baseAddress, lengths, Self.datatype(T.self), Int32(root)),
                                      "MPI_Gatherv")
        }
    }

    /// One length per rank, adding up to the buffer's.
    private func checkBlocks(_ counts: [Int], total: Int, call: String) throws(CommunicationError) {
        guard counts.count == size else { throw .lengthMismatch(call: "\(call) block count", expected: size, actual: counts.count) }
        let sum = counts.reduce(0, +)
        guard sum == total else { throw .lengthMismatch(call: call, expected: sum, actual: total) }
    }

    public func abort(code: Int32) -> Never {
        cmpi_abort(code)
        exit(code)  // MPI_Abort does not return; this satisfies the type checker.
    }

    public func wallClock() -> Double { cmpi_wtime() }

    private func checkRoot(_ root: Int) throws(CommunicationError) {
        guard (0..<size).contains(root) else { throw .invalidRoot(root, size: size) }
    }

    public static func check(_ code: Int32, _ call: String) throws(CommunicationError) {
        guard code != 0 else { return }
        var buffer = [CChar](repeating: 0, count: 512)
        cmpi_error_string(code, &buffer, Int32(buffer.count))
        let message = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        throw .mpi(call: call, code: code, message: message)
    }

    static func datatype<T>(_ type: T.Type) -> cmpi_datatype {
        if T.self == Float.self { return CMPI_FLOAT }
        if T.self == Double.self { return CMPI_DOUBLE }
        if T.self == Int64.self { return CMPI_INT64 }
        preconditionFailure("unsupported collective element \(T.self)")
    }

    static func op(_ operation: ReductionOperation) -> cmpi_op {
        switch operation {
        case .sum: CMPI_SUM
        case .max: CMPI_MAX
        case .min: CMPI_MIN
        }
    }
}

/// A non-blocking MPI operation; released when completed.
final class MPIRequest: PendingReduction {
    private var request: cmpi_request?
    private let watchdog: CollectiveWatchdog?
    private let elements: Int

    init(_ request: cmpi_request?, watchdog: CollectiveWatchdog?, elements: Int) {
        self.request = request
        self.watchdog = watchdog
        self.elements = elements
    }

    func wait() throws(CommunicationError) {
        guard request != nil else { return }
        try watchdog?.guarding(.wait, elements: elements) { () throws(CommunicationError) in
            try MPICommunicator.check(cmpi_wait(&request), "MPI_Wait")
        }
    }

    func test() throws(CommunicationError) -> Bool {
        guard request != nil else { return true }
        var done: Int32 = 0
        try MPICommunicator.check(cmpi_test(&request, &done), "MPI_Test")
        return done != 0
    }

    deinit {
        // A request must not be abandoned while MPI may still write into its buffer.
        if request != nil { _ = cmpi_wait(&request) }
    }
}
