import Configuration
import Foundation
import Tensors

/// Adafactor as pytorch_optimizer.AdaFactor computes it (Shazeer & Stern, arXiv 1804.04235).
///
/// Tensors of rank ≥ 2 keep row and column means of g² + ε₁ over their last two axes (batched
/// over leading ones); the inverse square root of the reconstruction is √(mean(R)/(Rᵢ·Cⱼ)) with
/// the square root taken last. β₂ₜ = min(β₂, 1 − t^decay_rate); the update is rescaled so that its
/// RMS is at most clip_threshold d (divided by max(RMS/d, 1)), multiplied by lr·max(ε₂, RMS(p))
/// when scale_parameter, then averaged with β₁: m ← m + (1−β₁)(u − m); p ← p − m (− decoupled decay).
///
/// Without β₁ (`betas: [null, β₂]` as in the reference, or β₁ = 0, which the reference's lerp makes the
/// same thing) there is no first moment at all: p ← p − u, and the state is just the factored second
/// moment, a small fraction of Adam's.
public final class ScaleByAdafactor: GradientTransform {
    public let name = "adafactor"
    public let scope = TransformScope.whole
    public struct Settings: Sendable {
        /// Nil keeps no first moment.
        public var beta1: Float? = 0.9
        public var beta2: Float = 0.999, decayRate: Double = -0.8
        public var epsilon1: Float = 1e-30, epsilon2: Float = 1e-3, clipThreshold: Float = 1
        public var weightDecay: Float = 0, weightDecouple = true, fixedDecay = false
        public var scaleParameter = true, relativeStep = true, warmupInit = false
        public init() {}
    }
    public let settings: Settings
    let layout: ParameterLayout
    /// Per slot: (offset in row state, offset in column state, batch, rows, columns) or nil when unfactored.
    private let factors: [(row: Int, column: Int, batch: Int, rows: Int, columns: Int)?]
    /// Nil without β₁.
    let m: FloatBuffer?
    let rowState: FloatBuffer, columnState: FloatBuffer, v: FloatBuffer
    public let state: [StateTensor]
    /// Scratch for one matrix's column sums of g² + ε₁ (not state).
    private let columnSums: FloatBuffer

    public init(layout: ParameterLayout, settings: Settings) {
        self.layout = layout
        self.settings = settings
        var factors: [(row: Int, column: Int, batch: Int, rows: Int, columns: Int)?] = []
        var rowCount = 0, columnCount = 0, unfactored = 0, widest = 0
        for slot in layout.slots {
            if slot.shape.count >= 2 {
                let columns = slot.shape[slot.shape.count - 1], rows = slot.shape[slot.shape.count - 2]
                let batch = slot.count / (rows * columns)
                factors.append((rowCount, columnCount, batch, rows, columns))
                widest = max(widest, columns)
                rowCount += batch * rows
                columnCount += batch * columns
            } else {
                factors.append(nil)
                unfactored += slot.count
            }
        }
        self.factors = factors
        let allocator = StateAllocator(prefix: "adafactor")
        m = settings.beta1 != nil ? allocator.like(layout, "m") : nil
        rowState = allocator.buffer("row", count: rowCount)
        columnState = allocator.buffer("column", count: columnCount)
        v = allocator.buffer("v", count: unfactored)
        state = allocator.tensors
        columnSums = FloatBuffer(count: widest)
    }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        let s = settings
        let t = Double(context.step)
        let beta2t = min(Double(s.beta2), 1 - pow(t, s.decayRate))
        let w = Float(1 - beta2t)
        var stepSize = Double(context.learningRate)
        if s.relativeStep { stepSize = min(s.warmupInit ? 1e-6 * t : 1e-2, 1 / t.squareRoot()) }
        var unfactoredOffset = 0
        for (index, slot) in layout.slots.enumerated() {
            let g = buffers.updates + slot.offset, p = buffers.parameters + slot.offset, n = slot.count
            let rmsP = VectorMath.rms(p, n)
            let lr = s.scaleParameter ? Float(Double(max(s.epsilon2, rmsP)) * stepSize) : Float(stepSize)
            if !s.weightDecouple && s.weightDecay > 0 { for i in 0..<n { g[i] += s.weightDecay * p[i] } }
            if let f = factors[index] {
                let row = rowState.baseAddress + f.row, column = columnState.baseAddress + f.column
                let sums = columnSums.baseAddress
                for b in 0..<f.batch {
                    let base = g + b * f.rows * f.columns
                    let r = row + b * f.rows, c = column + b * f.columns
                    sums.update(repeating: 0, count: f.columns)
                    var total: Float = 0
                    for i in 0..<f.rows {
                        let sum = VectorMath.accumulateSquares(base + i * f.columns, f.columns, epsilon: s.epsilon1,
                                                               into: sums)
                        r[i] += w * (sum / Float(f.columns) - r[i])
                        total += r[i]
                    }
                    for j in 0..<f.columns { c[j] += w * (sums[j] / Float(f.rows) - c[j]) }
                    let meanRow = total / Float(f.rows)
                    for i in 0..<f.rows {
                        let line = base + i * f.columns, ri = r[i]
                        // Four lanes at a time: a scalar square root keeps its errno branch and never vectorizes.
                        let mean4 = SIMD4<Float>(repeating: meanRow), r4 = SIMD4<Float>(repeating: ri)
                        var j = 0
                        while j + 4 <= f.columns {
                            let root = VectorMath.squareRoot(mean4 / (r4 * VectorMath.load4(c + j)))
                            VectorMath.store4(VectorMath.load4(line + j) * root, line + j)
                            j += 4
                        }
                        while j < f.columns {
                            line[j] *= (meanRow / (ri * c[j])).squareRoot()
                            j += 1
                        }
                    }
                }
            } else {
                let vs = v.baseAddress + unfactoredOffset
                for i in 0..<n {
                    vs[i] += w * (g[i] * g[i] + s.epsilon1 - vs[i])
                    g[i] *= 1 / vs[i].squareRoot()
                }
                unfactoredOffset += n
            }
            let factor = max(VectorMath.rms(g, n) / s.clipThreshold, 1)
            let scale = lr / factor
            let decay = s.weightDecouple ? s.weightDecay * (s.fixedDecay ? 1 : lr) : 0
            if let m, let b1 = s.beta1 {
                let ms = m.baseAddress + slot.offset
                for i in 0..<n {
                    let mi = ms[i] + (1 - b1) * (g[i] * scale - ms[i])
                    ms[i] = mi
                    g[i] = -mi - decay * p[i]
                }
            } else {
                for i in 0..<n { g[i] = -(g[i] * scale) - decay * p[i] }
            }
        }
    }

    /// Reads the reference's hyperparameters (pytorch_optimizer.AdaFactor names and defaults) from `s`.
    ///
    /// `betas[0]` may be null (the reference's "skip the first moment") or 0, which means the same.
    public static func settings(from s: ConfigSection) throws(ConfigError) -> Settings {
        var settings = Settings()
        if case .list(let items)? = s.value("betas") {
            guard items.count == 2 else {
                throw .invalid(key: s.qualified("betas"), reason: "needs 2 entries, found \(items.count)")
            }
            var values: [Double?] = []
            for item in items {
                switch item {
                case .null: values.append(nil)
                case .int(let i): values.append(Double(i))
                case .double(let d): values.append(d)
                default: throw .wrongType(key: s.qualified("betas"), expected: "list of numbers (first may be null)",
                                          found: "\(ConfigValue.list(items))")
                }
            }
            for (index, value) in values.enumerated() {
                if let value, !(value >= 0 && value < 1) {
                    throw .outOfRange(key: s.qualified("betas[\(index)]"), value: "\(value)", allowed: "in [0.0, 1.0)")
                }
            }
            guard let beta2 = values[1] else {
                throw .wrongType(key: s.qualified("betas[1]"), expected: "number", found: "null")
            }
            settings.beta1 = values[0].flatMap { $0 > 0 ? Float($0) : nil }
            settings.beta2 = Float(beta2)
        } else if let raw = s.value("betas") {
            throw .wrongType(key: s.qualified("betas"), expected: "list of numbers (first may be null)",
                             found: "\(raw.kindName) \(raw)")
        }
        settings.decayRate = try s.double("decay_rate", default: -0.8, range: -1...0)
        settings.weightDecay = Float(try s.nonNegative("weight_decay", default: 0))
        settings.weightDecouple = try s.bool("weight_decouple", default: true)
        settings.fixedDecay = try s.bool("fixed_decay", default: false)
        settings.clipThreshold = Float(try s.positive("clip_threshold", default: 1))
        try s.fixedBool("ams_bound", supported: false)
        settings.scaleParameter = try s.bool("scale_parameter", default: true)
        settings.relativeStep = try s.bool("relative_step", default: true)
        settings.warmupInit = try s.bool("warmup_init", default: false)
        settings.epsilon1 = Float(try s.nonNegative("eps1", default: 1e-30))
        settings.epsilon2 = Float(try s.nonNegative("eps2", default: 1e-3))
        // The first moment is kept in float32 (the reference defaults to bfloat16).
        _ = try s.choice("momentum_dtype", default: "float32", from: ["float32"])
        return settings
    }
}
