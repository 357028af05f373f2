import CKernels

/// An exact, order-independent sum of gradient buffers: how the reproducible mode makes training
/// bit-identical for every decomposition of the global batch.
///
/// Float addition is not associative, so a sum of the same chunk gradients grouped differently (by
/// other ranks, micro-batches or threads) differs in its last bits, and Adam-like optimizers amplify
/// those bits wherever a gradient is near zero. Integers are associative: each chunk's gradient is
/// turned into 64-bit fixed point on a grid that depends on nothing but the tensor's agreed exponent,
/// the integers are summed in any order (here, then by an integer allreduce), and the exact sum is
/// turned back into floats once.
///
/// **The grid.** Tensor t carries an exponent eₜ, a bound that every chunk value is expected below
/// (|g| < 2^eₜ). Its values are stored as round(g · 2^sₜ) with sₜ = M − eₜ and M = min(51, 62 − L),
/// where 2^L ≥ the number of chunks in a global batch: each term is at most 2^M — 51 bits, so that the
/// kernel rounds it exactly in double arithmetic, vectorized — and any sum of 2^L terms below 2^62.
///
/// **Precision.** A chunk value keeps all 24 bits of its float when it lies within 2^(M−24) of the
/// bound (2^27 for up to 2048 chunks); smaller values are rounded to the grid, an absolute error of at
/// most 2^(eₜ − M − 1) each. The bound is set after each step to the largest value's exponent plus
/// `headroomBits` (8), so values within 2^(M−32) of the previous step's largest are exact — far finer
/// than the float32 sum it replaces, whose every addition rounds. The final conversion rounds the
/// exact integer once (to nearest). A value at or above its bound (a gradient that grew more than
/// 2^headroomBits in one step) is detected from the exponents every rank agrees on: the step is then
/// recomputed with the larger bound, which costs time but never bits.
public final class FixedPointGradientSum {
    /// Bits of margin above the previous step's largest value.
    public static let headroomBits = 8
    /// The bound before any step has been seen: 2^16 per chunk value.
    public static let initialExponent = 16
    /// At most 2^22 terms: leaves 24 exact bits within 2^16 of the bound, and room for `FixedPointScalar` sums.
    public static let maximumTermBits = 22
    /// The most bits a term takes: the accumulation kernel's double arithmetic is exact up to 2^51.
    public static let maximumMagnitudeBits = 51

    public let layout: ParameterLayout
    /// L: ⌈log2⌉ of the most chunks a global batch holds.
    public let termBits: Int
    /// eₜ per tensor (layout slot): this step's bound.
    public private(set) var exponents: [Int] {
        didSet { updateShifts() }
    }
    /// M = min(51, 62 − L): every term is at most 2^M.
    public var magnitudeBits: Int { min(Self.maximumMagnitudeBits, 62 - termBits) }
    /// sₜ per tensor, kept with `exponents` so that adding a chunk allocates nothing.
    private var shifts: [Int32] = []
    private func updateShifts() { shifts = exponents.indices.map { Int32(shift(ofSlot: $0)) } }
    /// Per tensor, the smallest e with every value added since `reset` below 2^e (at least −126).
    public private(set) var observed: [Int]
    /// Whether an infinite or NaN value was added since `reset`.
    public private(set) var sawNonFinite = false
    /// The fixed-point sums, `layout.totalCount` of them, then `scalarCount` integers the caller adds itself.
    /// A sum of no chunks is zero: reading `values` before any `add` or `take` since `reset` zeroes them.
    public var values: UnsafeMutableBufferPointer<Int64> {
        if sumsAreStale {
            storage.update(repeating: 0)
            sumsAreStale = false
        }
        return storage
    }
    private let storage: UnsafeMutableBufferPointer<Int64>
    /// After `reset`, until the first chunk: the sums hold an earlier step's values, which the first
    /// `take` overwrites instead of adding to (saving a pass over the buffer).
    private var sumsAreStale = false
    public let scalarCount: Int

    /// For sums of at most `terms` gradient buffers of `layout`, with `scalarCount` extra integers
    /// carried in the same buffer (so that one allreduce moves everything).
    public init(layout: ParameterLayout, terms: Int, scalarCount: Int = 0) {
        precondition(terms > 0 && scalarCount >= 0, "terms \(terms), scalars \(scalarCount)")
        self.layout = layout
        var bits = 0
        while (1 << bits) < terms { bits += 1 }
        termBits = bits
        precondition(bits <= Self.maximumTermBits, "\(terms) terms: at most 2^\(Self.maximumTermBits) are supported")
        exponents = Array(repeating: Self.initialExponent, count: layout.slots.count)
        observed = Array(repeating: -126, count: layout.slots.count)
        self.scalarCount = scalarCount
        storage = .allocate(capacity: layout.totalCount + scalarCount)
        storage.update(repeating: 0)
        updateShifts()
    }

    deinit { storage.deallocate() }

    /// The extra integers after the sums.
    public var scalars: UnsafeMutableBufferPointer<Int64> {
        UnsafeMutableBufferPointer(rebasing: storage[layout.totalCount...])
    }

    /// sₜ: the power of two tensor `slot` is scaled by.
    public func shift(ofSlot slot: Int) -> Int { magnitudeBits - exponents[slot] }

    /// Zero sums and scalars, forget what was observed; the exponents stay.
    public func reset() {
        sumsAreStale = true
        scalars.update(repeating: 0)
        for t in observed.indices { observed[t] = -126 }
        sawNonFinite = false
    }

    /// Adds one gradient buffer (laid out as `layout`). Threads split the elements; every element's
    /// term depends on its value and its tensor's shift only.
    public func add(_ gradients: UnsafePointer<Float>) {
        let sums = values.baseAddress!
        accumulate { start, count, shift, nonFinite in
            bb_fixed_accumulate(gradients + start, sums + start, count, shift, &nonFinite)
        }
    }

    /// `add`, leaving `gradients` zero: the buffer a model accumulates each chunk's gradients into is
    /// emptied in the same pass that reads it.
    public func take(_ gradients: UnsafeMutablePointer<Float>) {
        let first: Int32 = sumsAreStale ? 1 : 0
        sumsAreStale = false
        let sums = storage.baseAddress!
        accumulate { start, count, shift, nonFinite in
            bb_fixed_take(gradients + start, sums + start, count, shift, first, &nonFinite)
        }
    }

    /// Runs `kernel(start, count, shift, &nonFinite)` over every tensor's elements, split between
    /// threads, and records the exponents it returns.
    private func accumulate(_ kernel: (Int, Int, Int32, inout Int32) -> Int32) {
        let slots = layout.slots, total = layout.totalCount, shifts = shifts
        let workers = max(1, min(BLAS.threadCount, total / Parallel.minimumWork))
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: workers * (slots.count + 1)) { rows in
            Parallel.forEachTask(workers) { worker in
                let row = rows.baseAddress! + worker * (slots.count + 1)
                let range = (total * worker / workers)..<(total * (worker + 1) / workers)
                var nonFinite: Int32 = 0
                for (t, slot) in slots.enumerated() {
                    let start = max(slot.offset, range.lowerBound), end = min(slot.offset + slot.count, range.upperBound)
                    guard start < end else {
                        row[t] = -126
                        continue
                    }
                    row[t] = kernel(start, end - start, shifts[t], &nonFinite)
                }
                row[slots.count] = nonFinite
            }
            for worker in 0..<workers {
                let row = rows.baseAddress! + worker * (slots.count + 1)
                for t in slots.indices { observed[t] = max(observed[t], Int(row[t])) }
                if row[slots.count] != 0 { sawNonFinite = true }
            }
        }
    }

    /// Replaces what this process observed by what every rank observed (the MAX over ranks).
    public func setObserved(_ global: [Int]) {
        precondition(global.count == observed.count, "\(global.count) exponents for \(observed.count) tensors")
        observed = global
    }

    /// Whether some value reached its tensor's bound: the sums may have overflowed and the step must
    /// be recomputed after `widenBounds()`. Decided on `observed`, so every rank agrees once it is global.
    public var overflowed: Bool { zip(observed, exponents).contains { $0 > $1 } }

    /// Bounds that the values just observed fit under, for recomputing an overflowed step.
    public func widenBounds() {
        for t in exponents.indices { exponents[t] = max(exponents[t], observed[t] + Self.headroomBits) }
    }

    /// After a step: the next step's bounds follow this step's largest values.
    public func followObserved() {
        for t in exponents.indices { exponents[t] = observed[t] + Self.headroomBits }
    }

    /// Restores bounds saved with `exponents` (a checkpoint), so that a resumed run continues on the same grids.
    public func setExponents(_ saved: [Int]) {
        precondition(saved.count == exponents.count, "\(saved.count) exponents for \(exponents.count) tensors")
        exponents = saved
    }

    /// Writes the sums as floats, each rounded once.
    public func write(into gradients: UnsafeMutablePointer<Float>) {
        let slots = layout.slots
        let sums = UnsafePointer(values.baseAddress!)
        Parallel.forEachRange(slots.count, work: layout.totalCount) { range in
            for t in range {
                let slot = slots[t]
                bb_fixed_to_float(sums + slot.offset, gradients + slot.offset, slot.count, Int32(shift(ofSlot: t)))
            }
        }
    }
}

/// A non-negative or negative double as two integers on the grid 2⁻⁴⁰ — ⌊v⌋ and round((v − ⌊v⌋)·2⁴⁰)
/// — so that sums of loss values are exact and independent of order like the gradients. Each term
/// keeps 40 bits after the binary point; |v| must stay below 2⁴⁰ (a larger loss counts as non-finite),
/// so that sums of up to 2²² terms fit in 64 bits.
public enum FixedPointScalar {
    public static let fractionBits = 40

    /// The two limbs of `value`, nil when it is not finite or too large.
    public static func limbs(_ value: Double) -> (whole: Int64, fraction: Int64)? {
        guard value.isFinite, abs(value) < 0x1p40 else { return nil }
        let whole = value.rounded(.down)
        var fraction = Int64(((value - whole) * 0x1p40).rounded(.toNearestOrEven))
        var integer = Int64(whole)
        if fraction == 1 << 40 {
            integer += 1
            fraction = 0
        }
        return (integer, fraction)
    }

    /// The value of summed limbs, rounded once at the end.
    public static func value(whole: Int64, fraction: Int64) -> Double {
        // whole + fraction·2⁻⁴⁰ exactly in integers where it fits, then one conversion.
        let carry = fraction >> 40, rest = fraction & ((1 << 40) - 1)
        let (high, overflow) = whole.addingReportingOverflow(carry)
        if overflow { return .infinity }
        if abs(high) < 1 << 22 { return Double(high << 40 | rest) * 0x1p-40 }
        return Double(high) + Double(rest) * 0x1p-40
    }
}
