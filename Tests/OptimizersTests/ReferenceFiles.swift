import Foundation
import XCTest

/// The reference trajectories: the repository's own set (`References/` beside this file, written by
/// `launch/bench/reference_trajectories.py`), and the independent shared set in
/// `shared/reference/optimizers`, found by walking up from this file (or `BIGBATCH_SHARED`) when present.
enum ReferenceFiles {
    /// The repository's set, always present.
    static func repository(file: StaticString = #filePath) -> URL {
        URL(fileURLWithPath: "\(file)").deletingLastPathComponent().appendingPathComponent("References")
    }

    /// The JSON files of `directory`, sorted.
    static func files(in directory: URL) throws -> [URL] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".json") }.sorted()
            .map { directory.appendingPathComponent($0) }
    }

    static func directory(file: StaticString = #filePath) throws -> URL {
        let fileManager = FileManager.default
        if let override = ProcessInfo.processInfo.environment["BIGBATCH_SHARED"] {
            let candidate = URL(fileURLWithPath: override).appendingPathComponent("reference/optimizers")
            if fileManager.fileExists(atPath: candidate.path) { return candidate }
            let nested = URL(fileURLWithPath: override).appendingPathComponent("shared/reference/optimizers")
            if fileManager.fileExists(atPath: nested.path) { return nested }
        }
        var directory = URL(fileURLWithPath: "\(file)").deletingLastPathComponent()
        while directory.path != "/" {
            for base in ["shared", "../shared"] {
                let candidate = directory.appendingPathComponent(base).appendingPathComponent("reference/optimizers")
                    .standardizedFileURL
                if fileManager.fileExists(atPath: candidate.path) { return candidate }
            }
            directory = directory.deletingLastPathComponent()
        }
        throw ReferenceMissing()
    }

    struct ReferenceMissing: Error, CustomStringConvertible {
        var description: String { "shared/reference/optimizers not found above \(#filePath); set BIGBATCH_SHARED" }
    }

    static func url(_ name: String) throws -> URL {
        let url = try directory().appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: url.path) else { throw ReferenceMissing() }
        return url
    }
}
