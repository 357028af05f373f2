import Foundation
import Reporting

/// `metrics.jsonl`: one JSON object per optimizer step and per evaluation, flushed line by line so
/// that a crashed run keeps everything up to its last step.
final class MetricsLog {
    private let handle: FileHandle
    private let encoder = JSONEncoder()

    init(url: URL, append: Bool = false) throws {
        if !append || !FileManager.default.fileExists(atPath: url.path) {
            guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
                throw TrainingError.runDirectory(path: url.path, reason: "cannot create the metrics file")
            }
        }
        handle = try FileHandle(forWritingTo: url)
        try handle.seekToEnd()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    }

    deinit { try? handle.close() }

    func append<T: Encodable>(_ record: T) throws {
        var data = try encoder.encode(record)
        data.append(0x0A)
        try handle.write(contentsOf: data)
    }
}
