import Foundation
import Synchronization

/// Ends this process when one collective has not completed within its deadline, with one line that
/// names the rank, the step and the collective — instead of waiting forever for a rank that died
/// without its host telling anyone, or behind a link that went down.
///
/// A blocking MPI call cannot be interrupted, so a thread of its own watches the clock and ends the
/// process with `_exit`. mpirun sees a rank exit with a non-zero status and ends the job on every
/// host it can still reach; the ranks behind a lost link time out the same way on their side, and
/// their daemons, which lose mpirun, end with them.
///
/// Before it ends the process it calls the roll (`RollCall`): on a communicator of its own, beside
/// the blocked collective (MPI_THREAD_MULTIPLE), it tells every rank that its collective overran and
/// waits a few seconds for each rank's word; every watchdog polls for such a call and answers it at
/// once. So the ranks that did not answer — stopped, or behind a link that is down — are known, and
/// the lowest rank whose collective overran prints the one line that names them; the others end
/// quietly. A rank that is merely slow (a rate-limited
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

    /// How long a roll call waits for the other ranks' word.
    public static let rollCallSeconds = 3.0

    private let size: Int
    private let rollCall: RollCall?
    private let stopRequested = Atomic<Bool>(false)
    private let stopped = Atomic<Bool>(false)

    /// `rollCall`: how this rank learns which ranks still answer (nil: it cannot, and says so).
    public init(rank: Int, size: Int = 1, rollCall: RollCall? = nil) {
        self.rank = rank
        self.size = size
        self.rollCall = rollCall
    }

    /// The side channel the watchdog calls the roll on; its functions are used by the watchdog's
    /// thread only, `open` (a collective) on every rank's main thread before that thread starts.
    public struct RollCall: Sendable {
        public let open: @Sendable () -> Bool
        public let heard: @Sendable () -> Bool
        /// Announces this rank (whether its collective overran) and returns each rank's word after
        /// at most `seconds`: 0 not heard from, 1 answered, 2 its collective overran.
        public let call: @Sendable (_ seconds: Double, _ overran: Bool) -> [Int]

        public init(open: @escaping @Sendable () -> Bool, heard: @escaping @Sendable () -> Bool,
                    call: @escaping @Sendable (Double, Bool) -> [Int]) {
            self.open = open
            self.heard = heard
            self.call = call
        }
    }
    private let rollCallOpen = Atomic<Bool>(false)

    /// Stops the watching thread and waits until it has left any MPI call (before MPI_Finalize).
    public func stop() {
        guard watching.load(ordering: .relaxed) else { return }
        stopRequested.store(true, ordering: .releasing)
        while !stopped.load(ordering: .acquiring) { usleep(1000) }
    }

    /// Starts watching with `timeout` seconds per collective (0 or less: never).
    public func arm(timeout: Double) {
        timeoutMilliseconds.store(timeout > 0 ? max(1, Int(timeout * 1000)) : 0, ordering: .relaxed)
        guard timeout > 0, watching.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged
        else { return }
        rollCallOpen.store(rollCall?.open() ?? false, ordering: .relaxed)
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
        defer { stopped.store(true, ordering: .releasing) }
        let canCall = rollCallOpen.load(ordering: .relaxed)
        while true {
            Thread.sleep(forTimeInterval: 0.2)
            if stopRequested.load(ordering: .acquiring) { return }
            let limit = timeoutMilliseconds.load(ordering: .relaxed), began = startedAt.load(ordering: .acquiring)
            let overran = limit > 0 && began > 0 && Self.now() - began > limit
            guard overran || (limit > 0 && canCall && rollCall!.heard()) else { continue }
            let words = canCall ? rollCall!.call(Self.rollCallSeconds, overran) : nil
            // The lowest rank whose collective overran speaks for all; the others end quietly.
            if let words, words.firstIndex(of: 2) != rank {
                _exit(Self.exitStatus)
            }
            let call = Collective.allCases[collective.load(ordering: .relaxed)]
            var message = "bigbatch: rank \(rank): \(call.rawValue) of \(count.load(ordering: .relaxed)) elements at step "
                + "\(step.load(ordering: .relaxed) + 1) has not completed after \(Double(limit) / 1000) s (distributed.timeout_s): "
            if let words {
                let silent = words.indices.filter { words[$0] == 0 }
                message += silent.isEmpty
                    ? "every rank answered the watchdog's roll call, so the collective itself is stuck"
                    : (silent.count == 1 ? "rank \(silent[0]) did" : "ranks \(silent.map(String.init).joined(separator: ", ")) did")
                        + " not answer the watchdog's roll call within \(Self.rollCallSeconds) s (stopped, or behind a link that is down)"
            } else {
                message += "a rank that does not print this line stopped answering, or its link is down"
            }
            message += "; ending the job\n"
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
