/// u ← −factor·lr·u: turns a descent direction into an additive update (the last stage of most chains).
public final class ScaleByLearningRate: GradientTransform {
    public let name = "scale_by_lr"
    public let scope = TransformScope.elementwise
    public let state: [StateTensor] = []
    /// Multiplies the schedule's rate (e.g. Muon's AdamW branch uses its own ratio).
    public let factor: Float
    private var scale: Float = 0

    public init(factor: Float = 1) { self.factor = factor }

    public func prepare(context: StepContext) { scale = -factor * context.learningRate }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        let u = buffers.updates, s = scale
        for i in range { u[i] *= s }
    }
}

/// u ← factor·u with a fixed factor (no learning rate), e.g. a sign flip.
public final class ScaleByConstant: GradientTransform {
    public let name: String
    public let scope = TransformScope.elementwise
    public let state: [StateTensor] = []
    public let factor: Float

    public init(name: String = "scale", factor: Float) {
        self.name = name
        self.factor = factor
    }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        let u = buffers.updates, s = factor
        for i in range { u[i] *= s }
    }
}
