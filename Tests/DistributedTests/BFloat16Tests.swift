import Distributed
import XCTest

/// The conversions of `distributed.compress: bf16`: a float's upper 16 bits, rounded to nearest with
/// ties to even, exactly as IEEE rounding to 8 significant bits.
final class BFloat16Tests: XCTestCase {
    private func rounded(_ values: [Float]) -> [Float] { BFloat16.rounded(values) }

    func testRoundsToNearestEvenAndKeepsSpecialValues() {
        let step: Float = 0x1p-7  // bfloat16's unit at 1
        let cases: [(Float, Float)] = [
            (1 + step / 2, 1),  // a tie goes to the even neighbour, down
            (1 + 3 * step / 2, 1 + 2 * step),  // a tie goes to the even neighbour, up
            (1 + step / 2 + 0x1p-20, 1 + step),  // above the tie: up
            (-(1 + 3 * step / 2), -(1 + 2 * step)),
            (3.0, 3.0), (-0.0, -0.0), (.infinity, .infinity), (-.infinity, -.infinity),
            (Float.greatestFiniteMagnitude, .infinity),  // rounds past the largest bfloat16
            (0x1p-130, 0x1p-130),  // a subnormal with few bits is exact
        ]
        let result = rounded(cases.map(\.0))
        for ((input, expected), got) in zip(cases, result) {
            XCTAssertEqual(got.bitPattern, expected.bitPattern, "\(input) → \(got), expected \(expected)")
        }
        XCTAssertTrue(rounded([.nan])[0].isNaN)
        XCTAssertTrue(rounded([Float(bitPattern: 0x7f80_0001)])[0].isNaN, "a NaN whose payload sits in the low bits stays NaN")
    }

    /// Every float rounds to one of its two bfloat16 neighbours, the nearer one, within half a unit.
    func testEveryRoundingIsWithinHalfAUnit() {
        let values = (0..<10_000).map { Float(1000 * sin(Double($0) * 0.7 + 0.1)) }
        for (value, result) in zip(values, rounded(values)) where value != 0 {
            let unit = Float(sign: .plus, exponent: value.exponent - 7, significand: 1)
            XCTAssertLessThanOrEqual(abs(result - value), unit / 2, "\(value) → \(result)")
        }
    }
}
