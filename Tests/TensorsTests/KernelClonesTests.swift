import Foundation
import TestSupport
import XCTest

/// The C kernels promise the same bits on every CPU: each hot loop has AVX-512, AVX2 and baseline clones
/// chosen at load time, none contracts a multiply-add, and every sum adds in fixed lanes. This builds
/// `kernel_bits.c` (every kernel on fixed data, one hash per kernel) against `kernels.c` once per x86-64
/// level this CPU can run, each a single plain build for that level, and once with the load-time clones,
/// and requires the same hashes from all of them.
final class KernelClonesTests: XCTestCase {
    private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    /// The CKernels target's C flags (checked against Package.swift below).
    private let flags = ["-O2", "-fno-fast-math", "-ffp-contract=off"]

    /// The x86-64 levels this CPU runs: the baseline and v2 always, v3 with AVX2 and FMA, v4 with AVX-512.
    private func levels() throws -> [String] {
        let info = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        let line = try XCTUnwrap(info.split(separator: "\n").first { $0.hasPrefix("flags") }, "no flags in /proc/cpuinfo")
        let features = Set(line.split(separator: " ").map(String.init))
        var levels = ["x86-64", "x86-64-v2"]
        if features.isSuperset(of: ["avx2", "fma", "bmi2"]) { levels.append("x86-64-v3") }
        if features.isSuperset(of: ["avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl"]) {
            levels.append("x86-64-v4")
        }
        return levels
    }

    func testEveryInstructionSetGivesTheSameBits() throws {
        let package = try String(contentsOf: root.appendingPathComponent("Package.swift"), encoding: .utf8)
        let declared = flags.map { "\"\($0)\"" }.joined(separator: ", ")
        XCTAssertTrue(package.contains("name: \"CKernels\", cSettings: [.unsafeFlags([\(declared)])]"),
                      "the CKernels flags in Package.swift are no longer \(flags): update this test")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kernel-clones-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let sources = [root.appendingPathComponent("Tests/TensorsTests/kernel_bits.c").path,
                       root.appendingPathComponent("Sources/CKernels/kernels.c").path]
        let include = "-I" + root.appendingPathComponent("Sources/CKernels/include").path
        // One build per level with the clone attribute defined away, and the shipped build with the clones.
        let builds: [(String, [String])] = try levels().map { ($0, ["-march=\($0)", "-Dtarget_clones(...)="]) }
            + [("load-time clones", [])]
        var outputs: [(String, String)] = []
        for (name, options) in builds {
            let binary = directory.appendingPathComponent(name.replacingOccurrences(of: " ", with: "-")).path
            let build = try ProcessRunner.runTool("clang", flags + options + [include] + sources + ["-lm", "-o", binary])
            XCTAssertEqual(build.status, 0, "clang for \(name): \(build.error)")
            guard build.status == 0 else { return }
            let run = try ProcessRunner.runTool(binary, [])
            XCTAssertEqual(run.status, 0, "\(name): \(run.error)")
            outputs.append((name, run.output))
        }
        let (firstName, first) = outputs[0]
        XCTAssertEqual(first.split(separator: "\n").count, 15, "one hash per kernel: \(first)")
        for (name, output) in outputs.dropFirst() {
            let lines = zip(first.split(separator: "\n"), output.split(separator: "\n")).filter { $0 != $1 }
            XCTAssertEqual(output, first, "\(name) differs from \(firstName): \(lines.map { "\($0.1)" })")
        }
    }
}
