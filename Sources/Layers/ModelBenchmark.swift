import Tensors

/// Throughput of forward + backward on synthetic data.
public enum ModelBenchmark {
    /// Median samples/s over timed rounds of about a tenth of `seconds` each, after a warm-up
    /// that sizes every buffer; GFLOP/s from `Model.flopsPerSample`.
    public static func run(spec: ModelSpec, inputShape: [Int], classes: Int, batch: Int,
                           seconds: Double) throws(ModelError) -> (samplesPerSecond: Double, gflops: Double) {
        precondition(batch > 0 && seconds > 0, "benchmark needs a positive batch and duration")
        let model = try Model(spec: spec, inputShape: inputShape, classes: classes)
        model.initializeParameters(seed: 1)
        let random = KeyedRandom(UInt64(7), UInt64(7))
        let inputs = (0..<(batch * model.inputCount)).map { random.uniform($0) }
        let labels = (0..<batch).map { Int32(random.integer($0, below: classes)) }
        let indices = Array(0..<batch)
        return inputs.withUnsafeBufferPointer { inputs in
            labels.withUnsafeBufferPointer { labels in
                indices.withUnsafeBufferPointer { indices in
                    let clock = ContinuousClock()
                    var step = 0
                    func iterate() {
                        model.store.zeroGradients()
                        _ = model.forwardBackward(inputs: inputs, labels: labels, sampleIndices: indices,
                                                  count: batch, seed: 1, step: step)
                        step += 1
                    }
                    let warmUpStart = clock.now
                    repeat { iterate() } while step < 3 || elapsed(clock.now - warmUpStart) < seconds * 0.1
                    let perIteration = elapsed(clock.now - warmUpStart) / Double(step)
                    let iterationsPerRound = max(1, Int((seconds / 10 / perIteration).rounded()))
                    var rates: [Double] = []
                    let start = clock.now
                    while rates.count < 3 || elapsed(clock.now - start) < seconds {
                        let roundStart = clock.now
                        for _ in 0..<iterationsPerRound { iterate() }
                        rates.append(Double(iterationsPerRound * batch) / elapsed(clock.now - roundStart))
                    }
                    rates.sort()
                    let median = rates[rates.count / 2]
                    let flops = model.flopsPerSample
                    return (median, median * (flops.forward + flops.backward) / 1e9)
                }
            }
        }
    }

    private static func elapsed(_ duration: Duration) -> Double {
        let parts = duration.components
        return Double(parts.seconds) + Double(parts.attoseconds) * 1e-18
    }
}
