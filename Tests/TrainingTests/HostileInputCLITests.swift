import Foundation
import TestSupport
import XCTest

/// Inputs that once ended `bigbatch` by a signal (trap, stack overflow, abort) or ran away: each
/// must now end with exit status 1 and a message naming the problem.
final class HostileInputCLITests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("bigbatch-hostile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: directory)
    }

    private let base = """
        model: {kind: mlp, hidden: [16]}
        data: {dataset: fashion-mnist}
        batch: {global: 64, micro: 32}
        train: {steps: 1, seed: 1, eval_every: 1000000}
        optimizer: {name: sgd, lr: 0.1}

        """

    /// Runs `train` and checks that it failed cleanly with `expected` on stderr.
    private func assertRefused(config text: String? = nil, _ overrides: [String] = [], expected: String,
                               file: StaticString = #filePath, line: UInt = #line) throws {
        let config = directory.appendingPathComponent("config-\(UUID().uuidString.prefix(8)).yaml")
        try (text ?? base).write(to: config, atomically: true, encoding: .utf8)
        let arguments = ["train", "--config", config.path, "--run-dir", directory.appendingPathComponent("run").path,
                         "--quiet"] + overrides.flatMap { ["--set", $0] }
        let result = try ProcessRunner.run(arguments, timeout: 120)
        XCTAssertEqual(result.status, 1, "exit status (a signal shows as its number): \(result.error)", file: file, line: line)
        XCTAssertTrue(result.error.contains(expected), "expected '\(expected)' in: \(result.error)", file: file, line: line)
    }

    func testSexagesimalOverrideIsAnError() throws {
        try assertRefused(["train.steps=1:0:0:0:0:0:0:0:0:0:0"], expected: "train.steps")
        try assertRefused(["train.steps='1:0:0:0:0:0:0:0:0:0:0'"], expected: "train.steps")
    }

    func testDeeplyNestedConfigurationIsAnError() throws {
        let deep = base + "extra: " + String(repeating: "[", count: 5_000) + String(repeating: "]", count: 5_000) + "\n"
        try assertRefused(config: deep, expected: "nested deeper than 64 levels")
    }

    func testAliasBombIsAnError() throws {
        var text = base + "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1..<9 {
            text += "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]\n"
        }
        try assertRefused(config: text, expected: "once aliases are expanded")
    }

    func testModelSizesBeyondLimitsOrMemoryAreErrors() throws {
        try assertRefused(["model.hidden=[100000000000]"], expected: "model.hidden[0]")
        try assertRefused(["model.hidden=[4611686018427387904]"], expected: "model.hidden[0]")
        try assertRefused(["model.kind=cnn", "model.padding=4611686018427387904"], expected: "model.padding")
        try assertRefused(["model.hidden=[8, 16000000, 16000000]"], expected: "GiB of memory is available")
        try assertRefused(["train.eval_batch=100000000000"], expected: "train.eval_batch = 100000000000 needs")
    }
}
