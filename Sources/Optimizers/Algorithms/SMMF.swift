import Tensors

/// SMMF, square-matricized momentum factorization (Park & Lee, arXiv 2412.08894).
///
/// Each tensor is viewed as its most square n×m matrix (n the largest divisor ≤ √size). Both
/// moments are kept as rank-1 non-negative factors: from a matrix A ≥ 0, r = row sums, c = column
/// sums and the shorter of the two is divided by ΣA, so r·cᵀ reproduces any rank-1 A exactly. The
/// first moment also keeps its sign, packed 32 to a word, so the whole state is about 1/64 of Adam's
/// (plus the factors) instead of half of it. Each step decompresses, applies Adam's moment updates,
/// recompresses and returns u = m̂/(√v̂ + ε) (Adam bias corrections; the paper's β schedules are not used).
public final class ScaleBySMMF: GradientTransform {
    public let name = "smmf"
    public let scope = TransformScope.whole
    /// Whole tensors (each is factored as a matrix), and shard boundaries on whole words of the
    /// packed sign bits, so that the shards' words laid end to end are the unsharded ones.
    public var shardRequirement: ShardRequirement { ShardRequirement(.tensors, alignment: 32) }
    public let beta1: Float, beta2: Float, epsilon: Float
    struct Shape { let rows: Int, columns: Int, rowOffset: Int, columnOffset: Int }
    let layout: ParameterLayout
    let shapes: [Shape]
    let rowM: FloatBuffer, columnM: FloatBuffer, rowV: FloatBuffer, columnV: FloatBuffer
    /// The sign of the first moment, one bit per parameter (set = negative), bit i of the layout's
    /// element order in bit i % 32 of 32-bit word i / 32. The words' bit patterns sit in Float slots
    /// so the state stays one kind of tensor (checkpoints copy it as raw float32 bytes); they are only
    /// ever read and written as `UInt32` through `withMemoryRebound`, never by float arithmetic.
    let signWords: FloatBuffer
    private let scratchRows: FloatBuffer, scratchColumns: FloatBuffer
    private let scratchMagnitudeRows: FloatBuffer, scratchMagnitudeColumns: FloatBuffer
    public let state: [StateTensor]

    /// The most square factorization n×m of `count` with n ≤ m.
    public static func squareShape(_ count: Int) -> (rows: Int, columns: Int) {
        var rows = Int(Double(count).squareRoot())
        while rows > 1 && count % rows != 0 { rows -= 1 }
        rows = max(rows, 1)
        return (rows, count / rows)
    }

    public init(layout: ParameterLayout, beta1: Float, beta2: Float, epsilon: Float) {
        self.layout = layout
        self.beta1 = beta1; self.beta2 = beta2; self.epsilon = epsilon
        var shapes: [Shape] = [], rowTotal = 0, columnTotal = 0, widest = 0, tallest = 0
        for slot in layout.slots {
            let (n, m) = ScaleBySMMF.squareShape(slot.count)
            shapes.append(Shape(rows: n, columns: m, rowOffset: rowTotal, columnOffset: columnTotal))
            rowTotal += n; columnTotal += m
            widest = max(widest, m); tallest = max(tallest, n)
        }
        self.shapes = shapes
        let allocator = StateAllocator(prefix: "smmf")
        rowM = allocator.buffer("m_row", count: rowTotal)
        columnM = allocator.buffer("m_column", count: columnTotal)
        signWords = allocator.buffer("m_sign_bits", count: (layout.totalCount + 31) / 32)
        rowV = allocator.buffer("v_row", count: rowTotal)
        columnV = allocator.buffer("v_column", count: columnTotal)
        state = allocator.tensors
        scratchRows = FloatBuffer(count: tallest)
        scratchColumns = FloatBuffer(count: widest)
        scratchMagnitudeRows = FloatBuffer(count: tallest)
        scratchMagnitudeColumns = FloatBuffer(count: widest)
    }

    /// Compresses a non-negative n×m matrix into rank-1 factors (r, c) such that r·cᵀ = A when A has rank 1.
    public static func compress(_ a: UnsafePointer<Float>, rows: Int, columns: Int,
                                row: UnsafeMutablePointer<Float>, column: UnsafeMutablePointer<Float>) {
        for i in 0..<rows { row[i] = 0 }
        for j in 0..<columns { column[j] = 0 }
        for i in 0..<rows {
            for j in 0..<columns {
                let x = a[i * columns + j]
                row[i] += x
                column[j] += x
            }
        }
        normalize(row: row, column: column, rows: rows, columns: columns)
    }

    static func normalize(row: UnsafeMutablePointer<Float>, column: UnsafeMutablePointer<Float>, rows: Int, columns: Int) {
        var total: Float = 0
        for i in 0..<rows { total += row[i] }
        let scale: Float = total > 0 ? 1 / total : 0
        if rows <= columns { for i in 0..<rows { row[i] *= scale } } else { for j in 0..<columns { column[j] *= scale } }
    }

    public func apply(_ buffers: TransformBuffers, range: Range<Int>, context: StepContext) {
        let c1 = biasCorrection(beta1, context.step), rootC2 = biasCorrection(beta2, context.step).squareRoot()
        let newRows = scratchRows.baseAddress, newColumns = scratchColumns.baseAddress
        let magnitudeRows = scratchMagnitudeRows.baseAddress, magnitudeColumns = scratchMagnitudeColumns.baseAddress
        signWords.baseAddress.withMemoryRebound(to: UInt32.self, capacity: signWords.count) { words in
            for (index, slot) in layout.slots.enumerated() {
                let shape = shapes[index], n = shape.rows, mCount = shape.columns
                let g = buffers.updates + slot.offset
                let rm = rowM.baseAddress + shape.rowOffset, cm = columnM.baseAddress + shape.columnOffset
                let rv = rowV.baseAddress + shape.rowOffset, cv = columnV.baseAddress + shape.columnOffset
                // First pass: the new second moment's factors (needs old factors of both moments intact).
                for i in 0..<n { newRows[i] = 0 }
                for j in 0..<mCount { newColumns[j] = 0 }
                for i in 0..<n {
                    for j in 0..<mCount {
                        let gi = g[i * mCount + j]
                        let v = beta2 * rv[i] * cv[j] + (1 - beta2) * gi * gi  // β₂ on the row factor first, as SMMF writes it
                        newRows[i] += v
                        newColumns[j] += v
                    }
                }
                // Second pass: first moment, its sign and the row/column sums of |m|, and the update,
                // reading the old factors of both moments once more.
                for i in 0..<n { magnitudeRows[i] = 0 }
                for j in 0..<mCount { magnitudeColumns[j] = 0 }
                for i in 0..<n {
                    for j in 0..<mCount {
                        let k = i * mCount + j, gi = g[k]
                        let bit = slot.offset + k, word = bit >> 5, mask = UInt32(1) << UInt32(bit & 31)
                        let mOld = (words[word] & mask != 0 ? -1 : 1) * rm[i] * cm[j]
                        let mNew = Moments.average(mOld, gi, beta: beta1, weight: 1 - beta1)
                        let v = beta2 * rv[i] * cv[j] + (1 - beta2) * gi * gi  // β₂ on the row factor first, as SMMF writes it
                        words[word] = mNew < 0 ? words[word] | mask : words[word] & ~mask
                        g[k] = (mNew / c1) / (v.squareRoot() / rootC2 + epsilon)
                        let magnitude = max(abs(mNew), Float.leastNormalMagnitude)
                        magnitudeRows[i] += magnitude
                        magnitudeColumns[j] += magnitude
                    }
                }
                for i in 0..<n { rv[i] = newRows[i] }
                for j in 0..<mCount { cv[j] = newColumns[j] }
                ScaleBySMMF.normalize(row: rv, column: cv, rows: n, columns: mCount)
                for i in 0..<n { rm[i] = magnitudeRows[i] }
                for j in 0..<mCount { cm[j] = magnitudeColumns[j] }
                ScaleBySMMF.normalize(row: rm, column: cm, rows: n, columns: mCount)
            }
        }
    }
}
