import Foundation
import Tensors

/// Adam's preconditioned direction with torch.optim's ε placement (Kingma & Ba, arXiv 1412.6980):
/// m ← β₁m + β₃g (β₃ = 1−β₁ unless given), v ← β₂v + (1−β₂)g², u = (m/(1−β₁ᵗ)) / (√v/√(1−β₂ᵗ) + ε);
/// with `amsgrad`, v̂max ← max(v̂max, v) replaces v in the denominator; without `biasCorrection`,
/// u = m / (√v + ε), as LAMB's direction before its trust ratio.
///
/// The one moments transform of the Adam family: Adam, AdamW (and its fused step), LAMB, Muon's
/// AdamW branch, AdamW² and NAdam are this transform with their settings. With `nesterov`, it is
/// NAdam as torch.optim.NAdam computes it (Dozat 2016): μₜ = β₁(1 − ½·0.96^(tψ)), ψ = momentum_decay,
/// Πμ kept as state; u = ((1−μₜ)/(1−Πμₜ)·g + μₜ₊₁/(1−Πμₜ·μₜ₊₁)·m) / (√v/√(1−β₂ᵗ) + ε).
public final class ScaleByAdam: GradientTransform {
    public var name: String { nesterovMomentumDecay == nil ? "adam" : "nadam" }
    public let scope = TransformScope.elementwise
    public let beta1: Float, beta2: Float, epsilon: Float
    /// The gradient's weight in the first moment (pytorch_optimizer's LAMB without `grad_averaging`: 1).
    public let gradientScale: Float
    public let amsgrad: Bool
    public let biasCorrection: Bool
    /// NAdam's momentum decay ψ; nil for Adam.
    public let nesterovMomentumDecay: Double?
    let m: FloatBuffer, v: FloatBuffer, vMax: FloatBuffer?, muProduct: FloatBuffer?
    public let state: [StateTensor]
    private var correction1: Float = 1, rootCorrection2: Float = 1
    /// NAdam's coefficients of g and m in the numerator for this step.
    private var gradientCoefficient: Float = 0, momentumCoefficient: Float = 0

    public init(layout: ParameterLayout, beta1: Float, beta2: Float, epsilon: Float, amsgrad: Bool = false,
                biasCorrection: Bool = true, gradientScale: Float? = nil, nesterovMomentumDecay: Double? = nil,
                prefix: String = "adam") {
        precondition(nesterovMomentumDecay == nil || (!amsgrad && biasCorrection && gradientScale == nil),
                     "NAdam is Adam's bias-corrected moments without AMSGrad")
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.amsgrad = amsgrad
        self.biasCorrection = biasCorrection
        self.gradientScale = gradientScale ?? 1 - beta1
        self.nesterovMomentumDecay = nesterovMomentumDecay
        let allocator = StateAllocator(prefix: prefix)
        m = allocator.like(layout, "m")
        v = allocator.like(layout, "v")
        vMax = amsgrad ? allocator.like(layout, "v_max") : nil
        muProduct = nesterovMomentumDecay == nil ? nil : allocator.scalar("mu_product", initial: 1)
        state = allocator.tensors
    }

    public func prepare(context: StepContext) {
        guard biasCorrection else { return }
        let t = Double(context.step)
        correction1 = Float(1 - pow(Double(beta1), t))
        rootCorrection2 = Float((1 - pow(Double(beta2), t)).squareRoot())
        if let psi = nesterovMomentumDecay, let muProduct {
            let b1 = Double(beta1)
            let mu = b1 * (1 - 0.5 * pow(0.96, t * psi))
            let muNext = b1 * (1 - 0.5 * pow(0.96, (t + 1) * psi))
            let product = Double(muProduct[0]) * mu
            muProduct[0] = Float(product)
            gradientCoefficient = Float((1 - mu) / (1 - product))
            momentumCoefficient = Float(muNext / (1 - product * muNext))
        }
    }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        let u = buffers.updates, m = m.baseAddress, v = v.baseAddress
        let b1 = beta1, b2 = beta2, c1 = gradientScale, c2 = 1 - beta2, eps = epsilon
        let inverseCorrection1 = 1 / correction1, inverseRoot2 = 1 / rootCorrection2
        if let vMax = vMax?.baseAddress {
            for i in range {
                let g = u[i]
                let mi = Moments.average(m[i], g, beta: b1, weight: c1)
                let vi = Moments.averageOfSquares(v[i], g, beta: b2, weight: c2)
                m[i] = mi; v[i] = vi
                let vm = max(vMax[i], vi)
                vMax[i] = vm
                u[i] = (mi * inverseCorrection1) / (vm.squareRoot() * inverseRoot2 + eps)
            }
            return
        }
        if nesterovMomentumDecay != nil {
            // NAdam: the numerator a·g + b·m with this step's coefficients.
            let cg = gradientCoefficient, cm = momentumCoefficient
            let vg = SIMD4<Float>(repeating: cg), vm = SIMD4<Float>(repeating: cm)
            sweep(buffers, range: range, { g, mi in vg * g + vm * mi }, { g, mi in cg * g + cm * mi })
        } else {
            let vCorrection = SIMD4<Float>(repeating: inverseCorrection1)
            sweep(buffers, range: range, { _, mi in mi * vCorrection }, { _, mi in mi * inverseCorrection1 })
        }
    }

    /// The moments over `range` and u = numerator(g, m) / (√v/√(1−β₂ᵗ) + ε), four lanes at a time (a
    /// scalar square root keeps its errno branch and never vectorizes), then the tail one by one.
    @inline(__always)
    private func sweep(_ buffers: TransformBuffers, range: Range<Int>,
                       _ numerator4: (SIMD4<Float>, SIMD4<Float>) -> SIMD4<Float>, _ numerator: (Float, Float) -> Float) {
        let u = buffers.updates, m = m.baseAddress, v = v.baseAddress
        let b1 = beta1, b2 = beta2, c1 = gradientScale, c2 = 1 - beta2, eps = epsilon
        let inverseRoot2 = 1 / rootCorrection2
        typealias V = SIMD4<Float>
        let vb1 = V(repeating: b1), vb2 = V(repeating: b2), vc1 = V(repeating: c1), vc2 = V(repeating: c2)
        let vEps = V(repeating: eps), vRoot = V(repeating: inverseRoot2)
        var i = range.lowerBound
        while i + 4 <= range.upperBound {
            let g = VectorMath.load4(u + i)
            let mi = Moments.average(VectorMath.load4(m + i), g, beta: vb1, weight: vc1)
            let vi = Moments.averageOfSquares(VectorMath.load4(v + i), g, beta: vb2, weight: vc2)
            VectorMath.store4(mi, m + i)
            VectorMath.store4(vi, v + i)
            VectorMath.store4(numerator4(g, mi) / (VectorMath.squareRoot(vi) * vRoot + vEps), u + i)
            i += 4
        }
        while i < range.upperBound {
            let g = u[i]
            let mi = Moments.average(m[i], g, beta: b1, weight: c1)
            let vi = Moments.averageOfSquares(v[i], g, beta: b2, weight: c2)
            m[i] = mi; v[i] = vi
            u[i] = numerator(g, mi) / (vi.squareRoot() * inverseRoot2 + eps)
            i += 1
        }
    }

    /// The whole AdamW step in one pass over memory: m, v, the decoupled decay and the parameter
    /// write, p ← p·(1 − lr·λ) − (lr/(1−β₁ᵗ))·m / (√v/√(1−β₂ᵗ) + ε) (`FusedAdamW`, standing for
    /// scale-by-Adam → decay → scale by −lr). The bias corrections are folded into two per-step
    /// scalars; each element costs one `sqrtps` lane and one `divps` lane, so 28 bytes of memory
    /// traffic per parameter (read p, g, m, v; write p, m, v) stay the bound.
    func applyFused(_ buffers: TransformBuffers, range: Range<Int>, weightDecay: Float, learningRate: Float) {
        precondition(vMax == nil && gradientScale == 1 - beta1 && nesterovMomentumDecay == nil)
        let u = buffers.updates, p = buffers.parameters, m = m.baseAddress, v = v.baseAddress
        let b1 = beta1, b2 = beta2, c1 = 1 - beta1, c2 = 1 - beta2, eps = epsilon
        let stepSize = learningRate / correction1, inverseRoot2 = 1 / rootCorrection2
        let decay = 1 - learningRate * weightDecay
        var i = range.lowerBound
        let end = range.upperBound
        // Explicit vectors: the compiler cannot prove the four buffers disjoint, so it would not
        // vectorize the scalar loop, and `SIMD.squareRoot()` would be scalarised (see VectorMath).
        typealias V = SIMD4<Float>
        let vb1 = V(repeating: b1), vb2 = V(repeating: b2), vc1 = V(repeating: c1), vc2 = V(repeating: c2)
        let vEps = V(repeating: eps), vStep = V(repeating: stepSize), vRoot = V(repeating: inverseRoot2)
        let vDecay = V(repeating: decay)
        @inline(__always) func load(_ base: UnsafeMutablePointer<Float>, _ at: Int) -> V {
            UnsafeRawPointer(base + at).loadUnaligned(as: V.self)
        }
        @inline(__always) func store(_ value: V, _ base: UnsafeMutablePointer<Float>, _ at: Int) {
            UnsafeMutableRawPointer(base + at).storeBytes(of: value, as: V.self)
        }
        while i + 4 <= end {
            let g = load(u, i)
            let mi = Moments.average(load(m, i), g, beta: vb1, weight: vc1)
            let vi = Moments.averageOfSquares(load(v, i), g, beta: vb2, weight: vc2)
            let result = load(p, i) * vDecay - vStep * mi / (VectorMath.squareRoot(vi) * vRoot + vEps)
            store(mi, m, i)
            store(vi, v, i)
            store(result, p, i)
            i += 4
        }
        while i < end {
            let g = u[i]
            let mi = Moments.average(m[i], g, beta: b1, weight: c1)
            let vi = Moments.averageOfSquares(v[i], g, beta: b2, weight: c2)
            m[i] = mi
            v[i] = vi
            p[i] = p[i] * decay - stepSize * mi / (vi.squareRoot() * inverseRoot2 + eps)
            i += 1
        }
    }
}

/// Scale-by-Adam → decoupled decay → scale by −lr → add, as one pass over memory (`ScaleByAdam.applyFused`):
/// the same arithmetic up to rounding order, 28 bytes of traffic per parameter where the three
/// transforms and the add would take several passes. The catalogue puts it at the end of a
/// top-level AdamW chain (`OptimizerCatalog.fusingAdamW`); its state is the Adam transform's, under
/// the same names, so checkpoints do not tell the two forms apart.
public final class FusedAdamW: GradientTransform {
    public let name = "adamw_fused"
    public let scope = TransformScope.elementwise
    public var appliesToParameters: Bool { true }
    public let adam: ScaleByAdam
    public let weightDecay: Float
    public var state: [StateTensor] { adam.state }

    public init(adam: ScaleByAdam, weightDecay: Float) {
        precondition(adam.vMax == nil && adam.gradientScale == 1 - adam.beta1 && adam.nesterovMomentumDecay == nil,
                     "the fused AdamW step is plain Adam's")
        self.adam = adam
        self.weightDecay = weightDecay
    }

    /// The transforms it stands for, sharing its state: the general path, for comparisons.
    public var unfused: [any GradientTransform] {
        WeightDecay.assembled([adam], weightDecay: weightDecay, form: .decoupled)
    }

    public func prepare(context: StepContext) { adam.prepare(context: context) }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        adam.applyFused(buffers, range: range, weightDecay: weightDecay, learningRate: context.learningRate)
    }
}
