import Tensors

/// How much of the buffers a transform must see at once.
public enum TransformScope: Sendable {
    /// Each element's output depends only on that element (and per-step scalars): the chain may
    /// run it on disjoint chunks, fused with its elementwise neighbours, on several threads.
    case elementwise
    /// Needs whole tensors or the whole buffer (norms, factored moments): run once per step.
    case whole
}

/// Buffers handed to a transform for one step.
public struct TransformBuffers {
    /// Gradient on entry to the chain, transformed in place into the final additive update.
    public let updates: UnsafeMutablePointer<Float>
    public let parameters: UnsafeMutablePointer<Float>
    /// A copy of the gradient as the chain received it, when some transform asked for one.
    public let originalGradients: UnsafeMutablePointer<Float>?

    public init(updates: UnsafeMutablePointer<Float>, parameters: UnsafeMutablePointer<Float>,
                originalGradients: UnsafeMutablePointer<Float>?) {
        self.updates = updates
        self.parameters = parameters
        self.originalGradients = originalGradients
    }
}

/// One stage of an optimizer: maps the incoming update (initially the gradient) to a new update,
/// with explicit, named state. The chain finally adds the last update to the parameters, so a
/// descent stage ends with a scale by −learning rate.
public protocol GradientTransform: AnyObject {
    var name: String { get }
    var scope: TransformScope { get }
    /// Whether `TransformBuffers.originalGradients` must be filled.
    var needsOriginalGradients: Bool { get }
    var state: [StateTensor] { get }
    /// How finely the sharded optimizer may cut what this transform sees (see `ShardRequirement`).
    var shardRequirement: ShardRequirement { get }
    /// Whether the transform writes the parameters itself — a fused step such as `FusedAdamW` —
    /// instead of leaving an update for the chain to add. Only the last transform of a chain may.
    var appliesToParameters: Bool { get }
    /// Computes per-step scalars once, before any chunk is processed.
    func prepare(context: StepContext)
    /// Transforms `range` of the update (elementwise scope) or the whole buffer (whole scope, range = all).
    func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext)
}

extension GradientTransform {
    public var needsOriginalGradients: Bool { false }
    /// Elementwise transforms may be cut anywhere between rows; the others need whole tensors unless
    /// they say otherwise (by summing their partial statistics through `ShardStatistics`).
    public var shardRequirement: ShardRequirement { scope == .elementwise ? .rows : .tensors }
    public var appliesToParameters: Bool { false }
    public func prepare(context: StepContext) {}
}
