import CZlib
import Tensors
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Whole-file reading with transparent gzip decompression.
///
/// Data files are small enough (tens of MB) to hold in memory; reading them whole lets every
/// format check compare the header against the exact payload length, and gzip is recognized by
/// its magic bytes rather than the file name, so `foo.gz` holding plain bytes still loads.
enum DataFile {
    /// The bytes of `path`, decompressed when the file is gzip.
    static func read(_ path: String) throws(DataError) -> [UInt8] {
        try decode(readRaw(path), file: path)
    }

    /// `raw` decompressed when it is gzip, else as it is.
    static func decode(_ raw: [UInt8], file: String) throws(DataError) -> [UInt8] {
        if raw.count >= 2 && raw[0] == 0x1F && raw[1] == 0x8B { return try gunzip(raw, file: file) }
        return raw
    }

    /// Whether `path` names an existing regular file.
    static func isRegularFile(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
    }

    /// Whether `path` names an existing directory.
    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// Names in a directory (for error messages), sorted.
    static func listing(_ directory: String) -> [String] {
        guard let handle = opendir(directory) else { return [] }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: MemoryLayout.size(ofValue: entry.pointee.d_name)) {
                    String(cString: $0)
                }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    static func readRaw(_ path: String) throws(DataError) -> [UInt8] {
        var info = stat()
        guard stat(path, &info) == 0 else {
            let code = errno
            if code == ENOENT || code == ENOTDIR { throw .fileNotFound(file: path) }
            throw .unreadable(file: path, reason: String(cString: strerror(code)))
        }
        switch info.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw .notARegularFile(file: path, kind: "directory")
        default: throw .notARegularFile(file: path, kind: "special file")
        }
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw .unreadable(file: path, reason: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        let size = Int(info.st_size)
        var bytes = [UInt8](repeating: 0, count: size)
        var filled = 0
        var failure: Int32 = 0
        bytes.withUnsafeMutableBytes { buffer in
            while filled < size {
                let got = Glibc.read(descriptor, buffer.baseAddress! + filled, size - filled)
                if got < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                if got == 0 { return }
                filled += got
            }
        }
        if failure != 0 { throw .unreadable(file: path, reason: String(cString: strerror(failure))) }
        // A file that shrank while being read: keep what is there, the format checks report the length.
        if filled < size { bytes.removeLast(size - filled) }
        return bytes
    }

    /// Inflates one or more concatenated gzip members (what `gzip -dc` accepts).
    ///
    /// The output may not outgrow `limit` bytes (by default half the memory available): a small
    /// file that inflates to more (a "zip bomb") is an error, not an exhausted machine.
    static func gunzip(_ input: [UInt8], file: String, limit: Int = SystemMemory.availableBytes / 2) throws(DataError) -> [UInt8] {
        // ISIZE (the last 4 bytes) is the uncompressed size modulo 2^32: a good first guess, clamped
        // to deflate's maximum ratio so a damaged trailer cannot ask for absurd memory.
        let tail = input.count >= 4 ? input.suffix(4).reversed().reduce(0) { $0 << 8 | Int($1) } : 0
        var output = [UInt8](repeating: 0, count: min(max(1 << 16, min(tail, input.count * 1032)), max(limit, 1)))
        var produced = 0
        var consumed = 0
        var stream = z_stream()
        let initialized = inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard initialized == Z_OK else { throw .unreadable(file: file, reason: "zlib initialization failed (\(initialized))") }
        defer { inflateEnd(&stream) }

        while true {
            if produced == output.count {
                guard output.count < limit else {
                    throw .corruptGzip(file: file, reason: "it inflates to more than \(limit) bytes (half the memory "
                                       + "available), the limit for a data file")
                }
                output.append(contentsOf: repeatElement(0, count: min(output.count, limit - output.count)))
            }
            var availableIn: UInt32 = 0
            let status: Int32 = input.withUnsafeBufferPointer { source in
                output.withUnsafeMutableBufferPointer { target in
                    let start = UnsafeMutablePointer(mutating: source.baseAddress! + consumed)
                    stream.next_in = start
                    stream.avail_in = UInt32(min(source.count - consumed, Int(UInt32.max)))
                    let out = target.baseAddress! + produced
                    stream.next_out = out
                    stream.avail_out = UInt32(min(target.count - produced, Int(UInt32.max)))
                    let result = inflate(&stream, Z_NO_FLUSH)
                    consumed += stream.next_in - start
                    produced += stream.next_out - out
                    availableIn = stream.avail_in
                    return result
                }
            }
            switch status {
            case Z_OK:
                continue
            case Z_STREAM_END:
                if consumed == input.count {
                    output.removeLast(output.count - produced)
                    return output
                }
                if input.count - consumed >= 2 && input[consumed] == 0x1F && input[consumed + 1] == 0x8B {
                    inflateReset(&stream)
                    continue
                }
                throw .corruptGzip(file: file, reason: "\(input.count - consumed) bytes of trailing garbage after the gzip stream")
            case Z_BUF_ERROR:
                if produced == output.count { continue }  // output full: grow and go on
                if availableIn == 0 && consumed == input.count {
                    throw .truncatedGzip(file: file, decompressedBytes: produced)
                }
                throw .corruptGzip(file: file, reason: "inflate made no progress")
            case Z_DATA_ERROR, Z_NEED_DICT, Z_STREAM_ERROR:
                let message = stream.msg.map { String(cString: $0) } ?? "invalid deflate data"
                throw .corruptGzip(file: file, reason: message)
            case Z_MEM_ERROR:
                throw .unreadable(file: file, reason: "out of memory while decompressing")
            default:
                throw .corruptGzip(file: file, reason: "zlib status \(status)")
            }
        }
    }
}
