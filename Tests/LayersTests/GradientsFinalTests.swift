import Layers
import Tensors
import XCTest

/// `Model.forwardBackward`'s `gradientsFinal`: what the overlapped reduction starts reducing while
/// backward goes on must already hold its final values. Checked by keeping, at each report, the part
/// reported final, and comparing it with the gradients once the pass is over.
final class GradientsFinalTests: XCTestCase {
    /// Runs one pass of `model` on `count` samples and checks every report; returns the offsets heard.
    @discardableResult
    private func checkReports(_ model: Model, inputs: [Float], targets: [Int32], count: Int,
                              file: StaticString = #filePath, line: UInt = #line) -> [Int] {
        let gradients = model.store.gradients
        model.store.zeroGradients()
        var reports: [(from: Int, values: [Float])] = []
        let indices = Array(0..<count)
        _ = inputs.withUnsafeBufferPointer { x in
            targets.withUnsafeBufferPointer { y in
                indices.withUnsafeBufferPointer { i in
                    model.forwardBackward(inputs: x, targets: y, sampleIndices: i, count: count, seed: 1, step: 0) { from in
                        reports.append((from, Array(gradients.pointer[from...])))
                    }
                }
            }
        }
        let final = gradients.array
        let offsets = reports.map(\.from)
        XCTAssertEqual(offsets.last, 0, "the pass ends with the whole buffer final", file: file, line: line)
        XCTAssertEqual(offsets, offsets.sorted(by: >), "offsets only decrease", file: file, line: line)
        for (from, values) in reports {
            let differing = zip(values, final[from...]).filter { $0.bitPattern != $1.bitPattern }.count
            XCTAssertEqual(differing, 0, "gradients from \(from) changed after they were reported final", file: file, line: line)
        }
        XCTAssertTrue(offsets.contains { $0 > 0 && $0 < model.layout.totalCount },
                      "some part is final before backward ends: \(offsets)", file: file, line: line)
        return offsets
    }

    func testMLPReportsEachLayerAsItsBackwardEnds() throws {
        let model = try Model(spec: spec(yaml: "model: {kind: mlp, hidden: [16, 12], activation: gelu, norm: layernorm}"),
                              inputShape: [1, 6, 6], classes: 5)
        model.initializeParameters(seed: 2)
        let count = 4
        let inputs = (0..<(count * 36)).map { Float(($0 * 37) % 11) / 11 - 0.5 }
        let offsets = checkReports(model, inputs: inputs, targets: [0, 3, 1, 4], count: count)
        // The last layer's parameters are final first.
        let last = try XCTUnwrap(model.layout.slots.last)
        XCTAssertEqual(offsets.first.map { $0 <= last.offset }, true, "\(offsets)")
    }

    /// The head shares the token embedding's weight, at the buffer's start: it is final only once the
    /// embedding's own backward has added to it, at the very end.
    func testTiedEmbeddingIsFinalOnlyAtTheEnd() throws {
        let model = try Model(spec: .gpt(blockSize: 8, layers: 2, heads: 2, width: 8), inputShape: [8],
                              targetsPerSample: 8, classes: 13)
        model.initializeParameters(seed: 1)
        let inputs: [Float] = [1, 5, 2, 7, 7, 0, 12, 3, 4, 4, 9, 1, 0, 2, 11, 6]
        let targets: [Int32] = [5, 2, 7, 7, 0, 12, 3, 1, 4, 9, 1, 0, 2, 11, 6, 8]
        let offsets = checkReports(model, inputs: inputs, targets: targets, count: 2)
        let embedding = try XCTUnwrap(model.layout.slot(named: "transformer.wte.weight"))
        XCTAssertEqual(embedding.offset, 0)
        XCTAssertEqual(offsets.filter { $0 <= embedding.offset + embedding.count - 1 }, [0], "\(offsets)")
    }
}
