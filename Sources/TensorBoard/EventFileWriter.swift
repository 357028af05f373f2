import Foundation
import SwiftProtobuf

/// Appends TensorBoard events to one new `events.out.tfevents.*` file of a run directory.
///
/// Every event is handed to the OS as one complete framed record as soon as it is made, so that a
/// TensorBoard reading while training runs sees each step, and a writer killed mid-write leaves at
/// most one partial record at the end, which readers skip.
///
/// Not thread-safe: one writer per run, used by the rank that logs.
public final class EventFileWriter {
    public let url: URL
    private let handle: FileHandle
    /// Tags whose first value carried their plugin metadata (TensorBoard keeps the first only).
    private var describedTags: Set<String> = []

    /// The version string TensorBoard expects in every file's first event.
    static let fileVersion = "brain.Event:2"

    /// Creates a new event file in `directory` (which must exist). Its name sorts after every event
    /// file already there, which is the order TensorBoard reads a run's files in: the timestamp in
    /// the name is this second, or one past the latest existing one if that is later.
    public init(directory: URL, now: Date = Date()) throws(TensorBoardError) {
        var seconds = Int(now.timeIntervalSince1970)
        if let latest = EventFiles.list(in: directory).compactMap(EventFiles.timestamp(of:)).max() {
            seconds = max(seconds, latest + 1)
        }
        let host = ProcessInfo.processInfo.hostName.replacingOccurrences(of: "/", with: "_")
        let name = String(format: "%@%010d.%@.%d", EventFiles.prefix, seconds, host, getpid())
        url = directory.appendingPathComponent(name)
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw .createFailed(path: url.path, reason: "cannot create the file in \(directory.path)")
        }
        do {
            handle = try FileHandle(forWritingTo: url)
        } catch {
            throw .createFailed(path: url.path, reason: error.localizedDescription)
        }
        var first = Tensorboard_Event()
        first.wallTime = now.timeIntervalSince1970
        first.fileVersion = Self.fileVersion
        try write(first)
    }

    deinit {
        try? handle.close()
    }

    /// One event holding every scalar of `step`.
    public func writeScalars(_ scalars: [(tag: String, value: Double)], step: Int) throws(TensorBoardError) {
        try writeSummary(step: step, values: scalars.map { scalar in
            var value = Tensorboard_Summary.Value()
            value.tag = scalar.tag
            value.simpleValue = Float(scalar.value)
            return value
        })
    }

    /// One event holding every histogram of `step`.
    public func writeHistograms(_ histograms: [(tag: String, histogram: Histogram)], step: Int) throws(TensorBoardError) {
        try writeSummary(step: step, values: histograms.map { item in
            var value = Tensorboard_Summary.Value()
            value.tag = item.tag
            value.histo = item.histogram.proto
            return value
        })
    }

    /// A Markdown text under `tag`, shown by TensorBoard's text dashboard.
    public func writeText(_ text: String, tag: String, step: Int) throws(TensorBoardError) {
        var value = Tensorboard_Summary.Value()
        value.tag = tag
        var tensor = Tensorboard_TensorProto()
        tensor.dtype = .dtString
        tensor.tensorShape = Tensorboard_TensorShapeProto()
        tensor.stringVal = [Data(text.utf8)]
        value.tensor = tensor
        if describedTags.insert(tag).inserted {
            var metadata = Tensorboard_SummaryMetadata()
            metadata.pluginData.pluginName = "text"
            metadata.dataClass = .tensor
            value.metadata = metadata
        }
        try writeSummary(step: step, values: [value])
    }

    /// Marks a restart at `step`: TensorBoard's event accumulator drops the events of earlier files
    /// from this step on, as the rewritten earlier files (`EventFiles.discardEvents(after:in:)`) already do.
    public func writeSessionStart(step: Int) throws(TensorBoardError) {
        var event = Tensorboard_Event()
        event.wallTime = Date().timeIntervalSince1970
        event.step = Int64(step)
        var log = Tensorboard_SessionLog()
        log.status = .start
        event.sessionLog = log
        try write(event)
    }

    private func writeSummary(step: Int, values: [Tensorboard_Summary.Value]) throws(TensorBoardError) {
        guard !values.isEmpty else { return }
        var event = Tensorboard_Event()
        event.wallTime = Date().timeIntervalSince1970
        event.step = Int64(step)
        var summary = Tensorboard_Summary()
        summary.value = values
        event.summary = summary
        try write(event)
    }

    private func write(_ event: Tensorboard_Event) throws(TensorBoardError) {
        do {
            try handle.write(contentsOf: TFRecord.frame(event.serializedBytes()))
        } catch {
            throw .writeFailed(path: url.path, reason: "\(error)")
        }
    }
}
