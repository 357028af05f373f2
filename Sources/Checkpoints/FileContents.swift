import Foundation
import Glibc

/// A whole file read into one allocation. Tensors decoded from it are zero-copy `Data` views
/// that keep this buffer alive, so loading costs one read plus one memcpy into the destination.
final class FileContents: @unchecked Sendable {  // immutable after init
    private let base: UnsafeMutableRawPointer
    let count: Int

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    private init(capacity: Int) {
        base = UnsafeMutableRawPointer.allocate(byteCount: max(capacity, 1), alignment: 64)
        count = capacity
    }

    private init(base: UnsafeMutableRawPointer, count: Int) {
        self.base = base
        self.count = count
    }

    convenience init(copying data: Data) {
        self.init(capacity: data.count)
        data.withUnsafeBytes { raw in
            if let source = raw.baseAddress { base.copyMemory(from: source, byteCount: raw.count) }
        }
    }

    deinit { base.deallocate() }

    static func read(path: String) throws(CheckpointError) -> FileContents {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            let code = errno
            throw code == ENOENT ? .fileNotFound(path: path) : .readFailed(path: path, errno: code)
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw .readFailed(path: path, errno: errno) }
        guard (status.st_mode & S_IFMT) == S_IFREG else { throw .readFailed(path: path, errno: EISDIR) }
        let size = Int(status.st_size)
        let base = UnsafeMutableRawPointer.allocate(byteCount: max(size, 1), alignment: 64)
        var filled = 0
        while filled < size {
            let got = Glibc.read(descriptor, base + filled, size - filled)
            if got < 0 {
                let code = errno
                if code == EINTR { continue }
                base.deallocate()
                throw .readFailed(path: path, errno: code)
            }
            if got == 0 { break }  // the file shrank under us; validation reports the short image
            filled += got
        }
        return FileContents(base: base, count: filled)
    }

    /// A zero-based `Data` over `range` that shares (and retains) this buffer.
    func data(in range: Range<Int>) -> Data {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "range \(range) outside \(count) bytes")
        guard !range.isEmpty else { return Data() }
        return Data(bytesNoCopy: base + range.lowerBound, count: range.count,
                    deallocator: .custom { [self] _, _ in withExtendedLifetime(self) {} })
    }
}
