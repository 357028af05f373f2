import Tensors

/// Sums the gradient buffer and the step's scalars (loss sum, item count, non-finite ranks) over all
/// ranks: the one reduction per optimizer step.
///
/// With `distributed.bucket_mb` the buffer goes in buckets, one blocking `MPI_Allreduce` each,
/// those of `OverlappedReduction`; with one bucket this is exactly one `MPI_Allreduce` on the flat buffer.
public final class GradientReducer {
    public let communicator: any Communicator
    /// Elements per bucket (0 or ≥ the buffer: one reduction).
    public let bucketElements: Int
    /// `distributed.compress: bf16`: the gradient sums travel as bfloat16, half the bytes, each partial
    /// sum rounded to 8 significant bits — no longer equal to one process's sums, so off by default.
    public let compressesToBFloat16: Bool
    private var compressed: [UInt16] = []

    public init(communicator: any Communicator, bucketBytes: Int = 0, compressesToBFloat16: Bool = false) {
        self.communicator = communicator
        self.bucketElements = bucketBytes / MemoryLayout<Float>.stride
        self.compressesToBFloat16 = compressesToBFloat16
    }

    /// Reduces `gradients` (SUM) and `scalars` (SUM, in Double so that counts and loss sums stay exact).
    public func reduce(_ gradients: UnsafeMutableBufferPointer<Float>, scalars: inout [Double]) throws(CommunicationError) {
        guard communicator.size > 1 else { return }
        let total = gradients.count
        if compressesToBFloat16 {
            if compressed.count != total { compressed = Array(repeating: 0, count: total) }
            try compressed.withUnsafeMutableBufferPointer { (words) throws(CommunicationError) in
                BFloat16.round(UnsafeBufferPointer(gradients), into: words)
                try communicator.allReduceBFloat16Sum(words)
                BFloat16.expand(UnsafeBufferPointer(words), into: gradients)
            }
        } else if bucketElements <= 0 || bucketElements >= total {
            try communicator.allReduce(gradients, .sum)
        } else {
            // One blocking all-reduce per bucket, from the buffer's end, as `OverlappedReduction` does
            // during backward: the same calls, so the same bits with and without overlap. (Starting
            // them all as non-blocking reductions and waiting was measured slower with OpenMPI.)
            for bucket in OverlappedReduction.buckets(count: total, elements: bucketElements) {
                try communicator.allReduce(UnsafeMutableBufferPointer(rebasing: gradients[bucket]), .sum)
            }
        }
        try scalars.withUnsafeMutableBufferPointer { (buffer) throws(CommunicationError) in
            try communicator.allReduce(buffer, .sum)
        }
    }

    /// ZeRO stage 1's reduction: each rank receives the sums of its own block of `gradients` only
    /// (`blocks`: one length per rank, in rank order), and `scalars` as `reduce` gives them.
    public func reduceScatter(_ gradients: UnsafeMutableBufferPointer<Float>, blocks: [Int], scalars: inout [Double]) throws(CommunicationError) {
        guard communicator.size > 1 else { return }
        try communicator.reduceScatter(gradients, blocks: blocks, .sum)
        try scalars.withUnsafeMutableBufferPointer { (buffer) throws(CommunicationError) in
            try communicator.allReduce(buffer, .sum)
        }
    }

    /// The reproducible mode's reduction: the fixed-point sums and their trailing scalars (SUM, exact
    /// in any order) and the largest exponents every rank observed (MAX), so that all ranks decide
    /// alike whether the step overflowed its bounds.
    public func reduce(_ sum: FixedPointGradientSum) throws(CommunicationError) {
        guard communicator.size > 1 else { return }
        try communicator.allReduce(sum.values, .sum)
        var observed = sum.observed.map(Int64.init)
        try observed.withUnsafeMutableBufferPointer { (buffer) throws(CommunicationError) in
            try communicator.allReduce(buffer, .max)
        }
        sum.setObserved(observed.map { Int($0) })
    }
}
