import Foundation
import XCTest

/// Runs the built `bigbatch` executable, alone or under real `mpirun`, and captures what it prints.
public struct ProcessResult {
    public var status: Int32
    public var output: String
    public var error: String
    public var seconds: Double
}

public enum ProcessRunner {
    /// The `bigbatch` executable built beside the test bundle.
    public static var executable: URL {
        get throws {
            var directory = Bundle.main.bundleURL
            if directory.pathExtension == "xctest" { directory.deleteLastPathComponent() }
            let candidates = [directory.appendingPathComponent("bigbatch"),
                              directory.deletingLastPathComponent().appendingPathComponent("bigbatch")]
            guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
                throw MissingExecutable(searched: candidates.map(\.path))
            }
            return found
        }
    }

    public static func run(_ arguments: [String], ranks: Int? = nil, environment: [String: String] = [:],
                    timeout: Double = 120, in directory: URL? = nil) throws -> ProcessResult {
        try start(arguments, ranks: ranks, environment: environment, in: directory).wait(timeout: timeout)
    }

    /// Starts the program and returns at once; `wait(timeout:)` collects the result.
    /// - Parameter directory: the working directory of the program (default: this process's).
    public static func start(_ arguments: [String], ranks: Int? = nil, environment: [String: String] = [:],
                             in directory: URL? = nil) throws -> RunningProcess {
        var command = try [executable.path] + arguments
        if let ranks {
            var mpi = ["mpirun", "-np", "\(ranks)"]
            if ranks > ProcessInfo.processInfo.activeProcessorCount { mpi += ["--oversubscribe"] }
            mpi += ["--bind-to", "none", "-x", "OPENBLAS_NUM_THREADS=1"]
            command = mpi + command
        }
        return try launch(command, environment: environment, in: directory)
    }

    /// Runs another program (`tool` and its arguments, found through `/usr/bin/env` when not a path).
    public static func runTool(_ tool: String, _ arguments: [String], timeout: Double = 120) throws -> ProcessResult {
        try startTool(tool, arguments).wait(timeout: timeout)
    }

    /// `runTool` that returns at once; `wait(timeout:)` collects the result.
    public static func startTool(_ tool: String, _ arguments: [String], environment: [String: String] = [:]) throws
        -> RunningProcess
    {
        let command = tool == "/usr/bin/env" ? arguments : [tool] + arguments
        return try launch(command, environment: environment, in: nil)
    }

    private static func launch(_ command: [String], environment: [String: String], in directory: URL?) throws
        -> RunningProcess
    {
        let process = Process()
        if let directory { process.currentDirectoryURL = directory }
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = command
        var env = ProcessInfo.processInfo.environment
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        for (key, value) in environment { env[key] = value }
        process.environment = env
        // Files rather than pipes: a chatty child can never block on a full pipe.
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("bigbatch-process-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let outputURL = directory.appendingPathComponent("stdout"), errorURL = directory.appendingPathComponent("stderr")
        FileManager.default.createFile(atPath: outputURL.path, contents: nil)
        FileManager.default.createFile(atPath: errorURL.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: outputURL)
        process.standardError = try FileHandle(forWritingTo: errorURL)
        try process.run()
        return RunningProcess(process: process, command: command, directory: directory, outputURL: outputURL,
                              errorURL: errorURL, started: Date())
    }
}

/// A started program whose output goes to files.
public struct RunningProcess {
    public let process: Process
    let command: [String]
    let directory: URL
    let outputURL: URL
    let errorURL: URL
    let started: Date

    public func wait(timeout: Double) -> ProcessResult {
        defer { try? FileManager.default.removeItem(at: directory) }
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning {
            process.terminate()
            XCTFail("\(command.joined(separator: " ")) did not finish within \(timeout) s")
        }
        process.waitUntilExit()
        let outputData = (try? Data(contentsOf: outputURL)) ?? Data(), errorData = (try? Data(contentsOf: errorURL)) ?? Data()
        return ProcessResult(status: process.terminationStatus, output: String(decoding: outputData, as: UTF8.self),
                             error: String(decoding: errorData, as: UTF8.self),
                             seconds: Date().timeIntervalSince(started))
    }
}

public struct MissingExecutable: Error, CustomStringConvertible {
    public var searched: [String]
    public var description: String {
        "bigbatch executable not built; looked at \(searched.joined(separator: ", ")) (run swift build)"
    }
}
