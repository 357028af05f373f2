import Foundation
import XCTest
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import Reporting

final class ReportBuilderTests: XCTestCase {
    private var directory: URL!
    private var keepsOutput = false

    override func setUpWithError() throws {
        // Set REPORTING_SAMPLE_DIR to keep the rendered sample report for inspection.
        if let sample = ProcessInfo.processInfo.environment["REPORTING_SAMPLE_DIR"] {
            directory = URL(fileURLWithPath: sample, isDirectory: true).appendingPathComponent(name.filter(\.isLetter))
            keepsOutput = true
            try? FileManager.default.removeItem(at: directory)
        } else {
            directory = FileManager.default.temporaryDirectory
                .appendingPathComponent("reporting-\(UUID().uuidString)", isDirectory: true)
        }
    }

    override func tearDownWithError() throws {
        if !keepsOutput { try? FileManager.default.removeItem(at: directory) }
    }

    // MARK: - report.md

    func testMarkdownTableHasOneRowPerVariantWithValuesFromTheData() throws {
        let sweep = try SyntheticSweep.make(in: directory)
        for target in [0.9, 0.95] {
            let summary = try ReportBuilder.render(
                directory: directory, variantOrder: nil,
                options: ReportOptions(title: "Sweep test", description: "Compares b256, b512, b1024.",
                                       targetAccuracy: target))
            let markdown = try String(contentsOf: summary.markdownURL, encoding: .utf8)
            XCTAssertTrue(markdown.hasPrefix("# Sweep test\n"))
            XCTAssertTrue(markdown.contains("Compares b256, b512, b1024."))

            let table = try markdownTable(after: "## Comparison", in: markdown)
            XCTAssertEqual(table.rows.count, sweep.variants.count, "one row per variant")
            let column = Dictionary(uniqueKeysWithValues: table.header.enumerated().map { ($1, $0) })
            let targetPercent = String(format: "%g%%", target * 100)

            // Default order: by effective batch.
            let expectedOrder = sweep.variants.sorted { $0.info.effectiveBatch < $1.info.effectiveBatch }
            for (row, variant) in zip(table.rows, expectedOrder) {
                func cell(_ header: String) throws -> String {
                    let index = try XCTUnwrap(column[header], "missing column \(header) in \(table.header)")
                    return row[index]
                }
                let info = variant.info
                let evaluations = variant.evaluations
                let lastElapsed = max(variant.steps.last?.elapsed ?? 0, evaluations.last?.elapsed ?? 0)
                let rates = variant.steps.map(\.samplesPerSecond).sorted()
                let median = rates.count % 2 == 1
                    ? rates[rates.count / 2] : (rates[rates.count / 2 - 1] + rates[rates.count / 2]) / 2
                let reached = evaluations.first { $0.testAccuracy >= target }

                XCTAssertEqual(try cell("Variant"), info.name)
                XCTAssertEqual(try cell("Effective batch"), "\(info.effectiveBatch)")
                XCTAssertEqual(try cell("Ranks × micro × k"), "\(info.ranks) × \(info.micro) × \(info.accumulation)")
                XCTAssertEqual(try cell("Optimizer"), "adamw")
                XCTAssertEqual(Double(try cell("Learning rate")), info.learningRate)
                XCTAssertEqual(try cell("Wall time (s)"), String(format: "%.1f", lastElapsed))
                XCTAssertEqual(try cell("Samples/s"), String(format: "%.0f", median))
                XCTAssertEqual(try cell("Skipped steps"), "\(variant.steps.count { $0.skipped })")
                if info.complete {
                    XCTAssertEqual(try cell("Status"), "complete")
                    XCTAssertEqual(try cell("Steps"), "\(info.steps)")
                    let final = try XCTUnwrap(evaluations.last).testAccuracy
                    let best = try XCTUnwrap(evaluations.map(\.testAccuracy).max())
                    XCTAssertEqual(try cell("Final test acc. (%)"), String(format: "%.2f", final * 100))
                    XCTAssertEqual(try cell("Best test acc. (%)"), String(format: "%.2f", best * 100))
                } else {
                    XCTAssertTrue(evaluations.isEmpty, "the synthetic incomplete variant has no evaluations")
                    XCTAssertEqual(try cell("Status"), "incomplete, no evaluation yet")
                    XCTAssertEqual(try cell("Steps"), "\(variant.steps.count) / \(info.steps)")
                    XCTAssertEqual(try cell("Final test acc. (%)"), "—")
                    XCTAssertEqual(try cell("Best test acc. (%)"), "—")
                }
                XCTAssertEqual(try cell("Time to \(targetPercent) (s)"),
                               reached.map { String(format: "%.1f", $0.elapsed) } ?? "—")
                XCTAssertEqual(try cell("Epochs to \(targetPercent)"),
                               reached.map { String(format: "%.2f", $0.epoch) } ?? "—")
            }
            // The synthetic data is built so that each target separates the variants differently.
            let reachedCount = sweep.variants.count { v in v.evaluations.contains { $0.testAccuracy >= target } }
            XCTAssertEqual(reachedCount, target == 0.9 ? 2 : 1)

            for plot in summary.plotURLs {
                XCTAssertTrue(markdown.contains("](plots/\(plot.lastPathComponent))"), "\(plot.lastPathComponent)")
            }
            for variant in sweep.variants {
                XCTAssertTrue(markdown.contains("(\(variant.info.name)/metrics.jsonl)"))
                XCTAssertTrue(markdown.contains("(\(variant.info.name)/config.yaml)"))
            }
        }
    }

    func testVariantOrderSelectsAndOrdersVariants() throws {
        _ = try SyntheticSweep.make(in: directory)
        let summary = try ReportBuilder.render(
            directory: directory, variantOrder: ["b1024-linear", "b256-base"], options: ReportOptions())
        XCTAssertEqual(summary.variants.map(\.name), ["b1024-linear", "b256-base"])
        let markdown = try String(contentsOf: summary.markdownURL, encoding: .utf8)
        let table = try markdownTable(after: "## Comparison", in: markdown)
        XCTAssertEqual(table.rows.map { $0[0] }, ["b1024-linear", "b256-base"])

        XCTAssertThrowsError(try ReportBuilder.render(
            directory: directory, variantOrder: ["b2048"], options: ReportOptions())) { error in
            guard case .unknownVariant(let name, let available) = error as? ReportError else {
                return XCTFail("unexpected \(error)")
            }
            XCTAssertEqual(name, "b2048")
            XCTAssertEqual(available.sorted(), ["b1024-linear", "b256-base", "b512-sqrt"])
        }
    }

    func testVariantThatHasNotLoggedYetIsShownAsIncomplete() throws {
        _ = try SyntheticSweep.make(in: directory)
        let folder = directory.appendingPathComponent("b4096-queued", isDirectory: true)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let info = VariantInfo(name: "b4096-queued", effectiveBatch: 4096, ranks: 8, micro: 64, accumulation: 8,
                               optimizer: "lamb", learningRate: 0.01, steps: 50, complete: false)
        try JSONEncoder().encode(info).write(to: folder.appendingPathComponent("variant.json"))

        let summary = try ReportBuilder.render(directory: directory, variantOrder: nil, options: ReportOptions())
        let markdown = try String(contentsOf: summary.markdownURL, encoding: .utf8)
        let table = try markdownTable(after: "## Comparison", in: markdown)
        XCTAssertEqual(table.rows.count, 4)
        let row = try XCTUnwrap(table.rows.last)
        XCTAssertEqual(row[0], "b4096-queued")
        XCTAssertEqual(row[1], "incomplete, no evaluation yet")
        XCTAssertEqual(row[6], "0 / 50")
        XCTAssertEqual(Array(row[7...12]), Array(repeating: "—", count: 6))
        XCTAssertTrue(markdown.contains("no config.yaml yet"))
    }

    func testMalformedMetricsOfOneVariantFailsTheReportNamingFileAndLine() throws {
        _ = try SyntheticSweep.make(in: directory)
        let url = directory.appendingPathComponent("b512-sqrt/metrics.jsonl")
        var lines = try String(contentsOf: url, encoding: .utf8).components(separatedBy: "\n")
        lines[4] = lines[4].replacingOccurrences(of: "\"loss\":", with: "\"loss\":\"high\",\"x\":")
        try Data(lines.joined(separator: "\n").utf8).write(to: url)
        XCTAssertThrowsError(try ReportBuilder.render(directory: directory, variantOrder: nil,
                                                      options: ReportOptions())) { error in
            guard case .malformedLine(let path, let line, let reason) = error as? ReportError else {
                return XCTFail("unexpected \(error)")
            }
            XCTAssertEqual(path, url.path)
            XCTAssertEqual(line, 5)
            XCTAssertTrue(reason.contains("loss"), reason)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory.appendingPathComponent("report.md").path))
    }

    // MARK: - SVG plots

    func testEveryPlotIsValidXMLWithOnePathPerSeries() throws {
        let sweep = try SyntheticSweep.make(in: directory)
        let summary = try ReportBuilder.render(directory: directory, variantOrder: nil, options: ReportOptions())
        XCTAssertEqual(summary.plotURLs.count, 8)
        let names = sweep.variants.map(\.info.name)
        let evaluated = Set(sweep.variants.filter { !$0.evaluations.isEmpty }.map(\.info.name))
        XCTAssertEqual(evaluated.count, 2)

        // One series per variant (the steps- and examples-to-target plots have one per batch: CriticalBatchTests).
        for url in summary.plotURLs where !url.lastPathComponent.contains("-to-target") {
            let file = url.lastPathComponent
            let document = try SVGDocument(contentsOf: url)
            XCTAssertEqual(document.rootElement, "svg", file)
            XCTAssertFalse(document.titles.isEmpty, "\(file) has a title")
            XCTAssertGreaterThanOrEqual(document.textCount, 8, "\(file) has tick labels and axis titles")
            for name in names {
                let expected = file.hasPrefix("accuracy") && !evaluated.contains(name) ? 0 : 1
                XCTAssertEqual(document.seriesPaths[name, default: 0], expected, "\(file): series \(name)")
            }
            let companions = file.hasPrefix("loss") ? names.count : 0
            XCTAssertEqual(document.companionPaths, companions, "\(file): raw-loss companions")
            if file.hasPrefix("accuracy") {
                // A variant without evaluations is still listed, marked as having no data.
                XCTAssertTrue(document.texts.contains { $0.contains("b1024-linear (no data)") }, file)
            }
        }
    }

    func testGradientNormSpanningDecadesUsesLogAxis() throws {
        _ = try SyntheticSweep.make(in: directory)
        let variantDirectory = directory.appendingPathComponent("b256-base")
        let metricsURL = variantDirectory.appendingPathComponent("metrics.jsonl")
        var metrics = try RunMetrics.read(from: metricsURL)
        // A spike three decades above the rest.
        metrics.steps[3].gradientNorm = 2000
        let writerURL = variantDirectory.appendingPathComponent("metrics-new.jsonl")
        let writer = try MetricsWriter(url: writerURL)
        for step in metrics.steps { try writer.write(step) }
        for evaluation in metrics.evaluations { try writer.write(evaluation) }
        try FileManager.default.removeItem(at: metricsURL)
        try FileManager.default.moveItem(at: writerURL, to: metricsURL)

        let summary = try ReportBuilder.render(directory: directory, variantOrder: nil, options: ReportOptions())
        let url = try XCTUnwrap(summary.plotURLs.first { $0.lastPathComponent == "gradient-norm.svg" })
        let document = try SVGDocument(contentsOf: url)
        XCTAssertTrue(document.texts.contains("1000"), "decade ticks: \(document.texts)")
        XCTAssertTrue(document.texts.contains("10"), "decade ticks: \(document.texts)")
    }

    // MARK: - report.html

    func testHTMLIsSelfContainedAndEmbedsEveryPlot() throws {
        let sweep = try SyntheticSweep.make(in: directory)
        let summary = try ReportBuilder.render(directory: directory, variantOrder: nil, options: ReportOptions())
        let html = try String(contentsOf: summary.htmlURL, encoding: .utf8)
        XCTAssertEqual(html.components(separatedBy: "<svg").count - 1, summary.plotURLs.count)
        XCTAssertEqual(html.components(separatedBy: "<details").count - 1, sweep.variants.count)
        XCTAssertEqual(html.components(separatedBy: "<tr class=").count - 1, 2 * sweep.variants.count,
                       "comparison and step-time tables")
        let lowered = html.lowercased()
        XCTAssertFalse(lowered.contains("src="), "no external sources")
        XCTAssertFalse(lowered.contains("href=\"http"), "no external links")
        XCTAssertFalse(lowered.contains("href='http"), "no external links")
        XCTAssertFalse(lowered.contains("url(http"), "no external CSS resources")
        XCTAssertFalse(lowered.contains("@import"), "no external CSS")
        // The configs are embedded, escaped.
        XCTAssertTrue(html.contains("note: &quot;&lt;scaled &amp; warmed up&gt;&quot;"))
        // Element ids must be unique on the page, or the clip paths of one plot would clip another.
        let ids = html.matches(of: /id="([^"]+)"/).map { String($0.1) }
        XCTAssertEqual(ids.count, Set(ids).count, "duplicate ids: \(ids)")
        XCTAssertTrue(html.contains("<tr class=\"incomplete\">"))
    }

    // MARK: - helpers

    private struct MarkdownTable {
        var header: [String]
        var rows: [[String]]
    }

    /// The first pipe table after a heading line.
    private func markdownTable(after heading: String, in markdown: String) throws -> MarkdownTable {
        let lines = markdown.components(separatedBy: "\n")
        let start = try XCTUnwrap(lines.firstIndex(of: heading), "no \(heading)")
        let tableLines = lines[(start + 1)...].drop { !$0.hasPrefix("|") }.prefix { $0.hasPrefix("|") }
        func cells(_ line: String) -> [String] {
            line.trimmingCharacters(in: .whitespaces).dropFirst().dropLast()
                .components(separatedBy: " | ").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        let all = tableLines.map(cells)
        XCTAssertGreaterThanOrEqual(all.count, 2)
        let header = all[0]
        for row in all.dropFirst() { XCTAssertEqual(row.count, header.count, "\(row)") }
        return MarkdownTable(header: header, rows: Array(all.dropFirst(2)))
    }
}

/// What the tests need to know of an SVG file, gathered by Foundation's XML parser (which fails on invalid XML).
final class SVGDocument: NSObject, XMLParserDelegate {
    private(set) var rootElement: String?
    private(set) var seriesPaths: [String: Int] = [:]
    /// The path data of each series, by name (the last path of that name).
    private(set) var seriesData: [String: String] = [:]
    private(set) var companionPaths = 0
    private(set) var circles = 0
    private(set) var titles: [String] = []
    private(set) var texts: [String] = []
    var textCount: Int { texts.count }
    private var currentText: String?
    private var inTitle = false
    private var titleText = ""

    convenience init(contentsOf url: URL) throws {
        try self.init(data: Data(contentsOf: url), label: url.lastPathComponent)
    }

    init(data: Data, label: String) throws {
        super.init()
        let parser = XMLParser(data: data)
        parser.delegate = self
        guard parser.parse() else {
            throw NSError(domain: "SVGDocument", code: 1, userInfo: [
                NSLocalizedDescriptionKey: "\(label) is not valid XML: \(parser.parserError.map { "\($0)" } ?? "?")",
            ])
        }
    }

    func parser(
        _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName: String?,
        attributes: [String: String] = [:]
    ) {
        if rootElement == nil { rootElement = elementName }
        switch elementName {
        case "path":
            if attributes["class"] == "series", let name = attributes["data-series"] {
                seriesPaths[name, default: 0] += 1
                seriesData[name] = attributes["d"]
            } else if attributes["class"] == "series-companion" {
                companionPaths += 1
            }
        case "circle": circles += 1
        case "text": currentText = ""
        case "title":
            inTitle = true
            titleText = ""
        default: break
        }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        if inTitle { titleText += string } else if currentText != nil { currentText? += string }
    }

    func parser(
        _ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?
    ) {
        if elementName == "text", let text = currentText {
            texts.append(text)
            currentText = nil
        } else if elementName == "title" {
            titles.append(titleText)
            inTitle = false
        }
    }
}
