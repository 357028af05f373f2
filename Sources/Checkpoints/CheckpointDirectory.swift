import Foundation
import Glibc

/// A run directory holding `checkpoint-<step, 8+ digits>.safetensors` files, of which the newest
/// `keep` are retained.
public struct CheckpointDirectory: Sendable {
    public let url: URL
    public let keep: Int

    private static let namePrefix = "checkpoint-"
    private static let nameSuffix = ".safetensors"

    public init(url: URL, keep: Int) {
        precondition(keep >= 1, "checkpoint retention must keep at least one file, not \(keep)")
        self.url = url
        self.keep = keep
    }

    /// `checkpoint-00000042.safetensors`: zero-padded so names sort like steps for humans and `ls`.
    public static func fileName(step: Int) -> String {
        precondition(step >= 0, "negative checkpoint step \(step)")
        let digits = String(step)
        return namePrefix + String(repeating: "0", count: max(0, 8 - digits.count)) + digits + nameSuffix
    }

    /// The step a canonical checkpoint file name encodes, or nil for any other name.
    public static func step(fromFileName name: String) -> Int? {
        guard name.hasPrefix(namePrefix), name.hasSuffix(nameSuffix) else { return nil }
        let digits = name.dropFirst(namePrefix.count).dropLast(nameSuffix.count)
        guard digits.count >= 8, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let step = Int(digits),
              fileName(step: step) == name
        else { return nil }
        return step
    }

    public func url(step: Int) -> URL { url.appendingPathComponent(Self.fileName(step: step)) }

    /// The checkpoints present, oldest first; empty when the directory is missing or unreadable.
    public func checkpoints() -> [(step: Int, url: URL)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
        return names.compactMap { name in Self.step(fromFileName: name).map { ($0, url.appendingPathComponent(name)) } }
            .sorted { $0.step < $1.step }
    }

    /// The newest checkpoint, to resume from.
    public func latest() -> URL? { checkpoints().last?.url }

    /// The newest checkpoint in `directory`.
    public static func latest(in directory: URL) -> URL? {
        CheckpointDirectory(url: directory, keep: 1).latest()
    }

    /// Creates the directory if needed and proves it writable (see `AtomicFile.preflight`).
    public func preflight() throws(CheckpointError) { try AtomicFile.preflight(directory: url) }

    /// Atomically writes the checkpoint for `step`, then prunes older ones beyond `keep`.
    @discardableResult
    public func save(_ file: SafeTensorsFile, step: Int) throws(CheckpointError) -> URL {
        try AtomicFile.createDirectory(url.path)
        let destination = url(step: step)
        try file.write(to: destination)
        try prune()
        return destination
    }

    @discardableResult
    public func save(_ checkpoint: Checkpoint, step: Int) throws(CheckpointError) -> URL {
        try save(checkpoint.file, step: step)
    }

    /// Deletes all but the newest `keep` checkpoints, plus temporary files that crashed writers
    /// (other process ids) left behind.
    public func prune() throws(CheckpointError) {
        for old in checkpoints().dropLast(keep) {
            guard unlink(old.url.path) == 0 || errno == ENOENT else {
                throw .writeFailed(path: old.url.path, operation: "remove old checkpoint", errno: errno)
            }
        }
        let ownSuffix = ".tmp-\(getpid())"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
        for name in names where name.hasPrefix("." + Self.namePrefix) && name.contains(Self.nameSuffix + ".tmp-")
            && !name.hasSuffix(ownSuffix)
        {
            unlink(url.appendingPathComponent(name).path)
        }
    }
}
