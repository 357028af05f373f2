import Foundation
import TestSupport
import XCTest
@testable import TensorBoard

/// Event files as TensorBoard's own Python reader sees them.
final class EventFileTests: XCTestCase {
    private func makeDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("tensorboard-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    private func writeRun(in directory: URL, steps: ClosedRange<Int>, resumeStart: Bool = false) throws -> URL {
        let writer = try EventFileWriter(directory: directory)
        if resumeStart { try writer.writeSessionStart(step: steps.lowerBound) }
        let weights: [Float] = (0..<1000).map { Float($0 - 500) / 100 }
        for step in steps {
            try writer.writeScalars([("train/loss", 1 / Double(step)), ("train/learning_rate", 0.1)], step: step)
            try weights.withUnsafeBufferPointer { values in
                try writer.writeHistograms([("parameters/w", Histogram(values)), ("gradients/w", Histogram(values))],
                                           step: step)
            }
        }
        try writer.writeText("```yaml\nseed: 1\n```", tag: "configuration", step: steps.lowerBound)
        return writer.url
    }

    func testTensorBoardReadsScalarsHistogramsAndText() throws {
        let directory = try makeDirectory()
        let url = try writeRun(in: directory, steps: 1...5)
        XCTAssertTrue(url.lastPathComponent.hasPrefix("events.out.tfevents."))
        let view = try TensorBoardReader.read(directory)
        XCTAssertEqual(view.files.count, 1)
        XCTAssertTrue(view.files[0].crcOK)
        XCTAssertEqual(view.files[0].trailingBytes, 0)
        // file_version, 5 × (scalars + histograms), text
        XCTAssertEqual(view.files[0].records, 12)
        XCTAssertEqual(view.files[0].loaded, 12)
        XCTAssertEqual(view.scalars["train/loss"]?.map { Int($0[0]) }, [1, 2, 3, 4, 5])
        XCTAssertEqual(view.scalars["train/loss"]?[1][1] ?? 0, 0.5, accuracy: 1e-7)
        for tag in ["parameters/w", "gradients/w"] {
            let points = try XCTUnwrap(view.histograms[tag], "no histogram \(tag)")
            XCTAssertEqual(points.map(\.step), [1, 2, 3, 4, 5])
            for point in points {
                XCTAssertEqual(point.num, 1000)
                XCTAssertEqual(point.bucketSum, 1000)
                XCTAssertEqual(point.min, -5)
                XCTAssertEqual(point.max, 4.99, accuracy: 1e-6)
            }
        }
        XCTAssertEqual(view.texts["configuration"]?.first?.text, "```yaml\nseed: 1\n```")
    }

    /// A writer killed mid-record: the reader gets every complete record and stops at the cut.
    func testTruncatedFileReadsUpToTheLastCompleteRecord() throws {
        let directory = try makeDirectory()
        let url = try writeRun(in: directory, steps: 1...4)
        let data = try Data(contentsOf: url)
        let records = TFRecord.payloads(in: data).payloads
        // Keep the file_version record, steps 1 and 2 (scalars + histograms), and half of step 3's scalars.
        let kept = records.prefix(5).reduce(0) { $0 + $1.count + TFRecord.overhead }
        let cut = kept + (records[5].count + TFRecord.overhead) / 2
        try data.prefix(cut).write(to: url)
        let view = try TensorBoardReader.read(directory)
        XCTAssertEqual(view.files[0].records, 5)
        XCTAssertEqual(view.files[0].loaded, 5)
        XCTAssertTrue(view.files[0].crcOK)
        XCTAssertGreaterThan(view.files[0].trailingBytes, 0)
        XCTAssertEqual(view.scalars["train/loss"]?.map { Int($0[0]) }, [1, 2])
        XCTAssertEqual(view.histograms["gradients/w"]?.map(\.step), [1, 2])
    }

    /// A run resumed from step 3 after an attempt that reached step 6: every reader shows each step once.
    func testResumeDiscardsRedoneStepsForEveryReader() throws {
        let directory = try makeDirectory()
        let first = try writeRun(in: directory, steps: 1...6)
        // The first attempt was killed in the middle of a record.
        let handle = try FileHandle(forWritingTo: first)
        try handle.seekToEnd()
        try handle.write(contentsOf: TFRecord.frame(Data(repeating: 7, count: 40)).prefix(30))
        try handle.close()

        try EventFiles.discardEvents(after: 3, in: directory)
        let second = try writeRun(in: directory, steps: 4...8, resumeStart: true)
        XCTAssertEqual(EventFiles.list(in: directory), [first, second], "the new file sorts after the old one")

        let view = try TensorBoardReader.read(directory)
        XCTAssertEqual(view.files.map(\.trailingBytes), [0, 0])
        XCTAssertTrue(view.files.allSatisfy(\.crcOK))
        XCTAssertEqual(view.rawScalarSteps["train/loss"], Array(1...8), "a reader that purges nothing")
        XCTAssertEqual(view.scalars["train/loss"]?.map { Int($0[0]) }, Array(1...8), "TensorBoard's accumulator")
        XCTAssertEqual(view.histograms["parameters/w"]?.map(\.step), Array(1...8))
        XCTAssertEqual(view.sessionStarts, [4])
    }

    /// Without the rewrite, the Python reader alone would hide the duplicates; the raw view proves they were there.
    func testWithoutDiscardingTheRawViewHasDuplicates() throws {
        let directory = try makeDirectory()
        _ = try writeRun(in: directory, steps: 1...6)
        _ = try writeRun(in: directory, steps: 4...8, resumeStart: true)
        let view = try TensorBoardReader.read(directory)
        XCTAssertEqual(view.rawScalarSteps["train/loss"], Array(1...6) + Array(4...8))
    }

    func testDiscardLeavesAnIntactFileUntouched() throws {
        let directory = try makeDirectory()
        let url = try writeRun(in: directory, steps: 1...3)
        let before = try FileManager.default.attributesOfItem(atPath: url.path)[.systemFileNumber] as? Int
        try EventFiles.discardEvents(after: 3, in: directory)
        let after = try FileManager.default.attributesOfItem(atPath: url.path)[.systemFileNumber] as? Int
        XCTAssertEqual(before, after, "nothing to drop: the file is not replaced")
        let contents = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        XCTAssertEqual(contents, [url.lastPathComponent], "no temporary file is left behind")
    }
}
