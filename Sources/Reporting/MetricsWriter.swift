import Foundation

/// Appends metrics records to a `metrics.jsonl`, one JSON object per line, each line handed to the OS at once so a
/// report made while training runs (or after a crash) sees every finished step.
///
/// Not thread-safe: one writer per file, used by the rank that logs.
public final class MetricsWriter {
    public let url: URL
    /// Stamped on every line that does not carry its own, so that a line always says which run wrote it.
    public let runID: String?
    private let handle: FileHandle
    private let encoder = MetricsCoding.makeEncoder()

    /// Opens `url` for appending, creating it if needed; an existing file is continued, as after a resume.
    ///
    /// A partial last line left by a crash is cut off first: appended to, it would become a malformed line in the
    /// middle of the file, which the strict reader rejects.
    public init(url: URL, runID: String? = nil) throws(ReportError) {
        self.url = url
        self.runID = runID
        let manager = FileManager.default
        if !manager.fileExists(atPath: url.path) {
            guard manager.createFile(atPath: url.path, contents: nil) else {
                throw .writeFailed(path: url.path, reason: "cannot create file")
            }
        }
        do {
            let existing = try Data(contentsOf: url)
            handle = try FileHandle(forWritingTo: url)
            if let last = existing.last, last != UInt8(ascii: "\n") {
                let keep = existing.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? existing.startIndex
                try handle.truncate(atOffset: UInt64(keep - existing.startIndex))
            }
            try handle.seekToEnd()
        } catch {
            throw .writeFailed(path: url.path, reason: error.localizedDescription)
        }
    }

    deinit {
        try? handle.close()
    }

    public func write(_ record: StepRecord) throws(ReportError) {
        var record = record
        record.runID = record.runID ?? runID
        try writeLine(record)
    }

    public func write(_ record: EvaluationRecord) throws(ReportError) {
        var record = record
        record.runID = record.runID ?? runID
        try writeLine(record)
    }

    /// For `gradients.jsonl`, which shares the line discipline of the metrics file.
    public func write(_ record: GradientMagnitudes) throws(ReportError) {
        try writeLine(record)
    }

    public func write(_ line: MetricsLine) throws(ReportError) {
        switch line {
        case .step(let record): try write(record)
        case .evaluation(let record): try write(record)
        }
    }

    /// Forces written lines to stable storage (costly; for checkpoints, not every step).
    public func synchronize() throws(ReportError) {
        do {
            try handle.synchronize()
        } catch {
            throw .writeFailed(path: url.path, reason: error.localizedDescription)
        }
    }

    private func writeLine(_ record: some Encodable) throws(ReportError) {
        do {
            var data = try encoder.encode(record)
            data.append(UInt8(ascii: "\n"))
            try handle.write(contentsOf: data)
        } catch {
            throw .writeFailed(path: url.path, reason: "\(error)")
        }
    }
}
