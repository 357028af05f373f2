import Tensors

/// Heavy-ball momentum with torch.optim.SGD semantics: b ← g on the first step, else
/// b ← μb + (1−dampening)g; the direction is g + μb with Nesterov, else b (Sutskever et al. 2013).
public final class ScaleBySGDMomentum: GradientTransform, HoldsMomentumBuffer {
    public let name = "sgd"
    public let scope = TransformScope.elementwise
    public let momentum: Float, dampening: Float
    public let nesterov: Bool
    let buffer: FloatBuffer
    public let state: [StateTensor]
    /// torch.optim.SGD's `momentum_buffer`, which Lookahead's `pullback_momentum` acts on.
    public var momentumBuffer: FloatBuffer { buffer }

    public init(layout: ParameterLayout, momentum: Float, dampening: Float, nesterov: Bool) {
        self.momentum = momentum
        self.dampening = dampening
        self.nesterov = nesterov
        let allocator = StateAllocator(prefix: "sgd")
        buffer = allocator.like(layout, "momentum")
        state = allocator.tensors
    }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        let u = buffers.updates, b = buffer.baseAddress, mu = momentum, keep = 1 - dampening
        let first = context.step <= 1
        for i in range {
            let g = u[i]
            let bi = first ? g : mu * b[i] + keep * g
            b[i] = bi
            u[i] = nesterov ? g + mu * bi : bi
        }
    }
}
