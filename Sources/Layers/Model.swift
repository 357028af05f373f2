import Tensors

/// Forward-only results over a set of samples: the summed loss, the items it counts, and the
/// task's metric sums (one per `Task.metricNames`), all to be divided by `items` once every part is in.
public struct Evaluation: Sendable, Equatable {
    public var lossSum: Double
    public var items: Int
    public var metricSums: [Double]

    public init(lossSum: Double = 0, items: Int = 0, metricSums: [Double]) {
        self.lossSum = lossSum
        self.items = items
        self.metricSums = metricSums
    }

    mutating func add(_ other: Evaluation) {
        lossSum += other.lossSum
        items += other.items
        for i in metricSums.indices { metricSums[i] += other.metricSums[i] }
    }
}

/// A network built from a `ModelSpec`, its flat parameters, and the `Task` that turns its outputs and
/// the targets into summed losses and metrics.
///
/// Layers are numbered in order like a PyTorch `nn.Sequential` (`layers.0.weight`, …), so names
/// depend only on the spec. Dropout layers are always present (identity when p = 0), which keeps
/// names the same whatever the dropout rate.
///
/// A pass splits its samples over `threads` replicas, each a copy of the network with its own
/// activations and gradient buffer, running single-threaded BLAS. Samples are independent, so the
/// replicas never wait for each other until their gradients are summed, whereas splitting every
/// product and copy over the threads costs a barrier per layer and leaves OpenBLAS's idle
/// workers spinning beside ours (the CNN's forward+backward ran ~1.4× faster this way on 2 cores). Dropout is
/// keyed by global sample index, so the split changes nothing but the summation order.
public final class Model {
    public let spec: ModelSpec
    public let inputShape: [Int]
    public let classes: Int
    /// The first replica's network: the one layer names and profiles refer to.
    public let network: Sequential
    public let store: ParameterStore
    public let task: any Task
    /// Threads a pass splits its samples over (BLAS's thread count when the model was built).
    public var threads: Int {
        didSet { precondition(threads > 0, "a model needs at least one thread, got \(threads)") }
    }
    /// Fewest samples worth a replica of their own: each costs a wake-up and a gradient sum.
    var minimumReplicaSamples = 8
    /// The largest batch the buffers have been sized for.
    public private(set) var capacity = 0
    /// What the parameters, gradients and activations need, counted when the model was built.
    public let size: ModelSize
    private var replicas: [Replica]
    /// `Sequential.parameterStarts` of the network, for `forwardBackward`'s `gradientsFinal`.
    private let parameterStarts: [Int]

    public var layout: ParameterLayout { store.layout }
    public var inputCount: Int { inputShape.reduce(1, *) }

    /// The model of `spec` for samples of `inputShape` with `targetsPerSample` targets of `classes`
    /// values each, learning the task its kind defines (`ModelSpec.task`).
    public convenience init(spec: ModelSpec, inputShape: [Int], targetsPerSample: Int, classes: Int) throws(ModelError) {
        try self.init(spec: spec, inputShape: inputShape,
                      task: spec.task(targetsPerSample: targetsPerSample, classes: classes))
    }

    /// A classifier: one label of `classes` per sample.
    public convenience init(spec: ModelSpec, inputShape: [Int], classes: Int) throws(ModelError) {
        guard classes > 0 else { throw .invalidArgument(layer: "model", reason: "classes must be positive, got \(classes)") }
        try self.init(spec: spec, inputShape: inputShape,
                      task: ClassificationTask(classes: classes, ignoreIndex: Int32(clamping: spec.common.ignoreIndex)))
    }

    public init(spec: ModelSpec, inputShape: [Int], task: any Task) throws(ModelError) {
        let classes = task.outputsPerTarget
        guard !inputShape.isEmpty, inputShape.allSatisfy({ $0 > 0 }) else {
            throw .inputShape(layer: "model (\(spec.kind))", expected: "positive sizes", found: inputShape)
        }
        self.spec = spec
        self.inputShape = inputShape
        self.classes = classes
        let (layers, size) = try spec.layers(inputShape: inputShape, classes: classes,
                                             memoryBudget: SystemMemory.availableBytes)
        self.size = size
        network = try Sequential(layers, name: "model")
        let outputs = network.outputShape.reduce(1, *)
        guard outputs == task.targetsPerSample * classes else {
            throw .invalidArgument(layer: "model (\(spec.kind))", reason: "gives \(network.outputShape) outputs per sample, "
                                   + "the task needs \(task.targetsPerSample) × \(classes)")
        }
        store = ParameterStore(layout: ParameterLayout(network.parameterSpecs))
        network.bind(store)
        self.task = task
        replicas = [Replica(network: network, store: store)]
        parameterStarts = network.parameterStarts(in: store.layout)
        threads = max(1, BLAS.threadCount)
    }

    /// How many replicas a pass over `count` samples uses.
    func replicaCount(_ count: Int) -> Int { max(1, min(threads, count / minimumReplicaSamples)) }

    /// The samples of replica `index` of `replicaCount`: contiguous, sizes differing by at most one.
    private static func range(_ index: Int, of replicaCount: Int, count: Int) -> Range<Int> {
        (count * index / replicaCount)..<(count * (index + 1) / replicaCount)
    }

    /// Builds the replicas a pass needs and sizes every one for its share of `count` samples.
    private func prepare(_ count: Int, replicaCount: Int) {
        while replicas.count < replicaCount {
            do {
                let copy = try Sequential(spec.layers(inputShape: inputShape, classes: classes).layers, name: "model")
                let gradients = ParameterStore(sharingParametersOf: store)
                copy.bind(gradients)
                replicas.append(Replica(network: copy, store: gradients))
            } catch {
                preconditionFailure("rebuilding a network that was built before failed: \(error)")
            }
        }
        let share = (count + replicaCount - 1) / replicaCount
        for replica in replicas.prefix(replicaCount) { replica.reserve(batch: share) }
        capacity = max(capacity, count)
    }

    /// Runs `body` for each replica's part of `count` samples, concurrently on single-threaded BLAS
    /// when there are several, and combines the parts' results in replica order (so the sum is the
    /// same every time). The parts live on the stack: a pass allocates nothing.
    private func onReplicas<Part>(_ count: Int, replicaCount: Int, initial: Part, combine: (inout Part, Part) -> Void,
                                _ body: (Replica, Range<Int>) -> Part) -> Part {
        if replicaCount == 1 { return body(replicas[0], 0..<count) }
        let replicas = replicas
        return withUnsafeTemporaryAllocation(of: Part.self, capacity: replicaCount) { parts in
            BLAS.withThreadCount(1) {
                Parallel.forEachTask(replicaCount) { index in
                    let samples = Self.range(index, of: replicaCount, count: count)
                    (parts.baseAddress! + index).initialize(to: body(replicas[index], samples))
                }
            }
            var total = initial
            for index in 0..<replicaCount { combine(&total, (parts.baseAddress! + index).move()) }
            return total
        }
    }

    public func initializeParameters(seed: UInt64) {
        spec.initialize(store, seed: seed)
    }

    /// Targets per sample, as the task defines them.
    public var targetsPerSample: Int { task.targetsPerSample }

    /// The base addresses of a training pass's buffers, checked to hold `count` samples; nil when there
    /// is nothing to do.
    private func samplePointers(_ inputs: UnsafeBufferPointer<Float>, _ targets: UnsafeBufferPointer<Int32>,
                                _ sampleIndices: UnsafeBufferPointer<Int>, count: Int, caller: String)
        -> (UnsafePointer<Float>, UnsafePointer<Int32>, UnsafePointer<Int>)?
    {
        guard count > 0, let input = inputs.baseAddress, let target = targets.baseAddress,
              let indices = sampleIndices.baseAddress else { return nil }
        precondition(inputs.count >= count * inputCount && targets.count >= count * targetsPerSample
                     && sampleIndices.count >= count, "\(caller): buffers shorter than \(count) samples")
        return (input, target, indices)
    }

    /// Forward, summed loss, backward accumulating into `store.gradients` (never zeroes them).
    /// `targets` holds `targetsPerSample` per sample. `sampleIndices` are GLOBAL dataset indices
    /// (dropout keys); `step` is the optimizer step (dropout key).
    ///
    /// `gradientsFinal` hears, as backward goes, an offset from which on the gradients in
    /// `store.gradients` will not change again in this pass (decreasing, ending with 0), so that a
    /// reduction of that part may start while backward goes on. On several replicas it hears only 0,
    /// once their gradients are summed.
    ///
    /// `sampleWeights` (one per sample, optional) weight each sample's loss and gradient: the sum is
    /// then Σ wᵢ·ℓᵢ over the same counted items (see `sampleLosses`).
    public func forwardBackward(inputs: UnsafeBufferPointer<Float>, targets: UnsafeBufferPointer<Int32>,
                                sampleIndices: UnsafeBufferPointer<Int>, count: Int, seed: UInt64,
                                step: Int, sampleWeights: UnsafePointer<Float>? = nil,
                                gradientsFinal: ((_ from: Int) -> Void)? = nil) -> LossSum {
        // Each offset once, decreasing: layers without parameters repeat the offset after them.
        var lowestReported = Int.max
        let report = gradientsFinal.map { hear in
            { (from: Int) in
                if from < lowestReported {
                    lowestReported = from
                    hear(from)
                }
            }
        }
        defer { report?(0) }
        guard let (input, target, indices) = samplePointers(inputs, targets, sampleIndices, count: count,
                                                            caller: "forwardBackward") else { return LossSum() }
        let perSample = targetsPerSample
        let replicaCount = replicaCount(count)
        prepare(count, replicaCount: replicaCount)
        // The first replica accumulates straight into the store; the others' buffers are zero between
        // passes and are added in (and cleared on the way) afterwards.
        let inputCount = inputCount, task = task
        let result = onReplicas(count, replicaCount: replicaCount, initial: LossSum(), combine: {
            $0.sum += $1.sum
            $0.items += $1.items
        }) { replica, samples in
            let context = PassContext(training: true, seed: seed, step: step, sampleIndices: indices + samples.lowerBound)
            let starts = parameterStarts
            return replica.forwardBackward(input + samples.lowerBound * inputCount,
                                           targets: target + samples.lowerBound * perSample,
                                           count: samples.count, context: context, task: task,
                                           weights: sampleWeights.map { $0 + samples.lowerBound },
                                           finished: replicaCount == 1 ? report.map { report in { report(starts[$0]) } } : nil)
        }
        if replicaCount > 1 {
            let total = store.gradients.baseAddress, replicas = replicas
            Parallel.forEachRange(store.layout.totalCount, work: store.layout.totalCount * replicaCount) { range in
                for index in 1..<replicaCount {
                    let other = replicas[index].store.gradients.baseAddress
                    for i in range {
                        total[i] += other[i]
                        other[i] = 0
                    }
                }
            }
        }
        return result
    }

    /// The reproducible mode's pass: the samples in chunks of `chunk` (the last one shorter), each
    /// chunk's forward and backward computed on its own, on one replica with single-threaded BLAS,
    /// into a zeroed gradient buffer — so a chunk's gradient has the same bits whichever rank,
    /// micro-batch or thread computes it. `visit` receives each chunk's gradient and loss, and must
    /// leave the buffer zero for the next chunk (`FixedPointGradientSum.take` empties it as it reads);
    /// the store's gradients are zero afterwards.
    public func forwardBackwardChunks(inputs: UnsafeBufferPointer<Float>, targets: UnsafeBufferPointer<Int32>,
                                      sampleIndices: UnsafeBufferPointer<Int>, count: Int, chunk: Int, seed: UInt64,
                                      step: Int, sampleWeights: UnsafePointer<Float>? = nil,
                                      visit: (UnsafeMutablePointer<Float>, LossSum) -> Void) {
        guard let (input, target, indices) = samplePointers(inputs, targets, sampleIndices, count: count,
                                                            caller: "forwardBackwardChunks") else { return }
        let perSample = targetsPerSample, inputCount = inputCount, task = task
        store.zeroGradients()
        inChunks(count, chunk: chunk, { replica, samples in
            let start = samples.lowerBound
            let context = PassContext(training: true, seed: seed, step: step, sampleIndices: indices + start)
            return replica.forwardBackward(input + start * inputCount, targets: target + start * perSample,
                                           count: samples.count, context: context, task: task,
                                           weights: sampleWeights.map { $0 + start })
        }, then: { replica, loss in visit(replica.store.gradients.baseAddress, loss) })
    }

    /// The reproducible mode's schedule: `count` samples in chunks of `chunk` (the last one shorter),
    /// up to `threads` chunks at a time, each on its own replica with single-threaded BLAS — the same
    /// shapes, so the same bits, wherever a chunk runs. `then` hears each chunk's replica and result
    /// in chunk order, after its round and before the replica takes the next chunk.
    private func inChunks<Part>(_ count: Int, chunk: Int, _ body: (Replica, Range<Int>) -> Part,
                                then: (Replica, Part) -> Void) {
        precondition(chunk > 0, "chunk \(chunk) must be positive")
        let chunks = (count + chunk - 1) / chunk
        let replicaCount = max(1, min(threads, chunks))
        prepare(chunk * replicaCount, replicaCount: replicaCount)
        let replicas = replicas
        var first = 0
        while first < chunks {
            let round = min(replicaCount, chunks - first)
            withUnsafeTemporaryAllocation(of: Part.self, capacity: round) { parts in
                BLAS.withThreadCount(1) {
                    Parallel.forEachTask(round) { index in
                        let start = (first + index) * chunk
                        (parts.baseAddress! + index).initialize(to: body(replicas[index], start..<min(start + chunk, count)))
                    }
                }
                for index in 0..<round { then(replicas[index], (parts.baseAddress! + index).move()) }
            }
            first += round
        }
    }

    /// Forward only, as in training (dropout on, keyed like `forwardBackward`'s, so the losses are
    /// the ones its pass will weight): each sample's summed loss and counted items into `losses`.
    /// With `chunk`, the samples go in chunks of that many on single-threaded BLAS, as
    /// `forwardBackwardChunks` computes them — the same bits whichever rank or micro-batch holds them.
    public func sampleLosses(inputs: UnsafeBufferPointer<Float>, targets: UnsafeBufferPointer<Int32>,
                             sampleIndices: UnsafeBufferPointer<Int>, count: Int, chunk: Int? = nil, seed: UInt64,
                             step: Int, into losses: UnsafeMutablePointer<LossSum>) {
        guard let (input, target, indices) = samplePointers(inputs, targets, sampleIndices, count: count,
                                                            caller: "sampleLosses") else { return }
        let perSample = targetsPerSample, inputCount = inputCount, task = task
        let outputsPerSample = perSample * classes
        func pass(_ replica: Replica, _ samples: Range<Int>) {
            let context = PassContext(training: true, seed: seed, step: step, sampleIndices: indices + samples.lowerBound)
            let outputs = replica.network.forward(input + samples.lowerBound * inputCount, batch: samples.count, context: context)
            for b in 0..<samples.count {
                losses[samples.lowerBound + b] = task.loss(outputs: outputs + b * outputsPerSample,
                                                           targets: target + (samples.lowerBound + b) * perSample,
                                                           count: 1, gradient: nil)
            }
        }
        if let chunk {
            inChunks(count, chunk: chunk, pass, then: { _, _ in })
            return
        }
        let replicaCount = replicaCount(count)
        prepare(count, replicaCount: replicaCount)
        _ = onReplicas(count, replicaCount: replicaCount, initial: 0, combine: { _, _ in }) { replica, samples in
            pass(replica, samples)
            return 0
        }
    }

    /// Forward only, no dropout: summed loss, items counted (ignored targets excluded) and the task's
    /// metric sums. Each replica goes through its samples in pieces no bigger than its buffers already
    /// hold (or 256).
    public func evaluate(inputs: UnsafeBufferPointer<Float>, targets: UnsafeBufferPointer<Int32>,
                         count: Int) -> Evaluation {
        let empty = Evaluation(metricSums: Array(repeating: 0, count: task.metricNames.count))
        guard count > 0, let input = inputs.baseAddress, let target = targets.baseAddress else { return empty }
        let perSample = targetsPerSample
        precondition(inputs.count >= count * inputCount && targets.count >= count * perSample,
                     "evaluate: buffers shorter than \(count) samples")
        let replicaCount = replicaCount(count)
        let share = (count + replicaCount - 1) / replicaCount
        let piece = min(share, max(replicas[0].network.capacity, 256))
        prepare(piece * replicaCount, replicaCount: replicaCount)
        let inputCount = inputCount, task = task
        return onReplicas(count, replicaCount: replicaCount, initial: empty, combine: { $0.add($1) }) { replica, samples in
            var result = empty
            var start = samples.lowerBound
            while start < samples.upperBound {
                let n = min(piece, samples.upperBound - start)
                let outputs = replica.network.forward(input + start * inputCount, batch: n, context: .evaluation)
                let targets = target + start * perSample
                let part = task.loss(outputs: outputs, targets: targets, count: n, gradient: nil)
                result.lossSum += part.sum
                result.items += part.items
                task.addMetrics(outputs: outputs, targets: targets, count: n, to: &result.metricSums)
                start += n
            }
            return result
        }
    }

    /// FLOPs per sample of forward and backward (multiply-add = 2), for benchmarks.
    public var flopsPerSample: (forward: Double, backward: Double) {
        let f = network.flops(inputGradient: false)
        let outputs = Double(targetsPerSample * classes)
        return (f.forward + 4 * outputs, f.backward + outputs)
    }
}

/// One thread's copy of the network with the gradient buffer it accumulates into.
private final class Replica {
    let network: Sequential
    let store: ParameterStore
    private let logitGradient = Workspace()

    init(network: Sequential, store: ParameterStore) {
        self.network = network
        self.store = store
    }

    func reserve(batch: Int) {
        network.reserve(batch: batch)
        logitGradient.reserve(batch * network.outputShape.reduce(1, *))
    }

    /// With `weights`, sample b's loss and its rows of the output gradient are scaled by `weights[b]`.
    func forwardBackward(_ input: UnsafePointer<Float>, targets: UnsafePointer<Int32>, count: Int,
                         context: PassContext, task: any Task, weights: UnsafePointer<Float>? = nil,
                         finished: ((Int) -> Void)? = nil) -> LossSum {
        let logits = network.forward(input, batch: count, context: context)
        var result = LossSum()
        if let weights {
            let perSample = task.targetsPerSample, outputs = perSample * task.outputsPerTarget
            for b in 0..<count {
                let gradient = logitGradient.pointer + b * outputs
                let part = task.loss(outputs: logits + b * outputs, targets: targets + b * perSample, count: 1,
                                     gradient: gradient)
                result.sum += Double(weights[b]) * part.sum
                result.items += part.items
                VectorMath.scale(gradient, outputs, by: weights[b])
            }
        } else {
            result = task.loss(outputs: logits, targets: targets, count: count, gradient: logitGradient.pointer)
        }
        network.backward(input: input, outputGradient: logitGradient.pointer, inputGradient: nil, batch: count,
                         context: context, finished: finished)
        return result
    }
}
