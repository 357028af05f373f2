import Foundation
import Tensors

/// Adafactor as pytorch_optimizer.AdaFactor computes it (Shazeer & Stern, arXiv 1804.04235).
///
/// Tensors of rank ≥ 2 keep row and column means of g² + ε₁ over their last two axes (batched
/// over leading ones); the inverse square root of the reconstruction is √(mean(R)/(Rᵢ·Cⱼ)) with
/// the square root taken last. β₂ₜ = min(β₂, 1 − t^decay_rate); the update is rescaled so that its
/// RMS is at most clip_threshold d (divided by max(RMS/d, 1)), multiplied by lr·max(ε₂, RMS(p))
/// when scale_parameter, then averaged with β₁: m ← m + (1−β₁)(u − m); p ← p − m (− decoupled decay).
public final class ScaleByAdafactor: GradientTransform {
    public let name = "adafactor"
    public let scope = TransformScope.whole
    public struct Settings: Sendable {
        public var beta1: Float = 0.9, beta2: Float = 0.999, decayRate: Double = -0.8
        public var epsilon1: Float = 1e-30, epsilon2: Float = 1e-3, clipThreshold: Float = 1
        public var weightDecay: Float = 0, weightDecouple = true, fixedDecay = false
        public var scaleParameter = true, relativeStep = true, warmupInit = false
        public init() {}
    }
    public let settings: Settings
    let layout: ParameterLayout
    /// Per slot: (offset in row state, offset in column state, batch, rows, columns) or nil when unfactored.
    private let factors: [(row: Int, column: Int, batch: Int, rows: Int, columns: Int)?]
    let m: FloatBuffer, rowState: FloatBuffer, columnState: FloatBuffer, v: FloatBuffer
    public let state: [StateTensor]
    private var rowMeans: [Float] = []

    public init(layout: ParameterLayout, settings: Settings) {
        self.layout = layout
        self.settings = settings
        var factors: [(row: Int, column: Int, batch: Int, rows: Int, columns: Int)?] = []
        var rowCount = 0, columnCount = 0, unfactored = 0
        for slot in layout.slots {
            if slot.shape.count >= 2 {
                let columns = slot.shape[slot.shape.count - 1], rows = slot.shape[slot.shape.count - 2]
                let batch = slot.count / (rows * columns)
                factors.append((rowCount, columnCount, batch, rows, columns))
                rowCount += batch * rows
                columnCount += batch * columns
            } else {
                factors.append(nil)
                unfactored += slot.count
            }
        }
        self.factors = factors
        let allocator = StateAllocator(prefix: "adafactor")
        m = allocator.like(layout, "m")
        rowState = allocator.buffer("row", count: rowCount)
        columnState = allocator.buffer("column", count: columnCount)
        v = allocator.buffer("v", count: unfactored)
        state = allocator.tensors
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
            let rmsP = rms(p, n)
            let lr = s.scaleParameter ? Float(Double(max(s.epsilon2, rmsP)) * stepSize) : Float(stepSize)
            if !s.weightDecouple && s.weightDecay > 0 { for i in 0..<n { g[i] += s.weightDecay * p[i] } }
            if let f = factors[index] {
                let row = rowState.baseAddress + f.row, column = columnState.baseAddress + f.column
                for b in 0..<f.batch {
                    let base = b * f.rows * f.columns
                    let r = row + b * f.rows, c = column + b * f.columns
                    for j in 0..<f.columns { c[j] += w * (columnMean(g + base, f.rows, f.columns, j) - c[j]) }
                    var total: Float = 0
                    for i in 0..<f.rows {
                        var sum: Float = 0
                        let line = g + base + i * f.columns
                        for j in 0..<f.columns { sum += line[j] * line[j] + s.epsilon1 }
                        r[i] += w * (sum / Float(f.columns) - r[i])
                        total += r[i]
                    }
                    let meanRow = total / Float(f.rows)
                    for i in 0..<f.rows {
                        let line = g + base + i * f.columns
                        for j in 0..<f.columns { line[j] *= (meanRow / (r[i] * c[j])).squareRoot() }
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
            let factor = max(rms(g, n) / s.clipThreshold, 1)
            let scale = lr / factor
            let ms = m.baseAddress + slot.offset, b1 = s.beta1
            let decay = s.weightDecouple ? s.weightDecay * (s.fixedDecay ? 1 : lr) : 0
            for i in 0..<n {
                let mi = ms[i] + (1 - b1) * (g[i] * scale - ms[i])
                ms[i] = mi
                g[i] = -mi - decay * p[i]
            }
        }
    }

    private func columnMean(_ g: UnsafeMutablePointer<Float>, _ rows: Int, _ columns: Int, _ j: Int) -> Float {
        var sum: Float = 0
        for i in 0..<rows { let x = g[i * columns + j]; sum += x * x + settings.epsilon1 }
        return sum / Float(rows)
    }
}

/// Root mean square of n floats, accumulated in Double.
@inline(__always)
func rms(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
    Float((sumOfSquares(x, n) / Double(max(n, 1))).squareRoot())
}

@inline(__always)
func rms(_ x: UnsafeMutablePointer<Float>, _ n: Int) -> Float { rms(UnsafePointer(x), n) }

/// Σx², accumulated in Double over Float partial sums of 8 lanes.
func sumOfSquares(_ x: UnsafePointer<Float>, _ n: Int) -> Double {
    var total = 0.0
    var i = 0
    while i < n {
        let end = min(n, i + 1024)
        var partial: Float = 0
        for k in i..<end { partial += x[k] * x[k] }
        total += Double(partial)
        i = end
    }
    return total
}

func sumOfSquares(_ x: UnsafeMutablePointer<Float>, _ n: Int) -> Double { sumOfSquares(UnsafePointer(x), n) }
