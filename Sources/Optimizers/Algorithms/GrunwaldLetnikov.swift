import Tensors

/// Grünwald–Letnikov fractional gradient with a bounded history (e.g. Pu et al., arXiv 1901.05294):
/// D^α g ≈ Σ_{j=0}^{K−1} w_j·g_{t−j} with w₀ = 1, w_j = w_{j−1}·(1 − (α+1)/j); the oldest terms
/// beyond K are dropped (short memory principle). State: a ring of the last K−1 gradients.
public final class ScaleByGrunwaldLetnikov: GradientTransform {
    public let name = "glfrac"
    public let scope = TransformScope.elementwise
    public let order: Float
    public let history: Int
    let weights: [Float]
    let ring: FloatBuffer
    let count: Int
    public let state: [StateTensor]

    public init(layout: ParameterLayout, order: Float, history: Int) {
        precondition(history >= 1)
        self.order = order
        self.history = history
        var weights: [Float] = [1]
        for j in 1..<max(history, 1) { weights.append(weights[j - 1] * (1 - (order + 1) / Float(j))) }
        self.weights = weights
        count = layout.totalCount
        let allocator = StateAllocator(prefix: "glfrac")
        ring = allocator.buffer("history", count: max(history - 1, 0) * layout.totalCount,
                                shape: [max(history - 1, 0), layout.totalCount])
        state = allocator.tensors
    }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        let past = history - 1
        guard past > 0 else { return }
        let u = buffers.updates, ring = ring.baseAddress, n = count
        // Slot k holds g_{t−j} for the j with (t−1−j) mod past == k; only steps ≥ 1 exist.
        let available = min(context.step - 1, past)
        let newest = (context.step - 1) % past
        for i in range {
            let g = u[i]
            var sum = g
            for j in 1...max(available, 1) where j <= available {
                let slot = ((context.step - 1 - j) % past + past) % past
                sum += weights[j] * ring[slot * n + i]
            }
            ring[newest * n + i] = g
            u[i] = sum
        }
    }
}
