import Tensors

/// One stage of a network with an explicit forward and backward pass over a batch.
///
/// Activations are NCHW / row-major per sample: sample `b` of a batch occupies elements
/// `b * inputCount ..< (b + 1) * inputCount`. Backward OVERWRITES `inputGradient` (the gradient
/// with respect to this layer's input) but ACCUMULATES (`+=`) into the parameter gradients in
/// the flat `ParameterStore.gradients`, so that micro-batches add up to the gradient of their
/// union without any copying.
///
/// There is deliberately no BatchNorm: its statistics depend on which samples share a
/// micro-batch, so accumulating k micro-batches (or splitting over R ranks) would no longer give
/// the gradient of the whole batch. LayerNorm and RMSNorm normalize each sample on its own.
public protocol Layer: AnyObject {
    /// Stable name, the prefix of its parameter names (`layers.3` → `layers.3.weight`).
    var name: String { get }
    /// Shape of one input sample (e.g. `[C, H, W]`).
    var inputShape: [Int] { get }
    /// Shape of one output sample.
    var outputShape: [Int] { get }
    /// The parameters this layer owns, with their full names.
    var parameterSpecs: [ParameterSpec] { get }
    /// Points the layer at its slots in the flat buffers of `store`.
    func bind(_ store: ParameterStore)
    /// Sizes the workspaces for `batch` samples; they only ever grow.
    func reserve(batch: Int)
    func forward(_ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, batch: Int,
                 context: PassContext)
    /// `input` and `output` are what the preceding `forward` on this batch saw and wrote.
    /// `inputGradient` is nil when nobody needs it (the first layer), which skips its cost.
    func backward(input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                  inputGradient: UnsafeMutablePointer<Float>?, batch: Int, context: PassContext)
    /// Floating-point operations per sample (a multiply-add counts 2).
    func flops(inputGradient: Bool) -> (forward: Double, backward: Double)
    /// Whether this pass leaves the data unchanged (dropout when evaluating or at p = 0), so that a
    /// container may hand the input straight on and skip both passes of the layer.
    func isIdentity(in context: PassContext) -> Bool
    /// Floats of workspace sized by the layer, not by the batch (a convolution's column matrices),
    /// for `ModelSize`.
    var fixedWorkspaceCount: Int { get }
    /// Floats of workspace per sample of a pass beyond the layer's output (attention weights, a
    /// residual body's activations), for `ModelSize`.
    var perSampleWorkspaceCount: Int { get }
}

extension Layer {
    public var inputCount: Int { inputShape.reduce(1, *) }
    public var outputCount: Int { outputShape.reduce(1, *) }
    public var parameterSpecs: [ParameterSpec] { [] }
    public func bind(_ store: ParameterStore) {}
    public func reserve(batch: Int) {}
    public func isIdentity(in context: PassContext) -> Bool { false }
    public var fixedWorkspaceCount: Int { 0 }
    public var perSampleWorkspaceCount: Int { 0 }
}

/// What a pass needs besides the data: whether it trains, and the keys of its randomness.
public struct PassContext {
    public var training: Bool
    public var seed: UInt64
    /// The optimizer step, part of every dropout key.
    public var step: Int
    /// The GLOBAL dataset index of each sample in the batch (dropout keys); nil when not training.
    public var sampleIndices: UnsafePointer<Int>?

    public init(training: Bool, seed: UInt64 = 0, step: Int = 0, sampleIndices: UnsafePointer<Int>? = nil) {
        self.training = training
        self.seed = seed
        self.step = step
        self.sampleIndices = sampleIndices
    }

    public static var evaluation: PassContext { PassContext(training: false) }
}

/// A parameter's value and gradient pointers inside the flat buffers.
struct BoundParameter {
    let value: UnsafeMutablePointer<Float>
    let gradient: UnsafeMutablePointer<Float>

    init(_ store: ParameterStore, _ name: String) {
        guard let slot = store.layout.slot(named: name) else {
            preconditionFailure("parameter \(name) is missing from the layout")
        }
        value = store.parameters.baseAddress + slot.offset
        gradient = store.gradients.baseAddress + slot.offset
    }
}

extension Optional where Wrapped == BoundParameter {
    /// The bound parameter; using a layer before `bind` is a programming error.
    @inline(__always) func bound(_ layer: String) -> BoundParameter {
        guard let self else { preconditionFailure("layer \(layer) used before bind(_:)") }
        return self
    }
}
