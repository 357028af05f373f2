import Foundation
import XCTest

/// What TensorBoard's own Python reader finds in a run directory (Tests/TensorBoardTests/read_events.py).
public struct TensorBoardView: Decodable {
    public struct File: Decodable {
        public var name: String
        /// Records whose framing and masked CRC-32Cs the script checked itself.
        public var records: Int
        /// Events TensorBoard's event-file loader yielded.
        public var loaded: Int
        public var crcOK: Bool
        /// Bytes after the last complete record (a record cut short).
        public var trailingBytes: Int

        enum CodingKeys: String, CodingKey {
            case name, records, loaded
            case crcOK = "crc_ok"
            case trailingBytes = "trailing_bytes"
        }
    }

    public var files: [File]
    /// Per tag, [step, value] as the dashboards show them (restart purging applied).
    public var scalars: [String: [[Double]]]
    public var histograms: [String: [HistogramPoint]]
    public var texts: [String: [TextPoint]]
    /// Per tag, every step of every file in order, without any purging.
    public var rawScalarSteps: [String: [Int]]
    public var sessionStarts: [Int]

    public struct HistogramPoint: Decodable {
        public var step: Int
        public var num: Double
        public var bucketSum: Double
        public var min: Double
        public var max: Double

        enum CodingKeys: String, CodingKey {
            case step, num, min, max
            case bucketSum = "bucket_sum"
        }
    }

    public struct TextPoint: Decodable {
        public var step: Int
        public var text: String
    }

    enum CodingKeys: String, CodingKey {
        case files, scalars, histograms, texts
        case rawScalarSteps = "raw_scalar_steps"
        case sessionStarts = "session_starts"
    }
}

public enum TensorBoardReader {
    struct MissingPackage: Error, CustomStringConvertible {
        var detail: String
        var description: String {
            "the Python package 'tensorboard' is needed to read event files back and could not be installed "
                + "(python3 -m pip install -r Tests/TensorBoardTests/requirements.txt): \(detail)"
        }
    }

    static var script: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("TensorBoardTests/read_events.py")
    }

    /// Reads `directory` with TensorBoard's reader, installing the package with pip once if it is missing.
    public static func read(_ directory: URL) throws -> TensorBoardView {
        let probe = try python(["-c", "import tensorboard.backend.event_processing.event_accumulator"])
        if probe.status != 0 {
            let install = try python(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "tensorboard"])
            let retry = try python(["-c", "import tensorboard.backend.event_processing.event_accumulator"])
            guard retry.status == 0 else { throw MissingPackage(detail: install.error + retry.error) }
        }
        let result = try python([script.path, directory.path])
        guard result.status == 0 else {
            throw MissingPackage(detail: "read_events.py failed (status \(result.status)): \(result.error)")
        }
        return try JSONDecoder().decode(TensorBoardView.self, from: Data(result.output.utf8))
    }

    private static func python(_ arguments: [String]) throws -> (status: Int32, output: String, error: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        let output = Pipe(), error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: outputData, as: UTF8.self),
                String(decoding: errorData, as: UTF8.self))
    }
}
