import Tensors

/// Splits elementwise work over the machine's cores once buffers are large enough to pay for it.
enum ParallelChunks {
    /// Below this many elements one thread is faster than waking others.
    static let parallelThreshold = 1 << 16
    /// Elements processed together by every fused transform, small enough to stay in L1/L2.
    static let tile = 4096

    /// The threads BLAS was given: when ranks fill the cores (one BLAS thread each), the optimizer
    /// must not put a second thread on every core either.
    static let threads = max(1, BLAS.threadCount)

    /// Calls `body` on disjoint, 16-aligned sub-ranges of `range` covering it, each at most `tile` long:
    /// the chunks of `forEachChunk`, each walked in tiles.
    static func forEachTile(_ range: Range<Int>, _ body: (Range<Int>) -> Void) {
        forEachChunk(range) { chunk in tiles(chunk, body) }
    }

    /// Calls `body` on a few large, contiguous, 16-aligned sub-ranges of `range` (a handful per
    /// core, so a core slowed by a neighbour's load hands its share to the other), for kernels
    /// that stream every buffer exactly once and gain nothing from cache-sized tiles.
    static func forEachChunk(_ range: Range<Int>, _ body: (Range<Int>) -> Void) {
        let count = range.count
        if count < parallelThreshold || threads == 1 {
            body(range)
            return
        }
        let parts = threads * 4
        let per = ((count + parts - 1) / parts + 15) & ~15
        Parallel.forEachTask((count + per - 1) / per) { index in
            let low = range.lowerBound + index * per
            let high = min(range.upperBound, low + per)
            if low < high { body(low..<high) }
        }
    }

    /// Sums `body`'s pair of partial results over the same contiguous sub-ranges as `forEachChunk`, in
    /// sub-range order, so the total depends only on `range` (never on thread timing).
    static func sum(_ range: Range<Int>, _ body: (Range<Int>) -> SIMD2<Double>) -> SIMD2<Double> {
        let count = range.count
        if count < parallelThreshold || threads == 1 { return body(range) }
        let parts = threads * 4
        let per = ((count + parts - 1) / parts + 15) & ~15
        let iterations = (count + per - 1) / per
        let partials = UnsafeMutableBufferPointer<SIMD2<Double>>.allocate(capacity: iterations)
        defer { partials.deallocate() }
        partials.initialize(repeating: .zero)
        Parallel.forEachTask(iterations) { index in
            let low = range.lowerBound + index * per
            let high = min(range.upperBound, low + per)
            if low < high { partials[index] = body(low..<high) }
        }
        return partials.reduce(.zero, +)
    }

    private static func tiles(_ range: Range<Int>, _ body: (Range<Int>) -> Void) {
        var low = range.lowerBound
        while low < range.upperBound {
            let high = min(range.upperBound, low + tile)
            body(low..<high)
            low = high
        }
    }
}
