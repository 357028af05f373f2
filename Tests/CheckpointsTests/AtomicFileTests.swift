import Foundation
import Glibc
import XCTest
@testable import Checkpoints

final class AtomicFileTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory(self)
    }

    private func entries() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
    }

    private func largeFile(_ count: Int) -> SafeTensorsFile {
        SafeTensorsFile(metadata: ["format": "x"], tensors: [
            TensorRecord(name: "big", shape: [count], floats: (0..<count).map { Float($0) }),
        ])
    }

    func testReplacesExistingFileAndLeavesNoTemporary() throws {
        let url = directory.appendingPathComponent("model.safetensors")
        try largeFile(10).write(to: url)
        try largeFile(20).write(to: url)
        XCTAssertEqual(try SafeTensorsFile.read(from: url).tensor(named: "big")?.shape, [20])
        XCTAssertEqual(try entries(), ["model.safetensors"])
        XCTAssertEqual(AtomicFile.temporaryURL(for: url).lastPathComponent, ".model.safetensors.tmp-\(getpid())")
    }

    /// A write that dies midway (the kernel refuses to grow the file past RLIMIT_FSIZE, as a full
    /// disk or a crash would stop it) leaves the previous file byte-identical and no temporary behind.
    func testFailureMidwayKeepsPreviousFileIntact() throws {
        let url = directory.appendingPathComponent("checkpoint.safetensors")
        let previous = largeFile(100)
        try previous.write(to: url)
        let previousBytes = try Data(contentsOf: url)

        var saved = rlimit()
        XCTAssertEqual(getrlimit(Int32(RLIMIT_FSIZE.rawValue), &saved), 0)
        let previousHandler = signal(SIGXFSZ, SIG_IGN)  // get EFBIG from write instead of being killed
        var limited = saved
        limited.rlim_cur = 16 * 1024
        XCTAssertEqual(setrlimit(Int32(RLIMIT_FSIZE.rawValue), &limited), 0)
        var caught: CheckpointError?
        do {
            try largeFile(100_000).write(to: url)  // 400 kB: fails after the first 16 kB
        } catch {
            caught = error
        }
        setrlimit(Int32(RLIMIT_FSIZE.rawValue), &saved)
        signal(SIGXFSZ, previousHandler)

        XCTAssertEqual(caught, .writeFailed(path: url.path, operation: "write", errno: EFBIG))
        XCTAssertTrue(caught?.description.contains(url.path) ?? false)
        XCTAssertEqual(try Data(contentsOf: url), previousBytes)
        XCTAssertEqual(try entries(), ["checkpoint.safetensors"])
        XCTAssertEqual(try SafeTensorsFile.read(from: url).tensor(named: "big")?.shape, [100])
    }

    /// ENOSPC from the device is reported as a full disk naming the file (`/dev/full` always returns it).
    func testNoSpaceIsReportedAsSuch() throws {
        let descriptor = open("/dev/full", O_WRONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return XCTFail("cannot open /dev/full (errno \(errno)), which every Linux system has") }
        defer { close(descriptor) }
        assertCheckpointError({ () throws(CheckpointError) in
            try AtomicFile.writeAll(Data(count: 4096), descriptor: descriptor, path: "/run/x.safetensors")
        }, path: "/run/x.safetensors") { $0 == .noSpace(path: "/run/x.safetensors") }
    }

    func testMissingDirectoryIsATypedErrorNamingIt() throws {
        let missing = directory.appendingPathComponent("absent")
        assertCheckpointError({ () throws(CheckpointError) in
            try largeFile(1).write(to: missing.appendingPathComponent("a.safetensors"))
        }, path: missing.path) { $0 == .directoryMissing(path: missing.path) }
    }

    /// Root ignores permission bits, so unwritability is produced by a parent that is a regular file.
    func testDirectoryUnderARegularFileIsRejected() throws {
        let blocker = directory.appendingPathComponent("blocker")
        try Data("not a directory".utf8).write(to: blocker)
        let target = blocker.appendingPathComponent("run").appendingPathComponent("a.safetensors")
        assertCheckpointError({ () throws(CheckpointError) in try largeFile(1).write(to: target) },
                              path: blocker.appendingPathComponent("run").path) { if case .notADirectory = $0 { true } else { false } }

        let runDirectory = blocker.appendingPathComponent("run")
        assertCheckpointError({ () throws(CheckpointError) in try AtomicFile.preflight(directory: runDirectory) },
                              path: runDirectory.path) { $0 == .notADirectory(path: runDirectory.path) }
        XCTAssertEqual(try entries(), ["blocker"])
    }

    func testPreflightCreatesNestedDirectoryAndLeavesItEmpty() throws {
        let run = directory.appendingPathComponent("a/b/run")
        try AtomicFile.preflight(directory: run)
        var isDirectory: ObjCBool = false
        XCTAssertTrue(FileManager.default.fileExists(atPath: run.path, isDirectory: &isDirectory))
        XCTAssertTrue(isDirectory.boolValue)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: run.path), [])
        try AtomicFile.preflight(directory: run)  // idempotent
    }

    func testPreflightOnAFileIsRejected() throws {
        let file = directory.appendingPathComponent("plain")
        try Data([1]).write(to: file)
        assertCheckpointError({ () throws(CheckpointError) in try AtomicFile.preflight(directory: file) },
                              path: file.path) { $0 == .notADirectory(path: file.path) }
    }

    func testErrnoMapping() {
        XCTAssertEqual(AtomicFile.failure(ENOSPC, path: "p", operation: "write"), .noSpace(path: "p"))
        XCTAssertEqual(AtomicFile.failure(EDQUOT, path: "p", operation: "fsync"), .noSpace(path: "p"))
        XCTAssertEqual(AtomicFile.failure(EROFS, path: "p", operation: "open"), .notWritable(path: "p", errno: EROFS))
        XCTAssertEqual(AtomicFile.failure(EACCES, path: "p", operation: "open"), .notWritable(path: "p", errno: EACCES))
        XCTAssertEqual(AtomicFile.failure(EIO, path: "p", operation: "fsync"), .writeFailed(path: "p", operation: "fsync", errno: EIO))
        XCTAssertTrue(CheckpointError.notWritable(path: "/ro/run", errno: EROFS).description.contains("/ro/run: not writable: Read-only"))
    }
}
