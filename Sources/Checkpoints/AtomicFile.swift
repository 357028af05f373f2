import Foundation
import Glibc

/// Crash-safe file replacement: write a temporary sibling, fsync it, rename it over the target,
/// fsync the directory. At every instant the target is either the complete old file or the
/// complete new one, because rename within one directory is atomic and the data is durable
/// before the name points at it.
public enum AtomicFile {
    /// `.<name>.tmp-<pid>` beside the target: same directory (rename cannot cross filesystems),
    /// hidden, and unique per writing process.
    public static func temporaryURL(for url: URL) -> URL {
        url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
    }

    public static func write(_ data: Data, to url: URL) throws(CheckpointError) {
        try write([data], to: url)
    }

    /// Writes the concatenation of `parts`. On any failure the temporary file is removed and the
    /// previous target (if any) is untouched.
    public static func write(_ parts: [Data], to url: URL) throws(CheckpointError) {
        let target = url.path
        let directory = url.deletingLastPathComponent().path
        try requireDirectory(directory)
        let temporary = temporaryURL(for: url).path

        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw failure(errno, path: directory, operation: "create temporary file") }
        var open = true
        do throws(CheckpointError) {
            for part in parts { try writeAll(part, descriptor: descriptor, path: target) }
            guard fsync(descriptor) == 0 else { throw failure(errno, path: target, operation: "fsync") }
            open = false
            guard close(descriptor) == 0 else { throw failure(errno, path: target, operation: "close") }
            guard rename(temporary, target) == 0 else { throw failure(errno, path: target, operation: "rename") }
        } catch {
            if open { close(descriptor) }
            unlink(temporary)
            throw error
        }
        try syncDirectory(directory)
    }

    /// Checks, before any work is spent, that checkpoints can be written into `directory`:
    /// creates it (and missing parents) if needed, then creates, writes, syncs and deletes a probe file.
    public static func preflight(directory url: URL) throws(CheckpointError) {
        let directory = url.path
        try createDirectory(directory)
        try requireDirectory(directory)
        let probe = url.appendingPathComponent(".preflight-probe-\(getpid())").path
        let descriptor = open(probe, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw failure(errno, path: directory, operation: "create probe file") }
        defer { unlink(probe) }
        var byte: UInt8 = 0
        let written = Glibc.write(descriptor, &byte, 1)
        let writeError = errno
        let synced = fsync(descriptor) == 0
        let syncError = errno
        close(descriptor)
        guard written == 1 else { throw failure(writeError, path: directory, operation: "write probe file") }
        guard synced else { throw failure(syncError, path: directory, operation: "fsync probe file") }
        guard unlink(probe) == 0 else { throw failure(errno, path: directory, operation: "delete probe file") }
    }

    /// `mkdir -p`, reporting the first component that cannot be created.
    static func createDirectory(_ path: String) throws(CheckpointError) {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            prefix += "/" + component
            if mkdir(prefix, 0o755) != 0 {
                let code = errno
                if code == EEXIST { continue }
                throw failure(code, path: prefix, operation: "create directory")
            }
        }
    }

    static func requireDirectory(_ path: String) throws(CheckpointError) {
        var status = stat()
        guard stat(path, &status) == 0 else {
            let code = errno
            throw code == ENOENT ? .directoryMissing(path: path) : failure(code, path: path, operation: "stat")
        }
        guard (status.st_mode & S_IFMT) == S_IFDIR else { throw .notADirectory(path: path) }
    }

    /// Makes the rename itself durable.
    static func syncDirectory(_ path: String) throws(CheckpointError) {
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw failure(errno, path: path, operation: "open directory for fsync") }
        defer { close(descriptor) }
        // Some filesystems cannot sync directories (EINVAL); the rename is then as durable as they allow.
        if fsync(descriptor) != 0, errno != EINVAL { throw failure(errno, path: path, operation: "fsync directory") }
    }

    /// Writes all of `data`, resuming after partial writes and interrupts.
    static func writeAll(_ data: Data, descriptor: Int32, path: String) throws(CheckpointError) {
        var failedCode: Int32 = 0
        data.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return }
            var offset = 0
            while offset < raw.count {
                // Linux moves at most ~2 GiB per call; ask for no more so progress is always visible.
                let written = Glibc.write(descriptor, base + offset, min(raw.count - offset, 1 << 30))
                if written < 0 {
                    if errno == EINTR { continue }
                    failedCode = errno
                    return
                }
                offset += written
            }
        }
        if failedCode != 0 { throw failure(failedCode, path: path, operation: "write") }
    }

    static func failure(_ code: Int32, path: String, operation: String) -> CheckpointError {
        switch code {
        case ENOSPC, EDQUOT: .noSpace(path: path)
        case EACCES, EPERM, EROFS: .notWritable(path: path, errno: code)
        case ENOENT: .directoryMissing(path: path)
        case ENOTDIR: .notADirectory(path: path)
        default: .writeFailed(path: path, operation: operation, errno: code)
        }
    }
}
