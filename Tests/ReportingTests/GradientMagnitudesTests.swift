import Foundation
import XCTest
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import Reporting

final class GradientMagnitudesTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("gradients-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: directory)
    }

    private func magnitudes(_ values: [Float], step: Int = 1, tensor: String = "w") -> GradientMagnitudes {
        values.withUnsafeBufferPointer { GradientMagnitudes(step: step, tensor: tensor, gradients: $0) }
    }

    /// Quarter-decade bins from 1e-10 to 1e2, zeros and tiny values in the first, huge in the last.
    func testBinning() {
        let record = magnitudes([0, 1e-12, 1e-10, -1e-10, 1.5e-3, 1, -0.99, 99, 100, 1e6, .nan, .infinity])
        XCTAssertEqual(record.counts.count, 12 * 4 + 2)
        XCTAssertEqual(record.total, 10, "non-finite values are not counted")
        XCTAssertEqual(record.counts[0], 2, "0 and 1e-12")
        XCTAssertEqual(record.counts[1], 2, "±1e-10 open the first regular bin")
        // 1.5e-3: log10 = -2.82, (−2.82 + 10) · 4 = 28.7 → regular bin 28.
        XCTAssertEqual(record.counts[1 + 28], 1)
        XCTAssertEqual(record.counts[1 + 40], 1, "1 opens the bin of [1, 1.78)")
        XCTAssertEqual(record.counts[1 + 39], 1, "0.99 is just below it")
        XCTAssertEqual(record.counts[1 + 47], 1, "99 is in the last regular bin")
        XCTAssertEqual(record.counts[49], 2, "100 and 1e6 overflow")
        XCTAssertEqual(record.edgeExponent(1), -10)
        XCTAssertEqual(record.edgeExponent(41), 0)
    }

    /// A resumed run's records replace the abandoned attempt's from the step it redoes, even at the same step.
    func testResumeSupersedesRedoneSteps() throws {
        let url = directory.appendingPathComponent("gradients.jsonl")
        let writer = try MetricsWriter(url: url)
        for step in [2, 4] { for tensor in ["a", "b"] { try writer.write(magnitudes([1], step: step, tensor: tensor)) } }
        // The resumed attempt redoes step 4 with other values, then goes on; a write in progress is cut off.
        for step in [4, 6] { for tensor in ["a", "b"] { try writer.write(magnitudes([0.01], step: step, tensor: tensor)) } }
        let handle = try FileHandle(forWritingTo: url)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("{\"type\":\"gradient_magnitudes\",\"st".utf8))
        try handle.close()
        let records = try GradientMagnitudes.read(from: url)
        XCTAssertEqual(records.map(\.step), [2, 2, 4, 4, 6, 6])
        XCTAssertEqual(records.map(\.tensor), ["a", "b", "a", "b", "a", "b"])
        XCTAssertEqual(records[2].counts, magnitudes([0.01]).counts)
    }

    func testMalformedLineNamesFileAndLine() throws {
        let url = directory.appendingPathComponent("gradients.jsonl")
        try Data("{\"type\":\"gradient_magnitudes\",\"step\":1,\"tensor\":\"w\",\"low\":-10,\"bins_per_decade\":0,\"counts\":[1,2]}\n".utf8)
            .write(to: url)
        XCTAssertThrowsError(try GradientMagnitudes.read(from: url)) { error in
            XCTAssertEqual(error as? ReportError,
                           .invalidValue(path: url.path, line: 1, field: "bins_per_decade", value: "0"))
        }
    }

    /// The report draws one panel per tensor, one cell per occupied bin and step, each saying its share.
    func testReportDrawsAHeatMapPerVariant() throws {
        _ = try SyntheticSweep.make(in: directory)
        let variant = directory.appendingPathComponent("b256-base")
        let writer = try MetricsWriter(url: variant.appendingPathComponent("gradients.jsonl"))
        for step in stride(from: 20, through: 160, by: 20) {
            // A bulk near 1e-3 and a tail of 1 % at 1, growing no further.
            let values = [Float](repeating: 1e-3, count: 99) + [1]
            try writer.write(magnitudes(values, step: step, tensor: "fc1.weight"))
            // Half of the bias gradient is exactly zero (a dead unit): the open end bin, with a '<' in its label.
            try writer.write(magnitudes([0, 2e-5], step: step, tensor: "fc1.bias"))
        }
        let summary = try ReportBuilder.render(directory: directory, variantOrder: nil, options: ReportOptions())
        let url = try XCTUnwrap(summary.plotURLs.first { $0.lastPathComponent == "gradient-magnitudes-b256-base.svg" })
        XCTAssertEqual(summary.plotURLs.count, 9, "the eight plots and one heat map (only this variant has gradients)")

        let figure = try HeatMapDocument(contentsOf: url)
        XCTAssertEqual(figure.panels, ["fc1.weight", "fc1.bias"])
        XCTAssertEqual(figure.cellTitles.count, 8 * 2 + 8 * 2, "two occupied bins per step and tensor")
        XCTAssertTrue(figure.cellTitles.contains("step 20, 0.001–0.00178: 99.00%"), "\(figure.cellTitles.prefix(4))")
        XCTAssertTrue(figure.cellTitles.contains("step 160, 1–1.78: 1.00%"))
        XCTAssertTrue(figure.cellTitles.contains("step 40, |g| < 1e-10: 50.00%"), "\(figure.cellTitles.suffix(4))")

        let markdown = try String(contentsOf: summary.markdownURL, encoding: .utf8)
        XCTAssertTrue(markdown.contains("## Gradient magnitudes"))
        XCTAssertTrue(markdown.contains("(plots/gradient-magnitudes-b256-base.svg)"))
        let html = try String(contentsOf: summary.htmlURL, encoding: .utf8)
        XCTAssertTrue(html.contains("data-tensor=\"fc1.weight\""), "the heat map is inline in the page")
    }
}

/// The panels and cell titles of a heat-map SVG, read with a real XML parser (so it must be well-formed).
private final class HeatMapDocument: NSObject, XMLParserDelegate {
    private(set) var panels: [String] = []
    private(set) var cellTitles: [String] = []
    private var inCell = false, inTitle = false, title = ""

    init(contentsOf url: URL) throws {
        super.init()
        let parser = XMLParser(data: try Data(contentsOf: url))
        parser.delegate = self
        guard parser.parse() else { throw parser.parserError ?? CocoaError(.fileReadCorruptFile) }
    }

    func parser(_ parser: XMLParser, didStartElement element: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        if element == "g", attributes["class"] == "panel", let tensor = attributes["data-tensor"] { panels.append(tensor) }
        if element == "rect", attributes["class"] == "cell" { inCell = true }
        if element == "title", inCell { inTitle = true; title = "" }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        if inTitle { title += string }
    }

    func parser(_ parser: XMLParser, didEndElement element: String, namespaceURI: String?, qualifiedName: String?) {
        if element == "title", inTitle { cellTitles.append(title); inTitle = false }
        if element == "rect" { inCell = false }
    }
}
