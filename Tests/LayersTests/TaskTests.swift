import Foundation
import XCTest

@testable import Layers

/// The tasks turn outputs and targets into summed losses, counted items and metric sums.
final class TaskTests: XCTestCase {
    /// Next-token prediction over [T, V] outputs: every non-ignored target token is one item, and the
    /// loss, gradient and token accuracy equal those of T·count independent classifications.
    func testNextTokenTaskCountsEveryTargetToken() {
        let sequence = 4, vocabulary = 5, count = 3
        let task = NextTokenTask(sequenceLength: sequence, vocabulary: vocabulary, ignoreIndex: -1)
        XCTAssertEqual(task.targetsPerSample, 4)
        XCTAssertEqual(task.outputsPerTarget, 5)
        XCTAssertEqual(task.metricNames, ["token_accuracy"])
        let outputs = randomNormals(count * sequence * vocabulary, seed: 41)
        var targets: [Int32] = (0..<(count * sequence)).map { Int32($0 * 7 % vocabulary) }
        targets[2] = -1
        targets[9] = -1
        var gradient = [Float](repeating: .nan, count: outputs.count)
        let loss = task.loss(outputs: outputs, targets: targets, count: count, gradient: &gradient)
        XCTAssertEqual(loss.items, count * sequence - 2)

        let perToken = ClassificationTask(classes: vocabulary, ignoreIndex: -1)
        var expectedGradient = [Float](repeating: .nan, count: outputs.count)
        let expected = perToken.loss(outputs: outputs, targets: targets, count: count * sequence, gradient: &expectedGradient)
        XCTAssertEqual(loss, expected)
        XCTAssertEqual(gradient, expectedGradient)
        XCTAssertTrue(gradient[(2 * vocabulary)..<(3 * vocabulary)].allSatisfy { $0 == 0 }, "an ignored token has no gradient")

        var sums = [0.0], expectedSums = [0.0]
        task.addMetrics(outputs: outputs, targets: targets, count: count, to: &sums)
        perToken.addMetrics(outputs: outputs, targets: targets, count: count * sequence, to: &expectedSums)
        XCTAssertEqual(sums, expectedSums)
        // Recounted by hand: the first maximum of each non-ignored row.
        var correct = 0
        for row in 0..<(count * sequence) where targets[row] >= 0 {
            let z = Array(outputs[(row * vocabulary)..<((row + 1) * vocabulary)])
            if z.firstIndex(of: z.max()!) == Int(targets[row]) { correct += 1 }
        }
        XCTAssertEqual(sums, [Double(correct)])
    }

    /// A model whose outputs do not give the task's targets × categories is refused, naming both.
    func testModelRefusesATaskItsOutputsDoNotFit() throws {
        XCTAssertThrowsError(try Model(spec: .mlp(hidden: [8]), inputShape: [6],
                                       task: NextTokenTask(sequenceLength: 4, vocabulary: 5))) { error in
            XCTAssertTrue("\(error)".contains("the task needs 4 × 5"), "\(error)")
        }
        let model = try Model(spec: .mlp(hidden: [8]), inputShape: [6], task: NextTokenTask(sequenceLength: 1, vocabulary: 5))
        XCTAssertEqual(model.targetsPerSample, 1)
    }
}
