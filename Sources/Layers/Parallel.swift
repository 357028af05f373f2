import Dispatch
import Tensors

/// Splits elementwise loops over the threads BLAS uses, since OpenBLAS only parallelizes its own
/// products and the copies around them (im2col, col2im, pooling) would otherwise run on one core.
enum Parallel {
    /// Below this many touched elements a loop stays on the calling thread: waking a worker costs
    /// more than it saves.
    static let minimumWork = 1 << 15

    /// Calls `body` on disjoint contiguous ranges covering `0..<count`, concurrently when `work`
    /// (elements touched in all) is large enough to pay for it. Ranges must write disjoint memory.
    static func forEachRange(_ count: Int, work: Int, _ body: (Range<Int>) -> Void) {
        let workers = min(BLAS.threadCount, count)
        guard workers > 1, work >= minimumWork else {
            if count > 0 { body(0..<count) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let shared = SharedBody(call: body)
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                shared.call((count * worker / workers)..<(count * (worker + 1) / workers))
            }
        }
    }
}

/// The loop body handed to the workers. Sound because callers give each worker a disjoint range
/// to write, and `concurrentPerform` returns only after all of them finish.
private struct SharedBody: @unchecked Sendable {
    let call: (Range<Int>) -> Void
}
