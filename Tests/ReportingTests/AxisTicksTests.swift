import XCTest
@testable import Reporting

final class AxisTicksTests: XCTestCase {
    func testUnitRangeGetsStepsOfTwoTenths() {
        let ticks = AxisTicks.linear(from: 0, to: 1)
        XCTAssertEqual(ticks.lower, 0)
        XCTAssertEqual(ticks.upper, 1, accuracy: 1e-12)
        XCTAssertEqual(ticks.labels, ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"])
        assertEvenlySpaced(ticks, step: 0.2)
    }

    func testNarrowLearningRateRange() {
        let ticks = AxisTicks.linear(from: 0.0013, to: 0.0021)
        XCTAssertEqual(ticks.labels, ["0.0012", "0.0014", "0.0016", "0.0018", "0.0020", "0.0022"])
        XCTAssertEqual(ticks.lower, 0.0012, accuracy: 1e-15)
        XCTAssertEqual(ticks.upper, 0.0022, accuracy: 1e-15)
        assertEvenlySpaced(ticks, step: 0.0002)
    }

    func testLargeRangeUsesFiveSteps() {
        let ticks = AxisTicks.linear(from: 3, to: 237)
        XCTAssertEqual(ticks.values, [0, 50, 100, 150, 200, 250])
        XCTAssertEqual(ticks.labels, ["0", "50", "100", "150", "200", "250"])
    }

    func testNegativeRangeHasNoNegativeZero() {
        let ticks = AxisTicks.linear(from: -0.3, to: 0.25)
        XCTAssertTrue(ticks.labels.contains("0.0"), "\(ticks.labels)")
        XCTAssertFalse(ticks.labels.contains("-0.0"), "\(ticks.labels)")
        XCTAssertLessThanOrEqual(ticks.lower, -0.3)
        XCTAssertGreaterThanOrEqual(ticks.upper, 0.25)
    }

    func testSingleValueIsPaddedAroundIt() {
        for value in [5.0, 0, -2, 1e-4] {
            let ticks = AxisTicks.linear(from: value, to: value)
            XCTAssertLessThan(ticks.lower, value)
            XCTAssertGreaterThan(ticks.upper, value)
            XCTAssertGreaterThanOrEqual(ticks.values.count, 2)
        }
    }

    func testTinyValuesSwitchToExponentNotation() {
        let ticks = AxisTicks.linear(from: 1.1e-7, to: 2.9e-7)
        XCTAssertTrue(ticks.labels.allSatisfy { $0.contains("e-7") || $0 == "0" }, "\(ticks.labels)")
        XCTAssertEqual(Set(ticks.labels).count, ticks.labels.count, "labels must be distinct: \(ticks.labels)")
    }

    func testLinearTicksCoverRandomRangesWithFewDistinctLabels() {
        var random = SplitMix(state: 42)
        for _ in 0..<500 {
            let magnitude = pow(10, Double(Int(random.unit() * 12) - 6))
            let a = (random.unit() - 0.3) * magnitude
            let b = a + random.unit() * magnitude + magnitude * 1e-3
            let ticks = AxisTicks.linear(from: a, to: b)
            XCTAssertLessThanOrEqual(ticks.lower, a)
            XCTAssertGreaterThanOrEqual(ticks.upper, b)
            XCTAssertTrue((4...12).contains(ticks.values.count), "\(a)...\(b): \(ticks.values)")
            XCTAssertEqual(Set(ticks.labels).count, ticks.labels.count, "\(a)...\(b): \(ticks.labels)")
            let step = ticks.values[1] - ticks.values[0]
            let mantissa = step / pow(10, log10(step).rounded(.down))
            XCTAssertTrue([1.0, 2, 5, 10].contains { abs($0 - mantissa) < 1e-6 }, "step \(step) is not 1-2-5")
        }
    }

    func testNiceStep() {
        XCTAssertEqual(AxisTicks.niceStep(near: 0.16), 0.2, accuracy: 1e-15)
        XCTAssertEqual(AxisTicks.niceStep(near: 1.2), 1)
        XCTAssertEqual(AxisTicks.niceStep(near: 3.3), 5)
        XCTAssertEqual(AxisTicks.niceStep(near: 7.5), 10)
        XCTAssertEqual(AxisTicks.niceStep(near: 42), 50)
    }

    func testLogarithmicDecades() {
        let ticks = AxisTicks.logarithmic(from: 1, to: 10000)
        XCTAssertEqual(ticks.values, [1, 10, 100, 1000, 10000])
        XCTAssertEqual(ticks.labels, ["1", "10", "100", "1000", "10000"])
        XCTAssertEqual(ticks.scale, .logarithmic)
    }

    func testLogarithmicOverFewDecadesAddsTwoAndFive() {
        let ticks = AxisTicks.logarithmic(from: 0.3, to: 40)
        XCTAssertEqual(ticks.labels, ["0.2", "0.5", "1", "2", "5", "10", "20", "50"])
        XCTAssertEqual(ticks.lower, 0.2, accuracy: 1e-15)
        XCTAssertEqual(ticks.upper, 50)
    }

    func testLogarithmicOverManyDecadesThinsLabels() {
        let ticks = AxisTicks.logarithmic(from: 3e-9, to: 2e4)
        XCTAssertEqual(ticks.labels, ["10⁻⁹", "10⁻⁶", "10⁻³", "10⁰", "10³", "10⁶"])
        XCTAssertLessThanOrEqual(ticks.lower, 3e-9)
        XCTAssertGreaterThanOrEqual(ticks.upper, 2e4)
    }

    func testLogarithmicSmallValuesUsePowerNotationThroughout() {
        let ticks = AxisTicks.logarithmic(from: 3e-6, to: 4e-4)
        XCTAssertEqual(ticks.labels, ["2×10⁻⁶", "5×10⁻⁶", "10⁻⁵", "2×10⁻⁵", "5×10⁻⁵", "10⁻⁴", "2×10⁻⁴", "5×10⁻⁴"])
    }

    func testAutomaticScaleNeedsPositiveValuesOverTwoDecades() {
        XCTAssertEqual(AxisScale.automatic(for: [0.5, 2, 40]), .linear)
        XCTAssertEqual(AxisScale.automatic(for: [0.5, 2, 400]), .logarithmic)
        XCTAssertEqual(AxisScale.automatic(for: [0, 2, 4000]), .linear)
        XCTAssertEqual(AxisScale.automatic(for: [Double.nan, 0.01, 5]), .logarithmic)
        XCTAssertEqual(AxisScale.automatic(for: []), .linear)
    }

    private func assertEvenlySpaced(_ ticks: AxisTicks, step: Double, file: StaticString = #filePath,
                                    line: UInt = #line) {
        for (a, b) in zip(ticks.values, ticks.values.dropFirst()) {
            XCTAssertEqual(b - a, step, accuracy: step * 1e-9, file: file, line: line)
        }
    }
}
