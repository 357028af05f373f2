import Foundation
import Tensors

/// The gradient reduction overlapped with backward (`distributed.overlap`), as PyTorch DDP's
/// reducer does it: the flat gradient buffer in buckets (`distributed.bucket_mb`), each reduced as
/// soon as the last micro-step's backward has finished writing it, the step waiting only for what
/// is still in flight when backward ends.
///
/// Backward finishes the buffer from its end (the last layer's parameters) to its start, so buckets
/// are cut from the end, and each is handed to a communication thread once the model reports its
/// range final (`Model.forwardBackward`'s `gradientsFinal`). That thread reduces them one after
/// another with the blocking all-reduce — the same calls, in the same order, as the blocking
/// bucketed reduction, so the same bits — while the main thread computes. Non-blocking collectives
/// would need the main thread to drive their progress from inside backward, and OpenMPI's were
/// measured slower than the blocking ones here. MPI is initialized MULTIPLE (SERIALIZED would do): while a
/// step's buckets are in flight only the communication thread calls MPI, and the main thread
/// calls it again only after `wait` has seen every bucket done.
///
/// The bucket holding the buffer's first element is reduced last, after the micro-steps and any
/// injected fault have left the buffer (`enqueueRemaining`), and the step's scalars right after it.
public final class OverlappedReduction {
    public let communicator: any Communicator
    /// Buckets from the buffer's end to its start: the order backward finishes them.
    public let buckets: [Range<Int>]
    private let gradients: UnsafeMutablePointer<Float>
    /// What the main thread and the communication thread share; the thread keeps it alive.
    private let channel: Channel
    private var thread: Thread?

    /// This rank's squared gradient norm and finiteness, summed bucket by bucket as they are handed
    /// over (before the reduction overwrites them).
    public private(set) var localSquaredNorm = 0.0
    public private(set) var locallyFinite = true

    /// `bucketElements` ≤ 0 or beyond the buffer: one bucket, reduced after backward (nothing overlaps).
    public init(communicator: any Communicator, gradients: FloatBuffer, bucketElements: Int) {
        self.communicator = communicator
        self.gradients = gradients.baseAddress
        buckets = Self.buckets(count: gradients.count, elements: bucketElements)
        channel = Channel(communicator: communicator, gradients: gradients.pointer, buckets: buckets)
    }

    deinit {
        channel.condition.lock()
        channel.stopping = true
        channel.condition.broadcast()
        channel.condition.unlock()
    }

    /// `count` elements cut into buckets of `elements` from the end, the shortest at the start.
    public static func buckets(count: Int, elements: Int) -> [Range<Int>] {
        guard elements > 0, elements < count else { return [0..<count] }
        var ranges: [Range<Int>] = []
        var end = count
        while end > 0 {
            ranges.append(max(0, end - elements)..<end)
            end -= elements
        }
        return ranges
    }

    /// Starts a step: no bucket handed over yet.
    public func begin() {
        if thread == nil {
            let channel = channel
            let thread = Thread { channel.run() }
            thread.name = "gradient reduction"
            self.thread = thread
            thread.start()
        }
        channel.condition.lock()
        channel.queued = 0
        channel.completed = 0
        channel.busySeconds = 0
        channel.condition.unlock()
        localSquaredNorm = 0
        locallyFinite = true
        handed = 0
    }

    /// Buckets handed over in this step (main thread only).
    private var handed = 0

    /// The model's word that the gradients from `offset` on are final: every bucket inside that
    /// part goes to the communication thread, except the first bucket of the buffer.
    public func gradientsFinal(from offset: Int) {
        while handed < buckets.count - 1 && buckets[handed].lowerBound >= offset { hand() }
    }

    /// After the micro-steps (and any fault the `debug` section injects): the buckets not yet handed
    /// over, the first of the buffer last. `localSquaredNorm` and `locallyFinite` are complete then.
    public func enqueueRemaining() {
        while handed < buckets.count { hand() }
    }

    /// Waits for every bucket, then reduces the step's `scalars` (SUM). Returns the seconds spent
    /// reducing, and the seconds this call waited (the communication backward left exposed).
    public func wait(scalars: inout [Double]) throws(CommunicationError) -> (communication: Double, exposed: Double) {
        precondition(handed == buckets.count, "wait before every bucket was handed over")
        let start = monotonicSeconds()
        channel.condition.lock()
        while channel.completed < buckets.count { channel.condition.wait() }
        let error = channel.failure, busy = channel.busySeconds
        channel.failure = nil
        channel.condition.unlock()
        if let error { throw error }
        let waited = monotonicSeconds() - start
        let scalarStart = monotonicSeconds()
        try scalars.withUnsafeMutableBufferPointer { (buffer) throws(CommunicationError) in
            try communicator.allReduce(buffer, .sum)
        }
        let scalarSeconds = monotonicSeconds() - scalarStart
        return (busy + scalarSeconds, waited + scalarSeconds)
    }

    private func hand() {
        let range = buckets[handed]
        localSquaredNorm += VectorMath.sumOfSquares(gradients + range.lowerBound, range.count)
        if locallyFinite && !VectorMath.allFinite(gradients + range.lowerBound, range.count) { locallyFinite = false }
        handed += 1
        channel.condition.lock()
        channel.queued = handed
        channel.condition.broadcast()
        channel.condition.unlock()
    }

    /// The state both threads touch, under `condition` (the buffer only as `wait` and `hand` allow).
    private final class Channel: @unchecked Sendable {
        let communicator: any Communicator
        let gradients: UnsafeMutableBufferPointer<Float>
        let buckets: [Range<Int>]
        let condition = NSCondition()
        /// Buckets handed to the thread in this step, and reduced by it.
        var queued = 0, completed = 0
        var failure: CommunicationError?
        var busySeconds = 0.0
        var stopping = false

        init(communicator: any Communicator, gradients: UnsafeMutableBufferPointer<Float>, buckets: [Range<Int>]) {
            self.communicator = communicator
            self.gradients = gradients
            self.buckets = buckets
        }

        /// The communication thread: each handed bucket in order, with the blocking all-reduce; after
        /// a failure the rest are only counted, and `wait` reports it.
        func run() {
            condition.lock()
            while true {
                while completed == queued && !stopping { condition.wait() }
                if stopping { break }
                let range = buckets[completed]
                let failed = failure != nil
                condition.unlock()
                let start = monotonicSeconds()
                var error: CommunicationError?
                if !failed {
                    do {
                        try communicator.allReduce(UnsafeMutableBufferPointer(rebasing: gradients[range]), .sum)
                    } catch let caught {
                        error = caught
                    }
                }
                let seconds = monotonicSeconds() - start
                condition.lock()
                if let error, failure == nil { failure = error }
                busySeconds += seconds
                completed += 1
                condition.broadcast()
            }
            condition.unlock()
        }
    }
}
