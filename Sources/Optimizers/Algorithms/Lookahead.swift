import Tensors

/// Lookahead (Zhang et al., arXiv 1907.08610) around any optimizer: the inner optimizer moves the
/// fast weights; every k steps the slow weights move α of the way to them and the fast weights
/// are reset to the slow ones. The slow weights are taken from the parameters at step 1.
public final class Lookahead: Optimizer {
    public let inner: any Optimizer
    public let k: Int
    public let alpha: Float
    let slow: FloatBuffer

    public init(inner: any Optimizer, layout: ParameterLayout, k: Int, alpha: Float) {
        self.inner = inner
        self.k = k
        self.alpha = alpha
        slow = FloatBuffer(count: layout.totalCount)
    }

    public var name: String { "lookahead(\(inner.name))" }

    public var state: [StateTensor] {
        inner.state + [StateTensor(name: "lookahead.slow", shape: [slow.count], storage: slow)]
    }

    public func step(parameters: FloatBuffer, gradients: FloatBuffer, context: StepContext) {
        if context.step == 1 { slow.copy(from: parameters) }
        inner.step(parameters: parameters, gradients: gradients, context: context)
        guard context.step % k == 0 else { return }
        let p = parameters.baseAddress, s = slow.baseAddress, a = alpha
        ParallelChunks.forEachTile(0..<parameters.count) { range in
            for i in range {
                s[i] += a * (p[i] - s[i])
                p[i] = s[i]
            }
        }
    }
}
