import Foundation
import Glibc
import XCTest
@testable import Checkpoints

final class CheckpointDirectoryTests: XCTestCase {
    private func file(step: Int) -> SafeTensorsFile {
        Checkpoint(metadata: ["step": String(step)], tensors: [TensorRecord(name: "param.x", shape: [1], floats: [Float(step)])]).file
    }

    func testFileNames() {
        XCTAssertEqual(CheckpointDirectory.fileName(step: 0), "checkpoint-00000000.safetensors")
        XCTAssertEqual(CheckpointDirectory.fileName(step: 1234), "checkpoint-00001234.safetensors")
        XCTAssertEqual(CheckpointDirectory.fileName(step: 123_456_789), "checkpoint-123456789.safetensors")
        XCTAssertEqual(CheckpointDirectory.step(fromFileName: "checkpoint-00001234.safetensors"), 1234)
        XCTAssertEqual(CheckpointDirectory.step(fromFileName: "checkpoint-123456789.safetensors"), 123_456_789)
        for foreign in ["checkpoint-1234.safetensors", "checkpoint-000001234.safetensors", "checkpoint-0000123a.safetensors",
                        ".checkpoint-00001234.safetensors.tmp-12", "checkpoint-00001234.safetensors.bak", "checkpoint--0000123.safetensors"] {
            XCTAssertNil(CheckpointDirectory.step(fromFileName: foreign), foreign)
        }
    }

    func testKeepsExactlyTheLastKeepCheckpoints() throws {
        let root = try makeTemporaryDirectory(self)
        let directory = CheckpointDirectory(url: root.appendingPathComponent("run"), keep: 3)
        XCTAssertNil(directory.latest())
        XCTAssertTrue(directory.checkpoints().isEmpty)
        // Unrelated files are neither listed nor deleted.
        try directory.preflight()
        try Data([1]).write(to: directory.url.appendingPathComponent("notes.txt"))
        try Data([1]).write(to: directory.url.appendingPathComponent("checkpoint-5.safetensors"))

        for (count, step) in [10, 20, 30, 40, 50, 1000, 100_000_000].enumerated() {
            let url = try directory.save(file(step: step), step: step)
            XCTAssertEqual(url, directory.url(step: step))
            XCTAssertEqual(directory.latest(), url)
            XCTAssertEqual(directory.checkpoints().count, min(count + 1, 3))
        }
        XCTAssertEqual(directory.checkpoints().map(\.step), [50, 1000, 100_000_000])
        XCTAssertEqual(CheckpointDirectory.latest(in: directory.url)?.lastPathComponent, "checkpoint-100000000.safetensors")
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.url.path).sorted()
        XCTAssertEqual(names, ["checkpoint-00000050.safetensors", "checkpoint-00001000.safetensors",
                               "checkpoint-100000000.safetensors", "checkpoint-5.safetensors", "notes.txt"])
        let latest = try Checkpoint.read(from: XCTUnwrap(directory.latest()))
        XCTAssertEqual(try latest.floats("param.x", shape: [1]), [100_000_000])
        XCTAssertEqual(latest.metadata["step"], "100000000")
    }

    func testKeepOneAndOverwritingTheSameStep() throws {
        let directory = CheckpointDirectory(url: try makeTemporaryDirectory(self), keep: 1)
        try directory.save(file(step: 3), step: 3)
        try directory.save(file(step: 3), step: 3)
        try directory.save(file(step: 4), step: 4)
        XCTAssertEqual(directory.checkpoints().map(\.step), [4])
    }

    /// What a writer killed between creating its temporary file and renaming it leaves behind is
    /// ignored when resuming and swept away by the next save.
    func testLeftoversOfACrashedWriterAreIgnoredAndCleaned() throws {
        let directory = CheckpointDirectory(url: try makeTemporaryDirectory(self), keep: 2)
        try directory.save(file(step: 1), step: 1)
        let torn = file(step: 2).encoded().prefix(30)
        let leftover = directory.url.appendingPathComponent(".checkpoint-00000002.safetensors.tmp-999999")
        try torn.write(to: leftover)
        XCTAssertEqual(directory.latest(), directory.url(step: 1))
        XCTAssertEqual(try Checkpoint.read(from: XCTUnwrap(directory.latest())).floats("param.x", shape: [1]), [1])
        try directory.save(file(step: 2), step: 2)
        XCTAssertFalse(FileManager.default.fileExists(atPath: leftover.path))
        XCTAssertEqual(directory.checkpoints().map(\.step), [1, 2])
    }

    func testSaveIntoBlockedDirectoryFailsClearly() throws {
        let root = try makeTemporaryDirectory(self)
        let blocker = root.appendingPathComponent("blocker")
        try Data([0]).write(to: blocker)
        let directory = CheckpointDirectory(url: blocker.appendingPathComponent("run"), keep: 2)
        assertCheckpointError({ () throws(CheckpointError) in try directory.preflight() }, path: directory.url.path) {
            $0 == .notADirectory(path: directory.url.path)
        }
        assertCheckpointError({ () throws(CheckpointError) in try directory.save(self.file(step: 1), step: 1) },
                              path: directory.url.path) { $0 == .notADirectory(path: directory.url.path) }
        XCTAssertNil(directory.latest())
    }
}
