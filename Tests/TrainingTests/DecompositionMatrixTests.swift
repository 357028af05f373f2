import Configuration
import Data
import Distributed
import Foundation
import TestSupport
import Training
import XCTest

/// Every cell of dropout × micro-batch × threads × ranks, for an MLP and a CNN, against one rank with
/// one thread and one batch — the check that would have shown a threaded kernel or replica drawing
/// the wrong mask, reading the wrong sample or racing, wherever in the matrix it hides.
///
/// The bound. A wrong mask or sample changes one sample's share of a gradient, about 1/B = 4e-3 of it
/// (see `testBoundCatchesOneUnitInAHundredMaskedDifferently` for a smaller change still caught). Float rounding
/// changes the summation order only: measured over these 200 cells on an AMD Zen with OpenBLAS's
/// SkylakeX kernels, at most 5.0e-7 after 3 SGD steps (3.9e-7 with its Haswell and Zen kernels). 4e-6
/// leaves 8× for other CPUs' kernels and stays
/// three orders of magnitude below what a bug does. The steps are few because rounding differences
/// grow through training (to 5e-6 after 10 steps of this high learning rate, 1e-5 after 30), while a
/// bug shows from the first step.
///
/// The models are smooth (GELU, average pooling): with ReLU or max pooling, a value within rounding of
/// the kink takes the other branch under a different summation order and that sample's gradient row
/// jumps — arithmetic, not a bug, and no rounding bound covers it (`DecompositionCheck`). The ReLU
/// and dropout kernels themselves are held to their scalar definitions across thread splits in
/// `LayersTests.ElementwiseKernelTests`.
final class DecompositionMatrixTests: XCTestCase {
    static let tolerance = 4e-6
    static let dropouts = [0, 0.1, 0.2, 0.3, 0.5]
    static let threads = [1, 2]

    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("bigbatch-matrix-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try FashionMNISTSubset.write(to: directory, trainCount: 2048, testCount: 256)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: directory)
    }

    static let models = [
        ("mlp", "{kind: mlp, hidden: [512], activation: gelu}"),
        ("cnn", "{kind: cnn, channels: [8, 16], dense: [64], activation: gelu, pool: avg}"),
    ]

    /// Real Fashion-MNIST images (a subset, so that 100 cells train in seconds); hidden layers of 512
    /// so that micro-batches of 8 still reach the threaded dropout split.
    private func configuration(model: String) throws -> URL {
        let url = directory.appendingPathComponent("\(UUID().uuidString.prefix(8)).yaml")
        try """
        model: \(model)
        data: {dataset: npy, path: \(directory.path), normalize: {mean: 0.286, std: 0.353}}
        batch: {global: 256, micro: 256}
        train: {steps: 3, seed: 7, eval_every: 1000000, checksum_every: 1}
        optimizer: {name: sgd, lr: 0.05, momentum: 0.9}
        """.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    /// One rank, in this process: micro-batches 8 to 256 on one and two threads.
    func testOneRankMatrix() throws {
        for (name, model) in Self.models {
            let base = try TrainingConfiguration.load(path: configuration(model: model).path, overrides: [])
            for dropout in Self.dropouts {
                let variant = try base.setting("model.dropout", to: .double(dropout))
                let reference = try DecompositionCheck.referenceState(of: variant)
                for micro in [8, 16, 32, 64, 256] {
                    for threads in Self.threads {
                        let cell = Decomposition(microBatch: micro, threads: threads)
                        let state = try DecompositionCheck.finalState(of: variant, cell, world: LocalCommunicator())
                        XCTAssertLessThanOrEqual(DecompositionCheck.worstDeviation(state, from: reference), Self.tolerance,
                                                 "\(name), dropout \(dropout), 1 rank × \(cell)")
                    }
                }
            }
        }
    }

    /// Two ranks under real mpirun, through `bigbatch equivalence` (one launch per model).
    func testTwoRankMatrix() throws {
        for (name, model) in Self.models {
            let arguments = ["equivalence", "--config", try configuration(model: model).path,
                             "--micro", "8,16,32,64,128", "--threads", "1,2",
                             "--vary", "model.dropout=" + Self.dropouts.map { "\($0)" }.joined(separator: ","),
                             "--tolerance", "\(Self.tolerance)"]
            let result = try ProcessRunner.run(arguments, ranks: 2, timeout: 600)
            XCTAssertEqual(result.status, 0, "\(name):\n\(result.output)\n\(result.error)")
            let cells = result.output.split(separator: "\n").filter { $0.contains("2 ranks × micro") }
            XCTAssertEqual(cells.count, Self.dropouts.count * 5 * Self.threads.count, "\(name):\n\(result.output)")
            XCTAssertTrue(result.output.contains("equivalence: 50 of 50 decompositions within"), result.output)
        }
    }

    /// The bound has teeth: dropout 0.2 against 0.21 masks about one unit in a hundred differently,
    /// far less than one wrongly keyed sample does, and still lands well outside it.
    func testBoundCatchesOneUnitInAHundredMaskedDifferently() throws {
        let base = try TrainingConfiguration.load(path: configuration(model: Self.models[0].1).path, overrides: [])
        let reference = try DecompositionCheck.referenceState(of: base.setting("model.dropout", to: .double(0.2)))
        let shifted = try DecompositionCheck.referenceState(of: base.setting("model.dropout", to: .double(0.21)))
        XCTAssertGreaterThan(DecompositionCheck.worstDeviation(shifted, from: reference), 100 * Self.tolerance)
    }

    func testDeviationIsInfiniteForMissingTensorsAndNaN() {
        let a: [String: [Float]] = ["w": [1, 2]]
        XCTAssertEqual(DecompositionCheck.worstDeviation(a, from: a), 0)
        XCTAssertEqual(DecompositionCheck.worstDeviation(["w": [1, 2.5]], from: a), 0.5 / 3, accuracy: 1e-12)
        XCTAssertEqual(DecompositionCheck.worstDeviation(["v": [1, 2]], from: a), .infinity)
        XCTAssertEqual(DecompositionCheck.worstDeviation(["w": [1]], from: a), .infinity)
        XCTAssertEqual(DecompositionCheck.worstDeviation(["w": [1, .nan]], from: a), .infinity)
    }
}

/// The first images of the real Fashion-MNIST files, rewritten as the `npy` dataset's four files.
enum FashionMNISTSubset {
    static let directory = "/usr/share/datasets/fashion-mnist"

    static func write(to url: URL, trainCount: Int, testCount: Int) throws {
        for (split, count, prefix) in [("train", trainCount, "train"), ("t10k", testCount, "test")] {
            let images = try IDXReader.readImages("\(directory)/\(split)-images-idx3-ubyte.gz")
            let labels = try IDXReader.readLabels("\(directory)/\(split)-labels-idx1-ubyte.gz", classes: 10)
            let pixels = images.shape.dropFirst().reduce(1, *)
            try npy(descr: "|u1", shape: [count] + images.shape.dropFirst(), payload: Array(images.pixels.prefix(count * pixels)))
                .write(to: url.appendingPathComponent("\(prefix)_images.npy"))
            try npy(descr: "<i4", shape: [count],
                    payload: labels.prefix(count).flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) })
                .write(to: url.appendingPathComponent("\(prefix)_labels.npy"))
        }
    }

    /// A version-1 `.npy` file: magic, header dict padded to a multiple of 64 bytes, C-order payload.
    static func npy(descr: String, shape: [Int], payload: [UInt8]) -> Data {
        let dims = shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? "," : "")
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': (\(dims)), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
        bytes += [UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)]
        return Data(bytes + Array(header.utf8) + payload)
    }
}
