import Checkpoints
import Foundation
import XCTest

/// `bigbatch train` into a run directory, and the tensors of the `final.safetensors` it leaves: what
/// the equivalence, reproducibility, resume and failure tests compare.
public enum TrainingRun {
    /// Trains `config` with `--set` `overrides` on `ranks` (real mpirun above 1), continuing the run
    /// in `runDirectory` when `resume`; fails the test when the run fails.
    public static func finalTensors(config: URL, runDirectory: URL, ranks: Int, overrides: [String] = [],
                                    resume: Bool = false, environment: [String: String] = [:], timeout: Double = 300,
                                    file: StaticString = #filePath, line: UInt = #line) throws -> [String: [Float]] {
        let arguments = ["train", "--config", config.path, "--run-dir", runDirectory.path, "--quiet"]
            + (resume ? ["--resume", runDirectory.path] : []) + overrides.flatMap { ["--set", $0] }
        let result = try ProcessRunner.run(arguments, ranks: ranks > 1 ? ranks : nil, environment: environment,
                                           timeout: timeout)
        XCTAssertEqual(result.status, 0, "\(arguments.joined(separator: " ")) on \(ranks) ranks:\n\(result.error)",
                       file: file, line: line)
        return try tensors(in: runDirectory.appendingPathComponent("final.safetensors"))
    }

    /// The `"type":"step"` lines of a run directory's `metrics.jsonl`, as JSON objects.
    public static func stepRecords(in runDirectory: URL) throws -> [[String: Any]] {
        try String(contentsOf: runDirectory.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
            .split(separator: "\n")
            .compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .filter { $0["type"] as? String == "step" }
    }

    /// Fails unless `a` and `b` hold the same tensors with the same bits.
    public static func assertBitwiseEqual(_ a: [String: [Float]], _ b: [String: [Float]], _ label: String,
                                          file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.keys.sorted(), b.keys.sorted(), label, file: file, line: line)
        for (name, values) in b {
            let other = a[name] ?? []
            let differing = zip(values, other).filter { $0.bitPattern != $1.bitPattern }.count
            XCTAssertTrue(differing == 0 && values.count == other.count,
                          "\(label): \(name) differs in \(differing) of \(values.count) elements", file: file, line: line)
        }
    }

    /// Every tensor of a checkpoint file by name, as floats.
    public static func tensors(in checkpointFile: URL) throws -> [String: [Float]] {
        let checkpoint = try Checkpoint.read(from: checkpointFile)
        var tensors: [String: [Float]] = [:]
        for tensor in checkpoint.tensors { tensors[tensor.name] = tensor.floats() ?? [] }
        return tensors
    }
}
