import Data
import Foundation
import XCTest

/// Reports (does not enforce) how long batch assembly takes; run in release for meaningful figures:
/// `swift build -c release --build-tests && swift test -c release --skip-build --filter AssemblyTiming`.
final class AssemblyTimingTests: XCTestCase {
    func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
    }

    func testReportAssemblyTimes() throws {
        let clock = ContinuousClock()
        var train: Dataset?
        let loadTime = try clock.measure { train = try DatasetLoader.load(DataConfig(), split: .train) }
        guard let train else { return XCTFail("no data") }
        let plan = try BatchPlan(sampleCount: train.count, globalBatch: 256, microBatch: 64, worldSize: 1,
                                 lastBatch: .drop, seed: 1)
        let orderTime = clock.measure { _ = BatchPlan.drawOrder(seed: 1, epoch: 0, count: train.count) }
        let batches = (0..<50).flatMap { plan.microBatches(step: $0, rank: 0) }
        let output = UnsafeMutableBufferPointer<Float>.allocate(capacity: 64 * 784)
        defer { output.deallocate() }

        var report = "Fashion-MNIST train load (gunzip + validate): \(String(format: "%.0f", seconds(loadTime) * 1000)) ms; "
            + "epoch order (60000 permutation): \(String(format: "%.2f", seconds(orderTime) * 1000)) ms\n"
        let variants: [(String, Augmentation)] = [("plain", Augmentation()), ("crop 4 + flip", Augmentation(cropPadding: 4, flip: true))]
        for (name, augmentation) in variants {
            let pre = Preprocessing(sampleShape: train.sampleShape, mean: [0.2860], std: [0.3530], augmentation: augmentation)
            let elapsed = clock.measure {
                for indices in batches { pre.fill(from: train, indices: indices, seed: 1, epoch: 0, into: output) }
            }
            XCTAssertTrue(output.allSatisfy(\.isFinite))
            report += "64-sample micro-batch, \(name): \(String(format: "%.1f", seconds(elapsed) / Double(batches.count) * 1e6)) µs\n"
        }
        let pre = Preprocessing(sampleShape: train.sampleShape, mean: [0.2860], std: [0.3530],
                                augmentation: Augmentation(cropPadding: 4, flip: true))
        let loader = BatchLoader(dataset: train, preprocessing: pre, plan: plan, rank: 0, seed: 1, firstStep: 0, lastStep: 100)
        var delivered = 0
        let loaderTime = try clock.measure { while try loader.next() != nil { delivered += 1 } }
        XCTAssertEqual(delivered, 400)
        report += "BatchLoader, consumer idle, crop 4 + flip: \(String(format: "%.1f", seconds(loaderTime) / 400 * 1e6)) µs per micro-batch"
        print(report)
    }
}
