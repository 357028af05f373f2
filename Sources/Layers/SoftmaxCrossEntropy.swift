import Tensors

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
        if gradient != nil { return loss(logits: logits, labels: labels, count: count, gradient: gradient, scratch: nil) }
        // Without a gradient buffer the exponentials go to one row of scratch on the stack.
        return withUnsafeTemporaryAllocation(of: Float.self, capacity: classes) { row in
            loss(logits: logits, labels: labels, count: count, gradient: nil, scratch: row.baseAddress!)
        }
    }

    private func loss(logits: UnsafePointer<Float>, labels: UnsafePointer<Int32>, count: Int,
                      gradient: UnsafeMutablePointer<Float>?, scratch: UnsafeMutablePointer<Float>?) -> LossSum {
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
            let top = Elementwise.maximum(z, count: c)
            // The exponentials land in the gradient row (or scratch) once and are scaled there.
            let g = gradient.map { $0 + b * c } ?? scratch!
            let total = Elementwise.exponentials(z, minus: top, into: g, count: c)
            result.sum += Double(top) + log(Double(total)) - Double(z[Int(label)])
            result.items += 1
            if gradient != nil {
                VectorMath.scale(g, c, by: 1 / total)
                g[Int(label)] -= 1
            }
        }
        return result
    }
}
