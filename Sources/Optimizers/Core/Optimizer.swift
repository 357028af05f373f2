import Tensors

/// What an optimizer learns about the current step besides the gradient.
public struct StepContext: Sendable {
    /// 1-based optimizer step.
    public var step: Int
    /// Learning rate from the schedule.
    public var learningRate: Float
    /// The step's global mean loss (loss-aware optimizers such as AdaLo read it).
    public var loss: Float
    /// Sums statistics over the other ranks' shards when this optimizer holds one shard of the state.
    public var statistics: ShardStatistics

    public init(step: Int, learningRate: Float, loss: Float, statistics: ShardStatistics = .unsharded) {
        self.step = step
        self.learningRate = learningRate
        self.loss = loss
        self.statistics = statistics
    }
}

/// One named piece of optimizer state. Checkpoints save it and restore it by writing into `storage`.
public struct StateTensor {
    public let name: String
    public let shape: [Int]
    public let storage: FloatBuffer

    public init(name: String, shape: [Int], storage: FloatBuffer) {
        precondition(shape.reduce(1, *) == storage.count, "state \(name): shape \(shape) vs \(storage.count) floats")
        self.name = name
        self.shape = shape
        self.storage = storage
    }
}

/// Applies updates from the globally reduced, already averaged gradient.
public protocol Optimizer: AnyObject {
    var name: String { get }
    /// Applies one update in place. `gradients` may be overwritten (used as scratch/update buffer).
    func step(parameters: FloatBuffer, gradients: FloatBuffer, context: StepContext)
    /// All state, under stable names, restorable bit-exactly.
    var state: [StateTensor] { get }
    /// How finely the state may be cut across ranks (`distributed.shard_optimizer`).
    var shardRequirement: ShardRequirement { get }
}
