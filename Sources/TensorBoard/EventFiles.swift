import Foundation
import Glibc
import SwiftProtobuf

/// The event files of a run directory, as TensorBoard finds them: by `tfevents` in the name, in
/// name order.
public enum EventFiles {
    static let prefix = "events.out.tfevents."

    /// The event files BigBatch writes in `directory`, sorted by name (creation order).
    public static func list(in directory: URL) -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasPrefix(prefix) }.sorted().map { directory.appendingPathComponent($0) }
    }

    /// The Unix seconds in an event file's name.
    static func timestamp(of url: URL) -> Int? {
        let name = url.lastPathComponent
        guard name.hasPrefix(prefix) else { return nil }
        return Int(name.dropFirst(prefix.count).prefix { $0 != "." })
    }

    /// Removes every event file of `directory`: a fresh run starts a fresh log, as `metrics.jsonl` does.
    public static func removeAll(in directory: URL) throws(TensorBoardError) {
        for url in list(in: directory) {
            do {
                try FileManager.default.removeItem(at: url)
            } catch {
                throw .writeFailed(path: url.path, reason: "cannot remove: \(error.localizedDescription)")
            }
        }
    }

    /// The events of one file up to its last complete, intact record, and why reading stopped
    /// early if it did (a truncated or corrupted record).
    static func read(_ url: URL) throws(TensorBoardError) -> (events: [Tensorboard_Event], stop: TFRecord.Stop?) {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw .unreadable(path: url.path, reason: error.localizedDescription)
        }
        let (payloads, _, stop) = TFRecord.payloads(in: data)
        var events: [Tensorboard_Event] = []
        for (index, payload) in payloads.enumerated() {
            do {
                events.append(try Tensorboard_Event(serializedBytes: payload))
            } catch {
                throw .malformedEvent(path: url.path, record: index, reason: "\(error)")
            }
        }
        return (events, stop)
    }

    /// Rewrites the event files of `directory` without the events after `step`, before a run
    /// resumed from the checkpoint of that step redoes them.
    ///
    /// Readers differ on restarts: TensorBoard's Python event accumulator purges on a
    /// `SessionLog.START` or a step going backwards, its Rust data server (the default loader of
    /// newer TensorBoards) has rules of its own, and a script reading the raw events has none, so it
    /// would see both attempts of each redone step. Removing them from the files is what every
    /// reader agrees on. A file ending in a partial or
    /// corrupted record (a writer killed mid-write) is cut at the last intact one too. Each file is
    /// replaced atomically, through a temporary name without `tfevents` in it so that a live
    /// TensorBoard never picks it up.
    public static func discardEvents(after step: Int, in directory: URL) throws(TensorBoardError) {
        for url in list(in: directory) {
            let data: Data
            do {
                data = try Data(contentsOf: url)
            } catch {
                throw .unreadable(path: url.path, reason: error.localizedDescription)
            }
            let (payloads, validLength, _) = TFRecord.payloads(in: data)
            var kept = Data()
            var dropped = false
            for (index, payload) in payloads.enumerated() {
                let event: Tensorboard_Event
                do {
                    event = try Tensorboard_Event(serializedBytes: payload)
                } catch {
                    throw .malformedEvent(path: url.path, record: index, reason: "\(error)")
                }
                if event.step > Int64(step) {
                    dropped = true
                } else {
                    kept.append(TFRecord.frame(payload))
                }
            }
            if dropped || validLength < data.count { try replace(url, with: kept) }
        }
    }

    /// Write a temporary sibling, fsync it, rename it over `url`, fsync the directory: at every
    /// instant the file is the complete old one or the complete new one.
    static func replace(_ url: URL, with data: Data) throws(TensorBoardError) {
        let directory = url.deletingLastPathComponent().path
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".rewrite-\(getpid()).tmp").path
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .writeFailed(path: temporary, reason: String(cString: strerror(errno))) }
        var failure: String?
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = Glibc.write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    failure = String(cString: strerror(errno))
                    return
                }
                offset += written
            }
        }
        if failure == nil && fsync(descriptor) != 0 { failure = String(cString: strerror(errno)) }
        close(descriptor)
        if failure == nil && rename(temporary, url.path) != 0 { failure = String(cString: strerror(errno)) }
        if let failure {
            unlink(temporary)
            throw .writeFailed(path: url.path, reason: failure)
        }
        let directoryDescriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryDescriptor >= 0 {
            fsync(directoryDescriptor)
            close(directoryDescriptor)
        }
    }
}
