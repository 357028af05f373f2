import Checkpoints
import Configuration
import Foundation
import Glibc

/// What a run directory holds before a run starts in it, read without changing anything.
///
/// A directory holds one run: its `config.yaml`, `metrics.jsonl`, checkpoints and final file belong
/// together. Starting a second run over them would mix the two (the old checkpoints outlive the new
/// run's metrics, and `eval` or `--resume` then picks up the old run), so a run only starts in a
/// directory that holds no run, continues its own run (`--resume`), or clears it first (`--overwrite`).
public struct RunDirectoryContents: Sendable {
    public let url: URL
    /// The run files present, by name (`config.yaml`, `metrics.jsonl`, checkpoints, …).
    public let artefacts: [String]
    /// The `run_id` of the run recorded in `config.yaml`, when there is one.
    public let runID: String?
    /// The step of the newest checkpoint.
    public let latestStep: Int?

    public var holdsRun: Bool { !artefacts.isEmpty }

    /// Files a run writes into its directory (besides its checkpoints).
    static let runFiles = ["config.yaml", "metrics.jsonl", "resumes.jsonl", "final.safetensors"]

    /// Reads what `url` holds; a missing directory holds nothing. A path that is not a directory,
    /// or a directory that cannot be read, is an error naming it.
    public static func inspect(_ url: URL) throws(TrainingError) -> RunDirectoryContents {
        let path = url.path
        var status = stat()
        guard stat(path, &status) == 0 else {
            let code = errno
            guard code == ENOENT || code == ENOTDIR else { throw .runDirectory(path: path, reason: posixMessage(code)) }
            try checkCreatable(url)
            return RunDirectoryContents(url: url, artefacts: [], runID: nil, latestStep: nil)
        }
        guard (status.st_mode & S_IFMT) == S_IFDIR else {
            throw .runDirectory(path: path, reason: "exists and is not a directory")
        }
        guard let handle = opendir(path) else { throw .runDirectory(path: path, reason: "cannot list it: \(posixMessage(errno))") }
        closedir(handle)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        let artefacts = names.filter { runFiles.contains($0) || CheckpointDirectory.step(fromFileName: $0) != nil }.sorted()
        let config = url.appendingPathComponent("config.yaml").path
        var runID: String?
        if case .map(let map)? = try? ConfigValue.parse(file: config), case .string(let id)? = map[TrainingConfiguration.runIDKey] {
            runID = id
        }
        let latestStep = CheckpointDirectory(url: url, keep: 1).checkpoints().last?.step
        return RunDirectoryContents(url: url, artefacts: artefacts, runID: runID, latestStep: latestStep)
    }

    /// Checks, without creating anything, that the missing directory `url` could be created: its
    /// nearest existing ancestor must be a writable directory.
    static func checkCreatable(_ url: URL) throws(TrainingError) {
        var ancestor = url.deletingLastPathComponent()
        var status = stat()
        while stat(ancestor.path, &status) != 0 {
            let code = errno
            guard code == ENOENT || code == ENOTDIR, ancestor.path != "/" else {
                throw .runDirectory(path: url.path, reason: "cannot look at \(ancestor.path): \(posixMessage(code))")
            }
            ancestor = ancestor.deletingLastPathComponent()
        }
        guard (status.st_mode & S_IFMT) == S_IFDIR else {
            throw .runDirectory(path: url.path, reason: "cannot create it: \(ancestor.path) is a file, not a directory")
        }
        guard access(ancestor.path, W_OK) == 0 else {
            throw .runDirectory(path: url.path, reason: "cannot create it in \(ancestor.path): \(posixMessage(errno))")
        }
    }

    /// Creates the directory and any missing parents, naming the first one that cannot be made.
    public static func create(_ url: URL) throws(TrainingError) {
        var prefix = url.path.hasPrefix("/") ? "" : "."
        for component in url.path.split(separator: "/", omittingEmptySubsequences: true) {
            prefix += "/" + component
            if mkdir(prefix, 0o755) != 0, errno != EEXIST {
                throw .runDirectory(path: url.path, reason: "cannot create \(prefix): \(posixMessage(errno))")
            }
        }
    }

    /// Removes the run's files (and only those: anything else the user keeps there stays), for `--overwrite`.
    public func clear() throws(TrainingError) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
        let temporary = names.filter { $0.hasPrefix(".checkpoint-") || $0.hasPrefix(".final.safetensors.tmp-") }
        for name in artefacts + temporary {
            let path = url.appendingPathComponent(name).path
            guard unlink(path) == 0 || errno == ENOENT else {
                throw .runDirectory(path: url.path, reason: "cannot remove \(name) to overwrite the run: \(posixMessage(errno))")
            }
        }
    }
}

/// A run's identity: the start time and a random part, e.g. `20250114-093015-3fa9c1`. Readable,
/// sortable by start, and different for two runs started in the same second.
public enum RunID {
    public static func make(now: Date = Date()) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        let random = String(UInt32.random(in: 0...0xFF_FFFF), radix: 16)
        return formatter.string(from: now) + "-" + String(repeating: "0", count: 6 - random.count) + random
    }
}

/// `strerror` with the code, in the words `ls` or `mkdir` would use.
func posixMessage(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "errno \(code)" }
    return "\(String(cString: text)) (errno \(code))"
}

/// Checks a configuration path before it is read, so that a directory or a missing file is named
/// in plain words rather than as a Foundation error code.
public enum ConfigurationFile {
    public static func checkReadable(_ path: String) throws(ConfigError) {
        var status = stat()
        guard stat(path, &status) == 0 else {
            throw .unreadable(source: path, reason: errno == ENOENT ? "no such file" : posixMessage(errno))
        }
        if (status.st_mode & S_IFMT) == S_IFDIR {
            let yaml = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [])
                .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
            let hint = yaml.isEmpty ? "" : "; it holds " + yaml.prefix(4).map { (path as NSString).appendingPathComponent($0) }
                .joined(separator: ", ") + (yaml.count > 4 ? ", …" : "")
            throw .unreadable(source: path, reason: "is a directory, not a YAML file\(hint)")
        }
        guard access(path, R_OK) == 0 else { throw .unreadable(source: path, reason: posixMessage(errno)) }
    }
}

/// The leaves of a configuration tree by dotted path, for naming what differs between two trees.
enum ConfigurationDifference {
    static func leaves(_ value: ConfigValue, prefix: String = "") -> [(path: String, value: String)] {
        if case .map(let map) = value, !map.entries.isEmpty {
            return map.entries.flatMap { leaves($0.value, prefix: prefix.isEmpty ? $0.key : prefix + "." + $0.key) }
        }
        return [(prefix, value.description)]
    }

    /// `key: A → B` for each leaf under `sections` (all, when nil) that differs; "(default)" marks a
    /// key one side leaves unset.
    static func describe(from old: ConfigValue, to new: ConfigValue, sections: [String]? = nil,
                         oldLabel: String, newLabel: String) -> [String] {
        let a = Dictionary(leaves(old).map { ($0.path, $0.value) }, uniquingKeysWith: { $1 })
        let b = Dictionary(leaves(new).map { ($0.path, $0.value) }, uniquingKeysWith: { $1 })
        let keys = Set(a.keys).union(b.keys).filter { key in
            sections.map { $0.contains { key == $0 || key.hasPrefix($0 + ".") } } ?? true
        }
        return keys.sorted().compactMap { key in
            guard a[key] != b[key] else { return nil }
            return "\(key): \(a[key] ?? "(default)") \(oldLabel), \(b[key] ?? "(default)") \(newLabel)"
        }
    }
}
