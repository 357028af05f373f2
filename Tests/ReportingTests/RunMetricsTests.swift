import Foundation
import XCTest
@testable import Reporting

final class RunMetricsTests: XCTestCase {
    private let path = "/sweep/b512/metrics.jsonl"

    private func stepLine(_ step: Int, loss: String = "0.5", extra: String = "") -> String {
        """
        {"type":"step","step":\(step),"epoch":\(Double(step) / 10),"loss":\(loss),"lr":0.01,"grad_norm":1.2,\
        "items":256,"samples_per_s":5000,"seconds":{"compute":0.04,"communication":0.002,"optimizer":0.001},\
        "elapsed":\(Double(step) * 0.1),"skipped":false\(extra)}
        """
    }

    private func evalLine(_ step: Int, accuracy: String = "0.891") -> String {
        """
        {"type":"eval","step":\(step),"epoch":\(Double(step) / 10),"elapsed":\(Double(step) * 0.1 + 0.05),\
        "test_loss":0.31,"test_accuracy":\(accuracy)}
        """
    }

    private func parse(_ lines: [String], terminated: Bool = true) throws(ReportError) -> RunMetrics {
        try RunMetrics.parse(Data((lines.joined(separator: "\n") + (terminated ? "\n" : "")).utf8), path: path)
    }

    func testReadsTheDocumentedLines() throws {
        let metrics = try parse([stepLine(1), stepLine(2), evalLine(2), "", stepLine(3, extra: ",\"future\":1")])
        XCTAssertEqual(metrics.steps.map(\.step), [1, 2, 3])
        XCTAssertEqual(metrics.evaluations.map(\.step), [2])
        let step = metrics.steps[0]
        XCTAssertEqual(step.learningRate, 0.01)
        XCTAssertEqual(step.gradientNorm, 1.2)
        XCTAssertEqual(step.seconds, StepTimings(compute: 0.04, communication: 0.002, optimizer: 0.001))
        XCTAssertEqual(metrics.evaluations[0].testAccuracy, 0.891)
    }

    func testMalformedLineNamesFileAndLine() {
        let lines = [stepLine(1), stepLine(2), "{\"type\":\"step\",\"step\":3,", stepLine(4)]
        assertError(try parse(lines)) { error in
            guard case .malformedLine(let file, let line, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(file, path)
            XCTAssertEqual(line, 3)
            XCTAssertTrue(error.description.hasPrefix("\(path):3:"), error.description)
        }
    }

    func testMissingKeyIsNamed() {
        let line = stepLine(1).replacingOccurrences(of: "\"grad_norm\":1.2,", with: "")
        assertError(try parse([evalLine(0), line])) { error in
            guard case .malformedLine(_, 2, let reason) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(reason.contains("grad_norm"), reason)
        }
    }

    func testUnknownTypeIsRejected() {
        assertError(try parse([stepLine(1), "{\"type\":\"checkpoint\",\"step\":1}"])) { error in
            guard case .malformedLine(_, 2, let reason) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(reason.contains("checkpoint"), reason)
        }
    }

    func testAccuracyAsPercentageIsRejected() {
        assertError(try parse([stepLine(1), evalLine(1, accuracy: "89.1")])) { error in
            XCTAssertEqual(error, .invalidValue(path: path, line: 2, field: "test_accuracy", value: "89.1"))
        }
    }

    func testPartialFinalLineOfALiveRunIsIgnored() throws {
        let partial = String(stepLine(3).prefix(40))
        let metrics = try parse([stepLine(1), stepLine(2), partial], terminated: false)
        XCTAssertEqual(metrics.steps.map(\.step), [1, 2])
        // A terminated line is finished, so the same text is an error there.
        assertError(try parse([stepLine(1), stepLine(2), partial], terminated: true)) { error in
            guard case .malformedLine(_, 3, _) = error else { return XCTFail("\(error)") }
        }
    }

    func testResumeSupersedesTheAbandonedSteps() throws {
        let metrics = try parse([
            stepLine(1), stepLine(2), stepLine(3), evalLine(3), stepLine(4),
            stepLine(3, loss: "0.25"), stepLine(4, loss: "0.24"), evalLine(4), stepLine(5),
        ])
        XCTAssertEqual(metrics.steps.map(\.step), [1, 2, 3, 4, 5])
        XCTAssertEqual(metrics.steps[2].loss, 0.25)
        XCTAssertEqual(metrics.steps[3].loss, 0.24)
        XCTAssertEqual(metrics.evaluations.map(\.step), [4])
    }

    func testWriterRoundTripsIncludingDivergence() throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("metrics-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("metrics.jsonl")
        let timings = StepTimings(compute: 0.04, communication: 0.002, optimizer: 0.001)
        let steps = [
            StepRecord(step: 1, epoch: 0.1, loss: 2.3, learningRate: 0.1, gradientNorm: 3, items: 64,
                       samplesPerSecond: 1000, seconds: timings, elapsed: 0.2),
            StepRecord(step: 2, epoch: 0.2, loss: .nan, learningRate: 0.1, gradientNorm: .infinity, items: 64,
                       samplesPerSecond: 1000, seconds: timings, elapsed: 0.3, skipped: true),
        ]
        let evaluation = EvaluationRecord(step: 2, epoch: 0.2, elapsed: 0.4, testLoss: .nan, testAccuracy: 0.1)
        do {
            let writer = try MetricsWriter(url: url)
            try writer.write(steps[0])
            try writer.write(.step(steps[1]))
            try writer.write(evaluation)
        }
        // Reopening appends, as a resumed run does.
        let next = StepRecord(step: 3, epoch: 0.3, loss: 2.2, learningRate: 0.1, gradientNorm: 3, items: 64,
                              samplesPerSecond: 1000, seconds: timings, elapsed: 0.5)
        try MetricsWriter(url: url).write(next)

        let metrics = try RunMetrics.read(from: url)
        XCTAssertEqual(metrics.steps.count, 3)
        XCTAssertEqual(metrics.steps[0], steps[0])
        XCTAssertTrue(metrics.steps[1].loss.isNaN)
        XCTAssertEqual(metrics.steps[1].gradientNorm, .infinity)
        XCTAssertTrue(metrics.steps[1].skipped)
        XCTAssertEqual(metrics.steps[2], next)
        XCTAssertEqual(metrics.evaluations.count, 1)
        XCTAssertEqual(metrics.evaluations[0].testAccuracy, 0.1)
        let text = try String(contentsOf: url, encoding: .utf8)
        XCTAssertEqual(text.split(separator: "\n").count, 4)
        XCTAssertTrue(text.contains("\"type\":\"step\"") && text.contains("\"type\":\"eval\""))

        let variant = SweepVariant(
            directoryName: "x", info: VariantInfo(name: "x", effectiveBatch: 64, ranks: 1, micro: 64,
                                                  accumulation: 1, optimizer: "sgd", learningRate: 0.1, steps: 3,
                                                  complete: false),
            metrics: metrics, configuration: nil)
        let summary = VariantSummary(variant, targetAccuracy: 0.9)
        XCTAssertEqual(summary.status, .diverged(step: 2))
        XCTAssertEqual(summary.skippedSteps, 1)
        XCTAssertNil(summary.timeToTarget)
    }

    func testWriterCutsOffAPartialLineLeftByACrash() throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("crash-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("metrics.jsonl")
        try Data((stepLine(1) + "\n" + stepLine(2) + "\n" + String(stepLine(3).prefix(50))).utf8).write(to: url)
        let timings = StepTimings(compute: 0.04, communication: 0.002, optimizer: 0.001)
        try MetricsWriter(url: url).write(StepRecord(
            step: 3, epoch: 0.3, loss: 0.4, learningRate: 0.01, gradientNorm: 1, items: 256, samplesPerSecond: 5000,
            seconds: timings, elapsed: 0.3))
        let metrics = try RunMetrics.read(from: url)
        XCTAssertEqual(metrics.steps.map(\.step), [1, 2, 3])
        XCTAssertEqual(metrics.steps[2].loss, 0.4)
    }

    func testMissingFileIsNamed() {
        let url = URL(fileURLWithPath: "/nonexistent/run/metrics.jsonl")
        assertError(try RunMetrics.read(from: url)) { error in
            XCTAssertEqual(error, .missingFile(path: url.path))
        }
    }

    func testInconsistentVariantIsRejected() throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("variant-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("variant.json")
        let json = """
        {"name":"b512","effective_batch":512,"ranks":2,"micro":32,"accumulation":4,"optimizer":"adamw",
         "learning_rate":0.002,"steps":400,"complete":true}
        """
        try Data(json.utf8).write(to: url)
        assertError(try VariantInfo.read(from: url)) { error in
            guard case .malformedVariant(let file, let reason) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(file, url.path)
            XCTAssertTrue(reason.contains("256"), reason)
        }
        try Data(json.replacingOccurrences(of: "\"accumulation\":4", with: "\"accumulation\":8").utf8).write(to: url)
        XCTAssertEqual(try VariantInfo.read(from: url).effectiveBatch, 512)
    }

    private func assertError<T>(
        _ expression: @autoclosure () throws(ReportError) -> T, file: StaticString = #filePath, line: UInt = #line,
        _ check: (ReportError) -> Void
    ) {
        do {
            _ = try expression()
            XCTFail("expected an error", file: file, line: line)
        } catch {
            check(error)
        }
    }
}
