import Layers
import Tensors

/// Throughput of forward + backward on synthetic data.
public enum ModelBenchmark {
    /// One layer's share of a forward+backward pass.
    public struct LayerTime: Sendable {
        public var name: String
        public var kind: String
        public var outputShape: [Int]
        /// 0 for the network's layers; 1 for the layers inside a residual block, listed after the block.
        public var depth: Int
        /// Milliseconds per pass.
        public var forward: Double
        public var backward: Double
    }

    public struct Result: Sendable {
        public var samplesPerSecond: Double
        public var gflops: Double
        /// Per-layer times from passes timed after the throughput rounds (empty unless asked for).
        public var layers: [LayerTime]
    }

    /// Median samples/s over timed rounds of about a tenth of `seconds` each, after a warm-up
    /// that sizes every buffer; GFLOP/s from `Model.flopsPerSample`. With `profileLayers`, a further
    /// tenth of `seconds` times each layer (kept apart so the clock reads do not touch the median).
    /// Token models (`targetsPerSample` > 1, kind `gpt`) get random token ids as inputs and targets.
    public static func run(spec: ModelSpec, inputShape: [Int], targetsPerSample: Int = 1, classes: Int, batch: Int,
                           seconds: Double, profileLayers: Bool = false) throws(ModelError) -> Result {
        precondition(batch > 0 && seconds > 0, "benchmark needs a positive batch and duration")
        let model = try Model(spec: spec, inputShape: inputShape, targetsPerSample: targetsPerSample, classes: classes)
        model.initializeParameters(seed: 1)
        let random = KeyedRandom(UInt64(7), UInt64(7))
        let tokens: Bool
        if case .gpt = spec { tokens = true } else { tokens = false }
        let inputs = (0..<(batch * model.inputCount)).map {
            tokens ? Float(random.integer($0, below: classes)) : random.uniform($0)
        }
        let labels = (0..<(batch * targetsPerSample)).map { Int32(random.integer(1 << 40 + $0, below: classes)) }
        let indices = Array(0..<batch)
        return inputs.withUnsafeBufferPointer { inputs in
            labels.withUnsafeBufferPointer { labels in
                indices.withUnsafeBufferPointer { indices in
                    let clock = ContinuousClock()
                    var step = 0
                    func iterate() {
                        model.store.zeroGradients()
                        _ = model.forwardBackward(inputs: inputs, targets: labels, sampleIndices: indices,
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
                    var layers: [LayerTime] = []
                    if profileLayers {
                        let network = model.network
                        // The network's layers, and inside each residual block its body's, timed in the same passes.
                        let bodies = network.layers.map { ($0 as? Residual)?.body }
                        let chains = [network] + bodies.compactMap { $0 }
                        for chain in chains { chain.timings = LayerTimings(layers: chain.layers.count) }
                        let profileStart = clock.now
                        var passes = 0
                        repeat {
                            iterate()
                            passes += 1
                        } while passes < 3 || elapsed(clock.now - profileStart) < seconds * 0.1
                        func rows(_ chain: Sequential, depth: Int) -> [LayerTime] {
                            guard let timings = chain.timings else { preconditionFailure("\(chain) was not timed") }
                            return chain.layers.indices.map { index in
                                let layer = chain.layers[index]
                                return LayerTime(name: layer.name, kind: String(describing: type(of: layer)),
                                                 outputShape: layer.outputShape, depth: depth,
                                                 forward: timings.forward[index] * 1e3 / Double(passes),
                                                 backward: timings.backward[index] * 1e3 / Double(passes))
                            }
                        }
                        for (row, body) in zip(rows(network, depth: 0), bodies) {
                            layers.append(row)
                            if let body { layers += rows(body, depth: 1) }
                        }
                        for chain in chains { chain.timings = nil }
                    }
                    return Result(samplesPerSecond: median, gflops: median * (flops.forward + flops.backward) / 1e9,
                                  layers: layers)
                }
            }
        }
    }

    private static func elapsed(_ duration: Duration) -> Double {
        let parts = duration.components
        return Double(parts.seconds) + Double(parts.attoseconds) * 1e-18
    }
}
