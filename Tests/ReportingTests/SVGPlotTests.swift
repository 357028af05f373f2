import Foundation
import XCTest
@testable import Reporting

final class SVGPlotTests: XCTestCase {
    func testTextIsEscapedAndSurvivesParsing() throws {
        let name = "lr<0.1 & \"warm\" 'up'"
        var plot = SVGPlot(identifier: "escape", title: "Loss <train> & test", xTitle: "Epochs", yTitle: "Loss")
        plot.add(PlotSeries(name: name, points: [(x: 0, y: 1), (x: 1, y: 0.5)], color: Palette.color(at: 0)))
        let document = try SVGDocument(data: Data(plot.document.utf8), label: "escape")
        XCTAssertEqual(document.seriesPaths[name], 1)
        XCTAssertTrue(document.titles.contains("Loss <train> & test"))
        XCTAssertTrue(document.texts.contains(name))
    }

    func testSinglePointSeriesStillRenders() throws {
        var plot = SVGPlot(identifier: "single", title: "One evaluation", xTitle: "Epochs", yTitle: "Accuracy")
        plot.add(PlotSeries(name: "only", points: [(x: 2, y: 0.5)], color: Palette.color(at: 1)))
        let svg = plot.render()
        let document = try SVGDocument(data: Data(svg.utf8), label: "single")
        XCTAssertEqual(document.seriesPaths["only"], 1)
        XCTAssertEqual(document.circles, 1, "a lone point gets a marker")
        XCTAssertTrue(svg.contains("h0"), "and a zero-length segment with round caps")
    }

    func testNonFiniteValuesBreakTheLine() throws {
        var plot = SVGPlot(identifier: "gap", title: "Gap", xTitle: "Step", yTitle: "Loss")
        plot.add(PlotSeries(
            name: "diverging", points: [(x: 0, y: 1), (x: 1, y: 0.9), (x: 2, y: .nan), (x: 3, y: 0.8), (x: 4, y: 0.7)],
            color: Palette.color(at: 0)))
        let svg = plot.render()
        let path = try XCTUnwrap(svg.firstMatch(of: /class="series"[^>]* d="([^"]+)"/)).1
        XCTAssertEqual(path.count { $0 == "M" }, 2, "two runs: \(path)")
        XCTAssertFalse(svg.contains("nan") || svg.contains("inf"), "no non-finite coordinates")
    }

    func testLogScaleDropsNonPositiveValuesAndUsesDecadeTicks() throws {
        var plot = SVGPlot(identifier: "log", title: "Norm", xTitle: "Step", yTitle: "Norm", yScale: .automatic)
        plot.add(PlotSeries(name: "norm", points: [(x: 0, y: 0.01), (x: 1, y: 5), (x: 2, y: 300)],
                            color: Palette.color(at: 0)))
        XCTAssertEqual(plot.resolvedYScale, .logarithmic)
        let document = try SVGDocument(data: Data(plot.document.utf8), label: "log")
        for label in ["0.01", "0.1", "1", "10", "100", "1000"] {
            XCTAssertTrue(document.texts.contains(label), "missing tick \(label) in \(document.texts)")
        }
        plot.yScale = .linear
        XCTAssertEqual(plot.resolvedYScale, .linear)
    }

    func testEmptyPlotSaysSoAndListsTheSeries() throws {
        var plot = SVGPlot(identifier: "empty", title: "Accuracy", xTitle: "Epochs", yTitle: "Accuracy (%)")
        plot.add(PlotSeries(name: "waiting", points: [], color: Palette.color(at: 0)))
        let document = try SVGDocument(data: Data(plot.document.utf8), label: "empty")
        XCTAssertEqual(document.seriesPaths["waiting"], nil)
        XCTAssertTrue(document.texts.contains("No data yet"))
        XCTAssertTrue(document.texts.contains("waiting (no data)"))
    }

    func testLongSeriesIsThinnedButKeepsSpikes() throws {
        var points: [(x: Double, y: Double)] = (0..<50_000).map { (x: Double($0), y: 1 + 0.001 * Double($0 % 7)) }
        points[31_337].y = 10
        var plot = SVGPlot(identifier: "long", title: "Long", xTitle: "Step", yTitle: "Loss")
        plot.add(PlotSeries(name: "long", points: points, color: Palette.color(at: 0)))
        let svg = plot.render()
        XCTAssertLessThan(svg.utf8.count, 80_000, "thinned to a few points per pixel column")
        // The spike sets the top of the axis, and the path reaches it.
        let path = try XCTUnwrap(svg.firstMatch(of: /class="series"[^>]* d="([^"]+)"/)).1
        let ys = path.split(separator: "L").compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }
        XCTAssertEqual(try XCTUnwrap(ys.min()), 46, accuracy: 0.5, "top of the plot frame")
    }

    func testPaletteDistinguishesBeyondEightSeries() {
        let styles = (0..<16).map { "\(Palette.color(at: $0))|\(Palette.dash(at: $0) ?? "solid")" }
        XCTAssertEqual(Set(styles).count, 16)
    }
}

final class SmoothingTests: XCTestCase {
    func testConstantSeriesStaysConstantFromTheFirstPoint() {
        let smoothed = Smoothing.exponentialMovingAverage(Array(repeating: 2.5, count: 20), weight: 0.9)
        for value in smoothed { XCTAssertEqual(value, 2.5, accuracy: 1e-12) }
    }

    func testAverageFollowsAStepWithLag() {
        let values = Array(repeating: 1.0, count: 10) + Array(repeating: 0.0, count: 30)
        let smoothed = Smoothing.exponentialMovingAverage(values, weight: 0.8)
        XCTAssertEqual(smoothed[9], 1, accuracy: 1e-12)
        XCTAssertGreaterThan(smoothed[12], 0.3)
        XCTAssertLessThan(smoothed[39], 0.01)
    }

    func testNonFiniteValuesPassThroughWithoutPoisoningTheAverage() {
        let smoothed = Smoothing.exponentialMovingAverage([1, 1, .nan, 1, 1], weight: 0.5)
        XCTAssertTrue(smoothed[2].isNaN)
        XCTAssertEqual(smoothed[4], 1, accuracy: 1e-12)
    }
}
