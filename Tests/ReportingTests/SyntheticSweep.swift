import Foundation
import Reporting

/// A small sweep written to disk the way the trainer writes one, with plausible training curves.
struct SyntheticSweep {
    struct Variant {
        var info: VariantInfo
        var steps: [StepRecord]
        var evaluations: [EvaluationRecord]
    }

    let directory: URL
    let variants: [Variant]
    static let trainSize = 4096.0

    /// Three variants: two complete with evaluations, one still running without any evaluation line.
    static func make(in directory: URL) throws -> SyntheticSweep {
        let variants = [
            variant(name: "b256-base", ranks: 1, micro: 32, accumulation: 8, rate: 0.001, steps: 160,
                    loggedSteps: 160, complete: true, secondsPerStep: 0.050, skippedAt: [], ceiling: 0.97, seed: 1),
            variant(name: "b512-sqrt", ranks: 2, micro: 32, accumulation: 8, rate: 0.0014, steps: 80,
                    loggedSteps: 80, complete: true, secondsPerStep: 0.058, skippedAt: [17, 42], ceiling: 0.93,
                    seed: 2),
            variant(name: "b1024-linear", ranks: 4, micro: 32, accumulation: 8, rate: 0.004, steps: 40,
                    loggedSteps: 7, complete: false, secondsPerStep: 0.066, skippedAt: [], ceiling: 0.9, seed: 3),
        ]
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for variant in variants {
            let folder = directory.appendingPathComponent(variant.info.name, isDirectory: true)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(variant.info).write(to: folder.appendingPathComponent("variant.json"))
            let config = """
            # resolved configuration of \(variant.info.name)
            training:
              effective_batch: \(variant.info.effectiveBatch)
              micro_batch: \(variant.info.micro)
              accumulation: \(variant.info.accumulation)
            optimizer:
              name: \(variant.info.optimizer)
              learning_rate: \(variant.info.learningRate)
              note: "<scaled & warmed up>"

            """
            try Data(config.utf8).write(to: folder.appendingPathComponent("config.yaml"))
            let writer = try MetricsWriter(url: folder.appendingPathComponent("metrics.jsonl"))
            // Interleave as the trainer does: an evaluation follows the step it was run after.
            for step in variant.steps {
                try writer.write(step)
                for evaluation in variant.evaluations where evaluation.step == step.step {
                    try writer.write(evaluation)
                }
            }
        }
        return SyntheticSweep(directory: directory, variants: variants)
    }

    private static func variant(
        name: String, ranks: Int, micro: Int, accumulation: Int, rate: Double, steps: Int, loggedSteps: Int,
        complete: Bool, secondsPerStep: Double, skippedAt: Set<Int>, ceiling: Double, seed: UInt64
    ) -> Variant {
        let batch = ranks * micro * accumulation
        var random = SplitMix(state: seed)
        var records: [StepRecord] = []
        var evaluations: [EvaluationRecord] = []
        var elapsed = 0.4
        let warmup = max(1, steps / 10)
        for step in 1...loggedSteps {
            let epoch = Double(step * batch) / trainSize
            let communication = ranks == 1 ? 0 : 0.002 * Double(ranks) * (1 + 0.2 * random.unit())
            let compute = secondsPerStep * (1 + 0.1 * random.unit()) + (step == 1 ? 0.3 : 0)
            let optimizer = 0.001 + 0.0002 * random.unit()
            let seconds = compute + communication + optimizer
            elapsed += seconds
            let loss = 0.15 + 2.15 * exp(-epoch / 3) * (1 + 0.25 * (random.unit() - 0.5))
            let learningRate = step <= warmup ? rate * Double(step) / Double(warmup) : rate
            let gradientNorm = 0.4 + 6 * exp(-Double(step) / 12) * (0.7 + 0.6 * random.unit())
            records.append(StepRecord(
                step: step, epoch: epoch, loss: loss, learningRate: learningRate, gradientNorm: gradientNorm,
                items: batch, samplesPerSecond: Double(batch) / seconds,
                seconds: StepTimings(compute: compute, communication: communication, optimizer: optimizer),
                elapsed: elapsed, skipped: skippedAt.contains(step)))
            if step % 10 == 0 || step == steps {
                elapsed += 0.5
                let accuracy = ceiling - (ceiling - 0.1) * exp(-epoch / 2.2) + 0.004 * (random.unit() - 0.5)
                evaluations.append(EvaluationRecord(
                    step: step, epoch: epoch, elapsed: elapsed, testLoss: 0.1 + 2 * exp(-epoch / 2.2),
                    testAccuracy: min(max(accuracy, 0), 1)))
            }
        }
        let info = VariantInfo(
            name: name, effectiveBatch: batch, ranks: ranks, micro: micro, accumulation: accumulation,
            optimizer: "adamw", learningRate: rate, steps: steps, complete: complete)
        return Variant(info: info, steps: records, evaluations: evaluations)
    }
}

/// A tiny deterministic generator so the synthetic curves are the same on every run.
struct SplitMix {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    mutating func unit() -> Double {
        Double(next() >> 11) / Double(1 << 53)
    }
}
