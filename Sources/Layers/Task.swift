/// What a model is trained to do: what a sample's targets are, how the loss is *summed* and which
/// items it counts, and what an evaluation reports. The trainer sees only loss sums, counted items
/// and gradient sums, never labels or accuracy: the task turns outputs and targets into those.
public protocol Task: Sendable {
    /// Targets per sample: 1 for a class label, T for a sequence of T next tokens.
    var targetsPerSample: Int { get }
    /// Model outputs per target (classes, or the vocabulary's size).
    var outputsPerTarget: Int { get }
    /// The evaluation metrics, each reported as its sum over counted items divided by their number.
    var metricNames: [String] { get }
    /// The summed loss and counted items of `count` samples; when `gradient` is given, writes
    /// ∂(summed loss)/∂outputs there (zero for ignored targets).
    func loss(outputs: UnsafePointer<Float>, targets: UnsafePointer<Int32>, count: Int,
              gradient: UnsafeMutablePointer<Float>?) -> LossSum
    /// Adds each metric's sum over `count` samples to `sums` (one entry per metric name).
    func addMetrics(outputs: UnsafePointer<Float>, targets: UnsafePointer<Int32>, count: Int,
                    to sums: inout [Double])
}

/// A task whose every target picks one of `outputsPerTarget` categories: softmax cross-entropy per
/// target, one counted item per target that is not the ignore index, and the share predicted right.
protocol CategoricalTask: Task {
    var crossEntropy: SoftmaxCrossEntropy { get }
}

extension CategoricalTask {
    public var outputsPerTarget: Int { crossEntropy.classes }

    public func loss(outputs: UnsafePointer<Float>, targets: UnsafePointer<Int32>, count: Int,
                     gradient: UnsafeMutablePointer<Float>?) -> LossSum {
        crossEntropy(logits: outputs, labels: targets, count: count * targetsPerSample, gradient: gradient)
    }

    /// Targets whose highest output is the target's category (first maximum on ties).
    public func addMetrics(outputs: UnsafePointer<Float>, targets: UnsafePointer<Int32>, count: Int,
                           to sums: inout [Double]) {
        let c = outputsPerTarget
        var correct = 0
        for row in 0..<(count * targetsPerSample) where targets[row] != crossEntropy.ignoreIndex {
            let z = outputs + row * c
            var best = 0
            for j in 1..<c where z[j] > z[best] { best = j }
            if best == Int(targets[row]) { correct += 1 }
        }
        sums[0] += Double(correct)
    }
}

/// Image (or any sample) classification: one class label per sample; reports `accuracy`.
public struct ClassificationTask: CategoricalTask {
    let crossEntropy: SoftmaxCrossEntropy
    public var targetsPerSample: Int { 1 }
    public var metricNames: [String] { ["accuracy"] }

    public init(classes: Int, ignoreIndex: Int32 = -1) {
        crossEntropy = SoftmaxCrossEntropy(classes: classes, ignoreIndex: ignoreIndex)
    }
}

/// Next-token prediction over sequences: inputs and targets of shape `[T]`, outputs `[T, vocabulary]`,
/// one counted item per target token that is not the ignore index; reports `token_accuracy` (the
/// loss is the mean negative log-likelihood per token, whose exponential is the perplexity).
public struct NextTokenTask: CategoricalTask {
    let crossEntropy: SoftmaxCrossEntropy
    public let sequenceLength: Int
    public var targetsPerSample: Int { sequenceLength }
    public var metricNames: [String] { ["token_accuracy"] }

    public init(sequenceLength: Int, vocabulary: Int, ignoreIndex: Int32 = -1) {
        precondition(sequenceLength > 0, "a sequence needs at least one token, got \(sequenceLength)")
        self.sequenceLength = sequenceLength
        crossEntropy = SoftmaxCrossEntropy(classes: vocabulary, ignoreIndex: ignoreIndex)
    }
}
