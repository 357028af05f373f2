/// One micro-batch as the loader hands it out; the memory belongs to the loader and stays valid
/// until the next call to `BatchLoader.next()`.
public struct MicroBatch {
    /// `count × sampleSize` preprocessed inputs, sample after sample.
    public let inputs: UnsafeBufferPointer<Float>
    /// `count × targetsPerSample` targets, sample after sample.
    public let targets: UnsafeBufferPointer<Int32>
    /// Global data set indices of the samples.
    public let indices: UnsafeBufferPointer<Int>
    /// Samples in this micro-batch; 0 for an empty micro-step of a short last batch.
    public let count: Int
    /// The optimizer step (global over epochs), its epoch, and the micro-step within it.
    public let step: Int
    public let epoch: Int
    public let microStep: Int
    /// Samples in the whole global batch of this step (all ranks): the divisor of the gradient sum.
    public let globalBatchSize: Int
    /// Whether this is the step's last micro-step, after which the trainer reduces and updates.
    public let isLastMicroStep: Bool
}
