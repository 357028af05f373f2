#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// A summed loss and the number of items it sums over.
///
/// Sums, not means: ranks and micro-batches add their sums and counts, and the trainer divides
/// once by the global count, which is what makes any split of a batch give the same update.
public struct LossSum: Sendable, Equatable {
    public var sum: Double
    public var items: Int

    public init(sum: Double = 0, items: Int = 0) {
        self.sum = sum
        self.items = items
    }
}

/// Softmax cross-entropy over logits `[batch, classes]` with SUM reduction.
///
/// Items whose label equals `ignoreIndex` add nothing to the loss, the count or the gradient.
/// A label outside `0..<classes` (other than the ignore index) is a data error the loader must
/// rule out, and stops the program.
public struct SoftmaxCrossEntropy: Sendable {
    public let classes: Int
    public let ignoreIndex: Int32

    public init(classes: Int, ignoreIndex: Int32 = -1) {
        precondition(classes > 0, "cross-entropy needs at least one class")
        self.classes = classes
        self.ignoreIndex = ignoreIndex
    }

    /// The summed loss; when `gradient` is given, writes d(sum)/d(logits) = softmax − one-hot (zero rows for ignored items).
    public func callAsFunction(logits: UnsafePointer<Float>, labels: UnsafePointer<Int32>, count: Int,
                               gradient: UnsafeMutablePointer<Float>?) -> LossSum {
        var result = LossSum()
        let c = classes
        for b in 0..<count {
            let z = logits + b * c
            let label = labels[b]
            if label == ignoreIndex {
                gradient.map { ($0 + b * c).update(repeating: 0, count: c) }
                continue
            }
            precondition(label >= 0 && Int(label) < c, "label \(label) outside 0..<\(c) (ignore index \(ignoreIndex))")
            var top = z[0]
            for j in 1..<c { top = max(top, z[j]) }
            var total: Float = 0
            for j in 0..<c { total += expf(z[j] - top) }
            result.sum += Double(top) + log(Double(total)) - Double(z[Int(label)])
            result.items += 1
            if let gradient {
                let g = gradient + b * c
                let inverse = 1 / total
                for j in 0..<c { g[j] = expf(z[j] - top) * inverse }
                g[Int(label)] -= 1
            }
        }
        return result
    }
}
