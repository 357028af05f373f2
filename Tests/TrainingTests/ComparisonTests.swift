import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import TestSupport
import Training
import XCTest

/// `bigbatch compare` and `bigbatch report` on a tiny real sweep.
final class ComparisonTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("bigbatch-compare-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try """
        model: {kind: mlp, hidden: [16]}
        data: {dataset: fashion-mnist}
        batch: {global: 64, micro: 32}
        train: {steps: 4, eval_every: 2}
        optimizer: {name: adamw, lr: 0.002}
        """.write(to: directory.appendingPathComponent("base.yaml"), atomically: true, encoding: .utf8)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: directory)
    }

    private func sweep(_ variants: String, extra: String = "") throws -> URL {
        let url = directory.appendingPathComponent("sweep-\(UUID().uuidString.prefix(6)).yaml")
        try """
        title: Tiny sweep
        base: base.yaml
        target_accuracy: 0.5
        \(extra)
        variants:
        \(variants)
        """.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    func testSweepProducesReportAndSkipsCompletedVariants() throws {
        let file = try sweep("""
              - {name: b64, ranks: 1}
              - {name: b128-2ranks, ranks: 2, set: {batch.global: 128, optimizer.name: sgd, optimizer.lr: 0.05}}
              - {name: b256-4x16, ranks: 4, set: {batch.global: 256, batch.micro: 16}}
            """)
        let out = directory.appendingPathComponent("out")
        let first = try ProcessRunner.run(["compare", "--config", file.path, "--out", out.path, "--set", "train.steps=3"],
                                          timeout: 300)
        XCTAssertEqual(first.status, 0, first.error)
        XCTAssertTrue(first.output.contains("[2/3] b128-2ranks: batch 128 = 2 ranks × micro 32 × k 2"), first.output)

        let markdown = try String(contentsOf: out.appendingPathComponent("report.md"), encoding: .utf8)
        // The comparison table's rows (the report has a second, per-phase timing table).
        let rows = markdown.split(separator: "\n").filter { line in
            ["b64", "b128-2ranks", "b256-4x16"].contains { line.hasPrefix("| \($0) | complete |") }
        }
        XCTAssertEqual(rows.count, 3, markdown)
        for name in ["b64", "b128-2ranks", "b256-4x16"] {
            let metrics = try String(contentsOf: out.appendingPathComponent("\(name)/metrics.jsonl"), encoding: .utf8)
            XCTAssertEqual(metrics.split(separator: "\n").filter { $0.contains("\"type\":\"step\"") }.count, 3, name)
            XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent("\(name)/config.yaml").path))
        }
        let plots = try FileManager.default.contentsOfDirectory(atPath: out.appendingPathComponent("plots").path)
            .filter { $0.hasSuffix(".svg") }
        XCTAssertGreaterThanOrEqual(plots.count, 6)
        for plot in plots {
            let data = try Data(contentsOf: out.appendingPathComponent("plots/\(plot)"))
            XCTAssertTrue(XMLParser(data: data).parse(), "\(plot) is well-formed XML")
            // Three steps reach no target: the steps- and examples-to-target plots are empty (CriticalBatchTests).
            if plot.contains("-to-target") { continue }
            let text = String(decoding: data, as: UTF8.self)
            XCTAssertGreaterThanOrEqual(text.components(separatedBy: "<path").count - 1, 3, "\(plot): a path per series")
        }
        let html = try String(contentsOf: out.appendingPathComponent("report.html"), encoding: .utf8)
        XCTAssertEqual(html.components(separatedBy: "<svg").count - 1, plots.count, "every plot embedded")

        let again = try ProcessRunner.run(["compare", "--config", file.path, "--out", out.path, "--set", "train.steps=3"],
                                          timeout: 120)
        XCTAssertEqual(again.status, 0, again.error)
        XCTAssertEqual(again.output.components(separatedBy: "complete, skipped").count - 1, 3, again.output)

        try FileManager.default.removeItem(at: out.appendingPathComponent("report.md"))
        let report = try ProcessRunner.run(["report", out.path])
        XCTAssertEqual(report.status, 0, report.error)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent("report.md").path))
    }

    /// Problem 3: a variant whose resolved configuration changed is never reported from the old
    /// results: compare refuses naming the change, --force re-trains it, and the report states the
    /// overrides and the steps and epochs actually run.
    func testChangedConfigurationIsNeverReusedSilently() throws {
        let file = try sweep("  - {name: only, ranks: 1}")
        let out = directory.appendingPathComponent("out")
        let first = try ProcessRunner.run(["compare", "--config", file.path, "--out", out.path, "--set", "train.steps=2"],
                                          timeout: 120)
        XCTAssertEqual(first.status, 0, first.error)
        let changed = ["compare", "--config", file.path, "--out", out.path, "--set", "train.steps=3"]
        let refused = try ProcessRunner.run(changed, timeout: 120)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.error.contains("variant 'only' (train.steps: 2 on disk, 3 now)")
                      && refused.error.contains("--force"), refused.error)
        let forced = try ProcessRunner.run(changed + ["--force"], timeout: 120)
        XCTAssertEqual(forced.status, 0, forced.error)
        let metrics = try String(contentsOf: out.appendingPathComponent("only/metrics.jsonl"), encoding: .utf8)
        XCTAssertEqual(metrics.split(separator: "\n").filter { $0.contains("\"type\":\"step\"") }.count, 3)
        let markdown = try String(contentsOf: out.appendingPathComponent("report.md"), encoding: .utf8)
        XCTAssertTrue(markdown.contains("--set overrides for every variant: train.steps=3"), markdown)
        XCTAssertTrue(markdown.contains("| Epochs |"), markdown)
        let again = try ProcessRunner.run(changed, timeout: 120)
        XCTAssertTrue(again.output.contains("only: complete, skipped"), again.output + again.error)
    }

    /// `learning_rates` makes one variant per rate, each recording its recipe `group` for the report.
    func testLearningRatesExpandIntoVariantsOfOneGroup() throws {
        let file = try sweep("  - {name: b64, group: adamw, learning_rates: [0.001, 0.004]}")
        let out = directory.appendingPathComponent("rates")
        let result = try ProcessRunner.run(["compare", "--config", file.path, "--out", out.path, "--set", "train.steps=2"],
                                           timeout: 120)
        XCTAssertEqual(result.status, 0, result.error)
        for (name, rate) in [("b64-lr0.001", 0.001), ("b64-lr0.004", 0.004)] {
            let info = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("\(name)/variant.json")))
                as? [String: Any]
            XCTAssertEqual(info?["group"] as? String, "adamw", name)
            XCTAssertEqual(info?["learning_rate"] as? Double, rate, name)
        }
        let markdown = try String(contentsOf: out.appendingPathComponent("report.md"), encoding: .utf8)
        XCTAssertTrue(markdown.contains("| adamw | 64 |"), markdown)
    }

    func testBadSweepsFailBeforeTraining() throws {
        let cases: [(String, String, String)] = [
            ("  - {name: a, sett: {batch.global: 64}}", "", "unknown configuration key 'variants[0].sett'"),
            ("", "", "non-empty list of variants"),
            ("  - {name: odd, ranks: 3, set: {batch.global: 2}}", "", "variant 'odd'"),
            ("  - {name: a}", "colour: red", "unknown configuration key 'colour'"),
            ("  - {name: a, set: {optimizer.lrr: 0.1}}", "", "optimizer.lrr"),
            ("  - {name: a, learning_rates: [0.1, -1]}", "", "variants[0].learning_rates"),
            ("  - {name: a-lr0.1}\n  - {name: a, learning_rates: [0.1]}", "", "variant 'a-lr0.1' appears twice"),
        ]
        for (variants, extra, message) in cases {
            let out = directory.appendingPathComponent("bad-\(UUID().uuidString.prefix(6))")
            let result = try ProcessRunner.run(["compare", "--config", try sweep(variants, extra: extra).path,
                                                "--out", out.path], timeout: 60)
            XCTAssertNotEqual(result.status, 0)
            XCTAssertTrue(result.error.contains(message), "expected '\(message)' in: \(result.error)")
            let created = (try? FileManager.default.contentsOfDirectory(atPath: out.path)) ?? []
            XCTAssertFalse(created.contains { !$0.hasSuffix(".json") }, "no variant started: \(created)")
        }
    }
}

/// `bigbatch eval` on a trained run, alone and on two ranks.
final class EvalCommandTests: XCTestCase {
    func testEvalReportsTheRunsFinalAccuracy() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bigbatch-eval-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("c.yaml")
        try """
        model: {kind: mlp, hidden: [32]}
        data: {dataset: fashion-mnist}
        batch: {global: 128, micro: 64}
        train: {steps: 60}
        optimizer: {name: adamw, lr: 0.003}
        """.write(to: config, atomically: true, encoding: .utf8)
        let run = directory.appendingPathComponent("run")
        let trained = try ProcessRunner.run(["train", "--config", config.path, "--run-dir", run.path, "--quiet"], timeout: 300)
        XCTAssertEqual(trained.status, 0, trained.error)
        let lastEval = try XCTUnwrap(String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
            .split(separator: "\n").last { $0.contains("\"type\":\"eval\"") })
        let expected = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(lastEval.utf8)) as? [String: Any])
        for ranks in [nil, 2] {
            let result = try ProcessRunner.run(["eval", "--checkpoint", run.appendingPathComponent("final.safetensors").path,
                                                "--json"], ranks: ranks, timeout: 120)
            XCTAssertEqual(result.status, 0, result.error)
            let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
            let accuracy = try XCTUnwrap(json["test_accuracy"] as? Double), loss = try XCTUnwrap(json["test_loss"] as? Double)
            XCTAssertEqual(json["checkpoint"] as? String, run.appendingPathComponent("final.safetensors").path)
            XCTAssertEqual(json["step"] as? Int, 60)
            XCTAssertEqual(accuracy, try XCTUnwrap(expected["test_accuracy"] as? Double), accuracy: 1e-6)
            XCTAssertEqual(loss, try XCTUnwrap(expected["test_loss"] as? Double), accuracy: 1e-4)
            XCTAssertGreaterThan(accuracy, 0.7, "60 steps of AdamW learn Fashion-MNIST well past chance")
        }
    }
}

/// The shipped sweeps resolve and validate every variant (what `compare` checks before training any).
final class ShippedSweepTests: XCTestCase {
    func testEveryShippedSweepLoads() throws {
        let configs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("configs")
        let sweeps = try FileManager.default.contentsOfDirectory(atPath: configs.path).filter { $0.hasPrefix("compare-") }
        XCTAssertGreaterThanOrEqual(sweeps.count, 3)
        for name in sweeps {
            let sweep = try ComparisonSweep.load(path: configs.appendingPathComponent(name).path, overrides: [], defaultRanks: 1)
            XCTAssertFalse(sweep.variants.isEmpty, name)
            if name.hasPrefix("compare-batch") {
                // Three recipes at each of four batches, grouped for the steps-to-target fit.
                XCTAssertEqual(Set(sweep.variants.compactMap(\.group)), ["sqrt", "lamb", "adascale"], name)
                XCTAssertEqual(Set(sweep.variants.map(\.configuration.globalBatch)), [128, 512, 2048, 8192], name)
                XCTAssertTrue(sweep.variants.allSatisfy { $0.configuration.tree.yaml().contains("warmup_steps: 0") }, name)
            }
        }
    }
}
