import Tensors

/// Maps each element of a slot to its output unit (index along `outputAxis`), for unit-wise transforms.
struct UnitView {
    let units: Int
    let inner: Int   // product of the axes after the output axis
    let count: Int

    init(_ slot: ParameterSlot) {
        units = slot.units
        count = slot.count
        inner = slot.shape.isEmpty ? 1 : slot.shape[(slot.outputAxis + 1)...].reduce(1, *)
    }

    @inline(__always) func unit(_ element: Int) -> Int { (element / inner) % units }

    /// Σx² per unit into `sums` (length `units`).
    func sumsOfSquares(_ x: UnsafeMutablePointer<Float>, into sums: inout [Double]) {
        sums = [Double](repeating: 0, count: units)
        for e in 0..<count { let v = Double(x[e]); sums[unit(e)] += v * v }
    }
}
