import Dispatch

/// The one place work fans out over threads: BLAS parallelizes only its own products, so the
/// copies and elementwise loops around them (pooling, activations, dropout, optimizer updates) and the model's
/// replicas go through here. Workers follow BLAS's thread count, which the launcher sets so that
/// ranks sharing a machine never put two busy threads on one core.
public enum Parallel {
    /// Below this many touched elements a loop stays on the calling thread: waking a worker costs
    /// more than it saves.
    public static let minimumWork = 1 << 15

    /// Calls `body(0..<tasks)` concurrently, one task per thread, and returns when all have finished.
    /// Tasks must write disjoint memory.
    public static func forEachTask(_ tasks: Int, _ body: (Int) -> Void) {
        guard tasks > 1 else {
            if tasks == 1 { body(0) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let shared = SharedBody(call: body)
            DispatchQueue.concurrentPerform(iterations: tasks) { shared.call($0) }
        }
    }

    /// Calls `body` on disjoint contiguous ranges covering `0..<count`, one per BLAS thread, when
    /// `work` (elements touched in all) is large enough to pay for it. Ranges must write disjoint memory.
    public static func forEachRange(_ count: Int, work: Int, _ body: (Range<Int>) -> Void) {
        let workers = min(BLAS.threadCount, count)
        guard workers > 1, work >= minimumWork else {
            if count > 0 { body(0..<count) }
            return
        }
        forEachTask(workers) { worker in body((count * worker / workers)..<(count * (worker + 1) / workers)) }
    }
}

/// The body handed to the workers. Sound because callers give each task disjoint memory to
/// write, and `concurrentPerform` returns only after all of them finish.
private struct SharedBody: @unchecked Sendable {
    let call: (Int) -> Void
}
