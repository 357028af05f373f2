import Foundation
import XCTest
@testable import Reporting

/// Steps and examples to the target per effective batch, the critical batch size fitted to them, and
/// the report's table and plots of both.
final class CriticalBatchTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("critical-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    /// Points exactly on S = S_min (1 + B_crit / B) give back S_min, E_min and B_crit.
    func testTheFitRecoversTheCurveItWasDrawnFrom() throws {
        let points = [128.0, 256, 512, 1024, 4096].map { (batch: $0, steps: 300 * (1 + 700 / $0)) }
        let fit = try XCTUnwrap(CriticalBatchAnalysis.fit(points))
        XCTAssertEqual(fit.minimumSteps, 300, accuracy: 1e-9)
        XCTAssertEqual(fit.minimumExamples, 300 * 700, accuracy: 1e-6)
        XCTAssertEqual(fit.criticalBatch, 700, accuracy: 1e-9)
        XCTAssertNil(CriticalBatchAnalysis.fit([(256, 40)]), "one batch size cannot be fitted")
        XCTAssertNil(CriticalBatchAnalysis.fit([(256, 40), (512, 80)]), "steps growing with the batch: no positive fit")
    }

    /// Writes a variant that evaluates every `every` steps with accuracy rising linearly to `peak` at
    /// `steps`, recording `noise` as its noise scale.
    private func variant(_ name: String, batch: Int, rate: Double, steps: Int, every: Int, peak: Double, noise: Double?,
                         group: String? = nil) throws {
        let folder = directory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var info = VariantInfo(name: name, effectiveBatch: batch, ranks: 1, micro: min(batch, 64),
                               accumulation: (batch + 63) / 64, optimizer: "sgd", learningRate: rate, steps: steps,
                               complete: true)
        info.group = group
        try JSONEncoder().encode(info).write(to: folder.appendingPathComponent("variant.json"))
        let writer = try MetricsWriter(url: folder.appendingPathComponent("metrics.jsonl"))
        for step in 1...steps {
            let epoch = Double(step * batch) / 60000
            var record = StepRecord(step: step, epoch: epoch, loss: 1, learningRate: rate, gradientNorm: 1, items: batch,
                                    samplesPerSecond: 1000, seconds: StepTimings(compute: 0.01, communication: 0, optimizer: 0),
                                    elapsed: Double(step))
            // Smoothed estimates that change from step to step in proportion: their means' ratio is `noise`.
            let signal = 1 + 1 / Double(step)
            record.gradientNoiseScale = noise
            record.noiseGradientSquared = noise.map { _ in signal }
            record.noiseTrace = noise.map { $0 * signal }
            try writer.write(record)
            if step % every == 0 {
                try writer.write(EvaluationRecord(step: step, epoch: epoch, elapsed: Double(step), testLoss: 1,
                                                  testAccuracy: peak * Double(step) / Double(steps)))
            }
        }
    }

    func testTheReportHoldsOnePointPerBatchAndTheBestOfEach() throws {
        // Batch 256 twice: the second rate reaches 90% sooner and represents the batch.
        try variant("b128", batch: 128, rate: 0.1, steps: 400, every: 10, peak: 0.95, noise: 300)
        try variant("b256-lr0.1", batch: 256, rate: 0.1, steps: 300, every: 10, peak: 0.92, noise: 310)
        try variant("b256-lr0.2", batch: 256, rate: 0.2, steps: 200, every: 10, peak: 0.95, noise: 320)
        try variant("b1024", batch: 1024, rate: 0.4, steps: 100, every: 5, peak: 0.95, noise: 330)
        try variant("b4096", batch: 4096, rate: 0.8, steps: 50, every: 5, peak: 0.85, noise: nil)
        let summary = try ReportBuilder.render(directory: directory, options: ReportOptions(targetAccuracy: 0.9))
        XCTAssertEqual(summary.scaling.groups.count, 1)
        let analysis = summary.scaling.groups[0]
        XCTAssertNil(analysis.name)
        XCTAssertEqual(analysis.points.map(\.effectiveBatch), [128, 256, 1024, 4096])
        // First evaluation at ≥ 90%: 0.95·s/400 ≥ 0.9 at s = 379 → evaluated at 380.
        XCTAssertEqual(analysis.points.map(\.stepsToTarget), [380, 190, 95, nil])
        XCTAssertEqual(analysis.points[1].variant, "b256-lr0.2")
        XCTAssertEqual(analysis.points[1].variants, 2)
        XCTAssertEqual(analysis.points[2].examplesToTarget, 95 * 1024)
        XCTAssertEqual(try XCTUnwrap(analysis.points[0].meanNoiseScale), 300, accuracy: 1e-9)
        XCTAssertNil(analysis.points[3].meanNoiseScale)
        XCTAssertNotNil(analysis.fit)

        let markdown = try String(contentsOf: summary.markdownURL, encoding: .utf8)
        let rows = markdown.split(separator: "\n").filter { $0.hasPrefix("| 4096 ") || $0.hasPrefix("| 128 ") }
        XCTAssertEqual(rows.count, 2, markdown)
        XCTAssertTrue(rows.contains { $0.hasPrefix("| 4096 ") && $0.contains("not reached") }, "\(rows)")
        XCTAssertTrue(markdown.contains("![Steps to 90% test accuracy](plots/steps-to-target.svg)"), markdown)
        XCTAssertTrue(markdown.contains("B_crit = E_min / S_min"), markdown)

        let plot = try SVGDocument(contentsOf: directory.appendingPathComponent("plots/steps-to-target.svg"))
        let measured = try XCTUnwrap(plot.seriesData["best per batch"])
        XCTAssertEqual(measured.filter { $0 == "M" || $0 == "L" }.count, 3, "one point per batch that reached 90%: \(measured)")
        XCTAssertNotNil(plot.seriesData["perfect scaling"])
        XCTAssertTrue(plot.seriesData.keys.contains { $0.hasPrefix("fit, B_crit = ") }, "\(plot.seriesData.keys)")
        let noise = try XCTUnwrap(plot.seriesData["B_simple (measured)"])
        XCTAssertEqual(noise.filter { $0 == "M" || $0 == "L" }.count, 3)
        let html = try String(contentsOf: summary.htmlURL, encoding: .utf8)
        XCTAssertTrue(html.contains("not reached") && html.contains("plot-steps-to-target"))
    }

    func testASweepThatNeverReachesTheTargetSaysSo() throws {
        try variant("b128", batch: 128, rate: 0.1, steps: 40, every: 10, peak: 0.5, noise: 100)
        try variant("b512", batch: 512, rate: 0.1, steps: 20, every: 10, peak: 0.6, noise: 120)
        let summary = try ReportBuilder.render(directory: directory, options: ReportOptions(targetAccuracy: 0.9))
        XCTAssertNil(summary.scaling.groups[0].fit)
        XCTAssertEqual(summary.scaling.groups[0].points.compactMap(\.stepsToTarget), [])
        let markdown = try String(contentsOf: summary.markdownURL, encoding: .utf8)
        XCTAssertTrue(markdown.contains("0 of 2 batch sizes reached 90%: too few for a fit"), markdown)
        let rows = markdown.split(separator: "\n").filter { $0.hasPrefix("| 128 | b128 ") || $0.hasPrefix("| 512 | b512 ") }
        XCTAssertEqual(rows.map { $0.components(separatedBy: "not reached").count - 1 }, [2, 2], "steps and examples: \(rows)")
        let plot = try SVGDocument(contentsOf: directory.appendingPathComponent("plots/steps-to-target.svg"))
        XCTAssertTrue(plot.texts.contains("No data yet"), "\(plot.texts)")
    }

    /// Recipes in groups: each its own points, fit and series, and a recipe column in the table.
    func testEachRecipeGroupIsFittedOnItsOwn() throws {
        for (group, slowdown) in [("sqrt", 1), ("lamb", 2)] {
            for (batch, steps) in [(128, 400), (512, 120), (2048, 60)] {
                try variant("\(group)-b\(batch)", batch: batch, rate: 0.1, steps: steps * slowdown, every: 5, peak: 0.95,
                            noise: 200, group: group)
            }
        }
        let summary = try ReportBuilder.render(directory: directory, options: ReportOptions(targetAccuracy: 0.9))
        XCTAssertEqual(Set(summary.scaling.groups.compactMap(\.name)), ["sqrt", "lamb"])
        XCTAssertEqual(summary.scaling.groups.count, 2)
        for group in summary.scaling.groups {
            XCTAssertEqual(group.points.count, 3, "\(group.name ?? "-")")
            XCTAssertTrue(group.points.allSatisfy { $0.variant.hasPrefix(group.name!) })
        }
        let markdown = try String(contentsOf: summary.markdownURL, encoding: .utf8)
        XCTAssertTrue(markdown.contains("| Recipe | Effective batch |"), markdown)
        XCTAssertTrue(markdown.contains("sqrt: ") && markdown.contains("lamb: "), markdown)
        let plot = try SVGDocument(contentsOf: directory.appendingPathComponent("plots/examples-to-target.svg"))
        for name in ["sqrt", "lamb"] {
            let measured = try XCTUnwrap(plot.seriesData["\(name): best per batch"], "\(plot.seriesData.keys)")
            XCTAssertEqual(measured.filter { $0 == "M" || $0 == "L" }.count, 3)
        }
    }
}
