import Foundation
import Synchronization

/// Ends this process when one collective has not completed within its deadline, with one line that
/// names the rank, the step and the collective — instead of waiting forever for a rank that died
/// without its host telling anyone, or behind a link that went down.
///
/// A blocking MPI call cannot be interrupted and, with MPI initialized for one calling thread, no
/// other thread may call MPI to abort it; so a thread of its own watches the clock and ends the
/// process with `_exit`. mpirun sees a rank exit with a non-zero status and ends the job on every
/// host it can still reach; the ranks behind a lost link time out the same way on their side, and
/// their daemons, which lose mpirun, end with them. A rank that is merely slow (a rate-limited
/// link) never trips it while each collective completes in time. The deadline covers waiting for
/// other ranks too (one writing a checkpoint while the rest wait at the next collective), so it must
/// exceed the longest such pause; PyTorch's default for NCCL is the same 10 minutes.
public final class CollectiveWatchdog: Sendable {
    /// The exit status of a process the watchdog ended (as timeout(1) uses).
    public static let exitStatus: Int32 = 124
    public static let defaultTimeout = 600.0

    private let rank: Int
    /// Milliseconds allowed per collective; 0 until `arm`, and then while disarmed.
    private let timeoutMilliseconds = Atomic<Int>(0)
    /// Monotonic milliseconds when the collective in flight began; 0 when none is.
    private let startedAt = Atomic<Int>(0)
    /// The collective in flight (an index into `Collective.allCases`) and its element count.
    private let collective = Atomic<Int>(0)
    private let count = Atomic<Int>(0)
    /// The optimizer step the job is in, for the message.
    private let step = Atomic<Int>(0)
    private let watching = Atomic<Bool>(false)

    /// The collectives it names.
    public enum Collective: String, CaseIterable, Sendable {
        case barrier = "MPI_Barrier", broadcast = "MPI_Bcast", allReduce = "MPI_Allreduce"
        case wait = "MPI_Wait", reduceScatter = "MPI_Reduce_scatter_block", allGather = "MPI_Allgather"
        case reduceScatterBlocks = "MPI_Reduce_scatter", allGatherBlocks = "MPI_Allgatherv", gather = "MPI_Gatherv"
    }

    public init(rank: Int) { self.rank = rank }

    /// Starts watching with `timeout` seconds per collective (0 or less: never).
    public func arm(timeout: Double) {
        timeoutMilliseconds.store(timeout > 0 ? max(1, Int(timeout * 1000)) : 0, ordering: .relaxed)
        guard timeout > 0, watching.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged
        else { return }
        let thread = Thread { [self] in watch() }
        thread.name = "collective watchdog"
        thread.start()
    }

    /// The step the next collectives belong to.
    public func setStep(_ value: Int) { step.store(value, ordering: .relaxed) }

    /// Runs `body`, one collective of `elements` elements, under the deadline.
    @inline(__always)
    public func guarding<R, E: Error>(_ call: Collective, elements: Int, _ body: () throws(E) -> R) throws(E) -> R {
        guard timeoutMilliseconds.load(ordering: .relaxed) > 0 else { return try body() }
        collective.store(Collective.allCases.firstIndex(of: call)!, ordering: .relaxed)
        count.store(elements, ordering: .relaxed)
        startedAt.store(Self.now(), ordering: .releasing)
        defer { startedAt.store(0, ordering: .releasing) }
        return try body()
    }

    private func watch() {
        while true {
            Thread.sleep(forTimeInterval: 0.2)
            let limit = timeoutMilliseconds.load(ordering: .relaxed), began = startedAt.load(ordering: .acquiring)
            guard limit > 0, began > 0, Self.now() - began > limit else { continue }
            let call = Collective.allCases[collective.load(ordering: .relaxed)]
            let message = "bigbatch: rank \(rank): \(call.rawValue) of \(count.load(ordering: .relaxed)) elements at step "
                + "\(step.load(ordering: .relaxed) + 1) has not completed after \(Double(limit) / 1000) s "
                + "(distributed.timeout_s): a rank that does not print this line stopped answering, or its link is down; "
                + "ending this process\n"
            message.utf8CString.withUnsafeBufferPointer { bytes in _ = write(2, bytes.baseAddress, bytes.count - 1) }
            _exit(Self.exitStatus)
        }
    }

    private static func now() -> Int {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return time.tv_sec * 1000 + time.tv_nsec / 1_000_000 + 1
    }
}
