import Foundation
import XCTest
@testable import Checkpoints

/// Files must interoperate with the reference implementation, the Python `safetensors` package
/// (listed in requirements.txt beside this file for CI installation).
final class PythonInteropTests: XCTestCase {
    private struct MissingPythonPackage: Error {}

    private struct ProcessResult {
        let status: Int32
        let output: String
        let errors: String
    }

    private func run(_ arguments: [String]) throws -> ProcessResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        // Read before waiting so a large output cannot fill the pipe and stall the child.
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return ProcessResult(status: process.terminationStatus, output: String(decoding: outputData, as: UTF8.self),
                             errors: String(decoding: errorData, as: UTF8.self))
    }

    /// Makes sure `safetensors` and `numpy` import, installing `safetensors` with pip once if needed.
    private func requirePythonSafetensors() throws {
        let probe = ["python3", "-c", "import safetensors.numpy, numpy"]
        if try run(probe).status == 0 { return }
        let install = try run(["python3", "-m", "pip", "install", "--quiet", "safetensors"])
        let retry = try run(probe)
        if retry.status != 0 {
            XCTFail("""
                The Python package 'safetensors' is required for the interoperability tests and could not be \
                installed (pip status \(install.status): \(install.errors)). Install it with \
                'python3 -m pip install -r Tests/CheckpointsTests/requirements.txt'. Import error: \(retry.errors)
                """)
            throw MissingPythonPackage()
        }
    }

    private func runPython(_ script: String, _ arguments: [String]) throws -> String {
        let result = try run(["python3", "-c", script] + arguments)
        XCTAssertEqual(result.status, 0, "python failed: \(result.errors)")
        return result.output
    }

    /// Python's view of a file: metadata and, per tensor, dtype name, shape and raw bytes in hex.
    private static let dumpScript = """
        import json, sys
        from safetensors import safe_open
        from safetensors.numpy import load_file
        path = sys.argv[1]
        tensors = load_file(path)
        with safe_open(path, framework="np") as f:
            metadata = f.metadata() or {}
        print(json.dumps({"metadata": metadata, "tensors": {name: {"dtype": str(a.dtype), "shape": list(a.shape),
            "hex": a.astype(a.dtype.newbyteorder("<")).tobytes().hex()} for name, a in tensors.items()}}))
        """

    private static let numpyNames: [DType: String] = [
        .float32: "float32", .float64: "float64", .int64: "int64", .int32: "int32", .uint8: "uint8",
    ]

    func testPythonLoadsWhatSwiftWrites() throws {
        try requirePythonSafetensors()
        let url = try makeTemporaryDirectory(self).appendingPathComponent("from-swift.safetensors")
        let tricky = SafeTensorsFormatTests.trickyFloatBits
        let file = SafeTensorsFile(metadata: ["format": Checkpoint.formatVersion, "step": "42", "note": "é\"\n"], tensors: [
            TensorRecord(name: "param.w", dtype: .float32, shape: [3, 4], bytes: littleEndianBytes(tricky)),
            TensorRecord(name: "param.b", shape: [], floats: [-0.0]),
            TensorRecord(name: "empty", shape: [2, 0], floats: []),
            TensorRecord(name: "f64", dtype: .float64, shape: [2], bytes: doubleBytes([.pi, -Double.leastNonzeroMagnitude])),
            TensorRecord(name: "i64", dtype: .int64, shape: [2], bytes: littleEndianBytes([Int64.min, 123_456_789_012])),
            TensorRecord(name: "i32", dtype: .int32, shape: [1, 3], bytes: littleEndianBytes([Int32(-1), 0, .max])),
            TensorRecord(name: "u8", dtype: .uint8, shape: [5], bytes: Data([0, 1, 127, 128, 255])),
        ])
        try file.write(to: url)

        let dump = try runPython(Self.dumpScript, [url.path])
        let root = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(dump.utf8)) as? [String: Any])
        XCTAssertEqual(root["metadata"] as? [String: String], file.metadata)
        let tensors = try XCTUnwrap(root["tensors"] as? [String: [String: Any]])
        XCTAssertEqual(Set(tensors.keys), Set(file.tensors.map(\.name)))
        for tensor in file.tensors {
            let loaded = try XCTUnwrap(tensors[tensor.name])
            XCTAssertEqual(loaded["dtype"] as? String, Self.numpyNames[tensor.dtype], tensor.name)
            XCTAssertEqual(loaded["shape"] as? [Int], tensor.shape, tensor.name)
            XCTAssertEqual(loaded["hex"] as? String, tensor.bytes.map { String(format: "%02x", $0) }.joined(), tensor.name)
        }
    }

    func testSwiftReadsWhatPythonWritesByteForByte() throws {
        try requirePythonSafetensors()
        let url = try makeTemporaryDirectory(self).appendingPathComponent("from-python.safetensors")
        let script = """
            import sys, numpy as np
            from safetensors.numpy import save_file
            save_file({
                "weight": (np.arange(12, dtype=np.float32).reshape(3, 4) - 5.5) / 3,
                "nan": np.array([0x7fc00001, 0x80000000, 0x00000001], dtype=np.uint32).view(np.float32),
                "scalar": np.array(2.5, dtype=np.float64),
                "empty": np.zeros((0, 3), dtype=np.float32),
                "steps": np.array([-3, 1 << 40], dtype=np.int64),
                "labels": np.array([[7, -8]], dtype=np.int32),
                "bytes": np.frombuffer(b"\\x00\\x01\\xfe\\xff", dtype=np.uint8),
            }, sys.argv[1], metadata={"format": "\(Checkpoint.formatVersion)"})
            """
        _ = try runPython(script, [url.path])
        let file = try SafeTensorsFile.read(from: url)
        XCTAssertEqual(file.metadata, ["format": Checkpoint.formatVersion])
        let expectedWeight = (0..<12).map { (Float($0) - 5.5) / 3 }
        XCTAssertEqual(file.tensor(named: "weight")?.shape, [3, 4])
        XCTAssertEqual(file.tensor(named: "weight")?.floats()?.map(\.bitPattern), expectedWeight.map(\.bitPattern))
        XCTAssertEqual(file.tensor(named: "nan")?.floats()?.map(\.bitPattern), [0x7FC0_0001, 0x8000_0000, 0x0000_0001])
        XCTAssertEqual(file.tensor(named: "scalar")?.dtype, .float64)
        XCTAssertEqual(file.tensor(named: "scalar")?.shape, [])
        XCTAssertEqual(file.tensor(named: "scalar")?.bytes, doubleBytes([2.5]))
        XCTAssertEqual(file.tensor(named: "empty")?.shape, [0, 3])
        XCTAssertEqual(file.tensor(named: "empty")?.bytes.count, 0)
        XCTAssertEqual(file.tensor(named: "steps")?.bytes, littleEndianBytes([Int64(-3), 1 << 40]))
        XCTAssertEqual(file.tensor(named: "labels")?.shape, [1, 2])
        XCTAssertEqual(file.tensor(named: "labels")?.bytes, littleEndianBytes([Int32(7), -8]))
        XCTAssertEqual(file.tensor(named: "bytes")?.bytes, Data([0, 1, 0xFE, 0xFF]))
        // With at most one metadata key the Python output is deterministic, and ours matches it exactly.
        XCTAssertEqual(file.encoded(), try Data(contentsOf: url))
    }

    func testPythonLoadsACheckpointSavedFromAParameterLayout() throws {
        try requirePythonSafetensors()
        let directory = CheckpointDirectory(url: try makeTemporaryDirectory(self), keep: 2)
        let layout = CheckpointTests.sampleLayout()
        let parameters = CheckpointTests.randomBuffer(layout.totalCount)
        let saved = try directory.save(
            Checkpoint(metadata: ["step": "7"],
                       tensors: Checkpoint.tensors(from: layout, buffer: parameters, prefix: Checkpoint.parameterPrefix)),
            step: 7)
        let script = """
            import sys, numpy as np
            from safetensors.numpy import load_file
            from safetensors import safe_open
            t = load_file(sys.argv[1])
            with safe_open(sys.argv[1], framework="np") as f: m = f.metadata()
            assert m == {"format": "\(Checkpoint.formatVersion)", "step": "7"}, m
            flat = np.concatenate([t["param." + n].reshape(-1) for n in sys.argv[2:]])
            print(flat.view(np.uint32).tobytes().hex())
            """
        let output = try runPython(script, [saved.path] + layout.slots.map(\.name))
        let expected = parameters.array.flatMap { value in
            withUnsafeBytes(of: value.bitPattern.littleEndian) { $0.map { String(format: "%02x", $0) } }
        }.joined()
        XCTAssertEqual(output.trimmingCharacters(in: .whitespacesAndNewlines), expected)
    }
}
