import Foundation
import XCTest

@testable import Layers

final class SoftmaxCrossEntropyTests: XCTestCase {
    func reference(_ logits: [Float], label: Int) -> Double {
        let values = logits.map(Double.init)
        let top = values.max()!
        return top + log(values.map { exp($0 - top) }.reduce(0, +)) - values[label]
    }

    func testSumReductionAndIgnoredItems() {
        let classes = 4
        let logits = randomNormals(5 * classes, seed: 3, scale: 3)
        let labels: [Int32] = [2, -1, 0, 3, -1]
        let loss = SoftmaxCrossEntropy(classes: classes)
        var gradient = [Float](repeating: .nan, count: 5 * classes)
        let result = loss(logits: logits, labels: labels, count: 5, gradient: &gradient)
        XCTAssertEqual(result.items, 3)
        let expected = [0, 2, 3].map { reference(Array(logits[($0 * classes)..<($0 * classes + classes)]),
                                                 label: Int(labels[$0])) }.reduce(0, +)
        XCTAssertEqual(result.sum, expected, accuracy: 1e-5)
        for b in [1, 4] { XCTAssertEqual(Array(gradient[(b * classes)..<(b * classes + classes)]), [0, 0, 0, 0]) }
        for b in [0, 2, 3] {
            let row = Array(gradient[(b * classes)..<(b * classes + classes)])
            XCTAssertEqual(Double(row.reduce(0, +)), 0, accuracy: 1e-6)  // softmax − one-hot sums to zero
            XCTAssertLessThan(row[Int(labels[b])], 0)
        }
    }

    func testGradientMatchesFiniteDifferences() {
        let classes = 5
        var logits = randomNormals(3 * classes, seed: 4)
        let labels: [Int32] = [4, 0, 2]
        let loss = SoftmaxCrossEntropy(classes: classes)
        var gradient = [Float](repeating: 0, count: 3 * classes)
        _ = loss(logits: logits, labels: labels, count: 3, gradient: &gradient)
        var comparison = DerivativeComparison()
        let center = loss(logits: logits, labels: labels, count: 3, gradient: nil).sum
        for i in logits.indices {
            let saved = logits[i]
            logits[i] = saved + 1e-2
            let plus = loss(logits: logits, labels: labels, count: 3, gradient: nil).sum
            logits[i] = saved - 1e-2
            let minus = loss(logits: logits, labels: labels, count: 3, gradient: nil).sum
            logits[i] = saved
            comparison.add(analytic: Double(gradient[i]), plus: plus, minus: minus, center: center, epsilon: 1e-2)
        }
        comparison.check("cross-entropy logits", tolerance: 1e-2)
    }

    func testConfigurableIgnoreIndex() throws {
        let loss = SoftmaxCrossEntropy(classes: 3, ignoreIndex: 255)
        let logits: [Float] = [1, 2, 3, 0, 0, 0]
        let result = loss(logits: logits, labels: [255, 1], count: 2, gradient: nil)
        XCTAssertEqual(result.items, 1)
        XCTAssertEqual(result.sum, log(3.0), accuracy: 1e-6)
        let model = try Model(spec: try spec(yaml: "model:\n  kind: mlp\n  hidden: [4]\n  ignore_index: 7\n"),
                              inputShape: [3], classes: 8)
        // The configured ignore index reaches the task: a target of 7 counts no item.
        let outputs: [Float] = Array(repeating: 0, count: 16), targets: [Int32] = [7, 3]
        XCTAssertEqual(model.task.loss(outputs: outputs, targets: targets, count: 2, gradient: nil).items, 1)
    }
}
