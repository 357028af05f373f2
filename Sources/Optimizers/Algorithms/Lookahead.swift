import Tensors

/// An optimizer state that plays the part of torch's `momentum_buffer`, which pytorch_optimizer's
/// Lookahead pulls back or resets with the weights (torch.optim.SGD's is the one in the catalogue).
public protocol HoldsMomentumBuffer: AnyObject {
    var momentumBuffer: FloatBuffer { get }
}

/// Lookahead (Zhang et al., arXiv 1907.08610) around any optimizer, as pytorch_optimizer 4.1.0's
/// `Lookahead`: the inner optimizer moves the fast weights; every k steps the slow weights move α
/// of the way to them and the fast weights are reset to the slow ones. The slow weights are taken
/// from the parameters at step 1.
///
/// `pullback_momentum` treats the inner optimizer's momentum buffer at each synchronisation as the
/// library does: `reset` zeroes it; `pullback` moves it like the weights, b ← αb + (1−α)b_slow, then
/// b_slow ← b (b_slow starts at zero). Inner optimizers without such a buffer (Adam-like ones keep
/// moments under other names, which the library leaves alone) are unaffected, as there.
public final class Lookahead: Optimizer {
    public enum PullbackMomentum: String, CaseIterable, Sendable {
        case none, reset, pullback
    }

    public let inner: any Optimizer
    public let k: Int
    public let alpha: Float
    public let pullbackMomentum: PullbackMomentum
    let slow: FloatBuffer
    /// The inner optimizer's momentum buffer, when it has one (over the whole layout).
    let momentum: FloatBuffer?
    /// b_slow, for `pullback`.
    let slowMomentum: FloatBuffer?

    /// `momentum`: the inner optimizer's momentum buffer (torch's `momentum_buffer`), which `reset` and
    /// `pullback` act on; nil when the inner optimizer keeps none (the catalogue finds it).
    public init(inner: any Optimizer, layout: ParameterLayout, k: Int, alpha: Float,
                pullbackMomentum: PullbackMomentum = .none, momentum: FloatBuffer? = nil) {
        self.inner = inner
        self.k = k
        self.alpha = alpha
        self.pullbackMomentum = pullbackMomentum
        slow = FloatBuffer(count: layout.totalCount)
        self.momentum = pullbackMomentum == .none ? nil : momentum
        slowMomentum = pullbackMomentum == .pullback && momentum != nil ? FloatBuffer(count: layout.totalCount) : nil
    }

    public var name: String { "lookahead(\(inner.name))" }
    /// The slow weights are elementwise: the inner optimizer decides.
    public var shardRequirement: ShardRequirement { inner.shardRequirement }

    public var state: [StateTensor] {
        var tensors = inner.state + [StateTensor(name: "lookahead.slow", shape: [slow.count], storage: slow)]
        if let slowMomentum {
            tensors.append(StateTensor(name: "lookahead.slow_momentum", shape: [slowMomentum.count], storage: slowMomentum))
        }
        return tensors
    }

    public func step(parameters: FloatBuffer, gradients: FloatBuffer, context: StepContext) {
        if context.step == 1 { slow.copy(from: parameters) }
        inner.step(parameters: parameters, gradients: gradients, context: context)
        guard context.step % k == 0 else { return }
        let p = parameters.baseAddress, s = slow.baseAddress, a = alpha
        let b = momentum?.baseAddress, bSlow = slowMomentum?.baseAddress, mode = pullbackMomentum
        ParallelChunks.forEachTile(0..<parameters.count) { range in
            for i in range {
                s[i] += a * (p[i] - s[i])
                p[i] = s[i]
            }
            guard let b else { return }
            switch mode {
            case .none: break
            case .reset: for i in range { b[i] = 0 }
            case .pullback:
                for i in range {
                    b[i] += (1 - a) * (bSlow![i] - b[i])
                    bSlow![i] = b[i]
                }
            }
        }
    }
}
