import Foundation

// The line schema of `metrics.jsonl`, shared by the trainer (which encodes these structs through `MetricsWriter`)
// and the report (which decodes them through `RunMetrics.read(from:)`), so both sides cannot drift apart.
//
// One JSON object per line, each tagged by `"type"`:
//
//     {"type":"step","step":12,"epoch":0.25,"loss":0.53,"lr":0.01,"grad_norm":1.2,"items":256,
//      "samples_per_s":5000,"seconds":{"compute":0.04,"communication":0.002,"exposed":0.002,"optimizer":0.001},
//      "elapsed":3.2,"skipped":false,"grad_noise_scale":412.0,"noise_trace":35.1,"noise_grad_sq":0.085}
//     {"type":"eval","step":100,"epoch":2.0,"elapsed":31.0,"test_loss":0.31,"test_accuracy":0.891}
//
// - `step` counts optimizer steps (one global batch each); `epoch` is samples seen / training-set size, fractional.
// - `elapsed` is wall-clock seconds since training started (continued, not reset, across a resume).
// - `test_accuracy` is a fraction in [0, 1], not a percentage.
// - Diverged runs produce non-finite numbers, which JSON cannot hold: they are written as the strings
//   "NaN", "Infinity" and "-Infinity" (see `MetricsCoding`).
// - `run_id` names the run the line belongs to (the id in the run directory's `config.yaml` and checkpoints);
//   absent in files written before runs had an identity.
// - Unknown keys are ignored (so the trainer may add fields); unknown `type` values are rejected.

/// Wall-clock seconds one optimizer step spent in each phase, measured on the writing rank.
public struct StepTimings: Codable, Sendable, Equatable {
    /// Forward and backward passes over all micro-batches of the step.
    public var compute: Double
    /// The gradient allreduce (zero on a single rank): the time the reductions took.
    public var communication: Double
    /// The part of `communication` the step waited for after backward had ended: all of it, unless
    /// `distributed.overlap` reduced buckets during backward. Absent in older files (then all of it).
    public var exposed: Double
    /// Applying the update to the parameters.
    public var optimizer: Double
    /// Waiting for the data loader (zero when prefetching keeps up); absent in older files.
    public var data: Double

    public init(compute: Double, communication: Double, exposed: Double? = nil, optimizer: Double, data: Double = 0) {
        self.compute = compute
        self.communication = communication
        self.exposed = exposed ?? communication
        self.optimizer = optimizer
        self.data = data
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        compute = try container.decode(Double.self, forKey: .compute)
        communication = try container.decode(Double.self, forKey: .communication)
        exposed = try container.decodeIfPresent(Double.self, forKey: .exposed) ?? communication
        optimizer = try container.decode(Double.self, forKey: .optimizer)
        data = try container.decodeIfPresent(Double.self, forKey: .data) ?? 0
    }

    enum CodingKeys: String, CodingKey { case compute, communication, exposed, optimizer, data }

    /// The step's parts end to end: overlapped communication counts only where it was exposed.
    public var total: Double { compute + exposed + optimizer + data }
}

/// One optimizer step, as logged by the trainer (`"type":"step"`).
public struct StepRecord: Codable, Sendable, Equatable {
    public static let type = "step"

    public var step: Int
    public var epoch: Double
    /// Mean training loss over the global batch of this step.
    public var loss: Double
    /// The learning rate the step was taken with.
    public var learningRate: Double
    /// L2 norm of the averaged gradient, before clipping.
    public var gradientNorm: Double
    /// Samples in the global batch (the last batch of an epoch may be short).
    public var items: Int
    public var samplesPerSecond: Double
    public var seconds: StepTimings
    public var elapsed: Double
    /// Whether the update was skipped (for instance, a non-finite gradient).
    public var skipped: Bool
    /// The run the line belongs to (absent in files written before runs had an identity).
    public var runID: String?
    /// The reproducible mode only: how often the step was computed again because a gradient outgrew
    /// its fixed-point bound (usually 0; absent in the default mode).
    public var recomputed: Int?
    /// The online gradient noise scale B_simple = tr Σ / |G|² after this step (`GradientNoiseScale`
    /// in Training): null until it is defined, absent in older files.
    public var gradientNoiseScale: Double?
    /// The smoothed estimates B_simple is the ratio of: tr Σ (one item's gradient covariance) and
    /// |G|² (the true gradient's squared norm).
    public var noiseTrace: Double?
    public var noiseGradientSquared: Double?
    /// `schedule.adascale` only: the step's gain ratio r_t and the progress τ through the base schedule
    /// (in base steps) after it.
    public var gainRatio: Double?
    public var progress: Double?

    public init(
        step: Int, epoch: Double, loss: Double, learningRate: Double, gradientNorm: Double, items: Int,
        samplesPerSecond: Double, seconds: StepTimings, elapsed: Double, skipped: Bool = false, runID: String? = nil,
        recomputed: Int? = nil, gradientNoiseScale: Double? = nil, noiseTrace: Double? = nil,
        noiseGradientSquared: Double? = nil, gainRatio: Double? = nil, progress: Double? = nil
    ) {
        self.step = step
        self.epoch = epoch
        self.loss = loss
        self.learningRate = learningRate
        self.gradientNorm = gradientNorm
        self.items = items
        self.samplesPerSecond = samplesPerSecond
        self.seconds = seconds
        self.elapsed = elapsed
        self.skipped = skipped
        self.runID = runID
        self.recomputed = recomputed
        self.gradientNoiseScale = gradientNoiseScale
        self.noiseTrace = noiseTrace
        self.noiseGradientSquared = noiseGradientSquared
        self.gainRatio = gainRatio
        self.progress = progress
    }

    enum CodingKeys: String, CodingKey {
        case type, step, epoch, loss
        case learningRate = "lr"
        case gradientNorm = "grad_norm"
        case items
        case samplesPerSecond = "samples_per_s"
        case seconds, elapsed, skipped
        case runID = "run_id"
        case recomputed
        case gradientNoiseScale = "grad_noise_scale"
        case noiseTrace = "noise_trace"
        case noiseGradientSquared = "noise_grad_sq"
        case gainRatio = "gain_ratio"
        case progress
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        step = try container.decode(Int.self, forKey: .step)
        epoch = try container.decode(Double.self, forKey: .epoch)
        loss = try container.decode(Double.self, forKey: .loss)
        learningRate = try container.decode(Double.self, forKey: .learningRate)
        gradientNorm = try container.decode(Double.self, forKey: .gradientNorm)
        items = try container.decode(Int.self, forKey: .items)
        samplesPerSecond = try container.decode(Double.self, forKey: .samplesPerSecond)
        seconds = try container.decode(StepTimings.self, forKey: .seconds)
        elapsed = try container.decode(Double.self, forKey: .elapsed)
        // Older writers omitted the flag when false.
        skipped = try container.decodeIfPresent(Bool.self, forKey: .skipped) ?? false
        runID = try container.decodeIfPresent(String.self, forKey: .runID)
        recomputed = try container.decodeIfPresent(Int.self, forKey: .recomputed)
        gradientNoiseScale = try container.decodeIfPresent(Double.self, forKey: .gradientNoiseScale)
        noiseTrace = try container.decodeIfPresent(Double.self, forKey: .noiseTrace)
        noiseGradientSquared = try container.decodeIfPresent(Double.self, forKey: .noiseGradientSquared)
        gainRatio = try container.decodeIfPresent(Double.self, forKey: .gainRatio)
        progress = try container.decodeIfPresent(Double.self, forKey: .progress)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(Self.type, forKey: .type)
        try container.encode(step, forKey: .step)
        try container.encode(epoch, forKey: .epoch)
        try container.encode(loss, forKey: .loss)
        try container.encode(learningRate, forKey: .learningRate)
        try container.encode(gradientNorm, forKey: .gradientNorm)
        try container.encode(items, forKey: .items)
        try container.encode(samplesPerSecond, forKey: .samplesPerSecond)
        try container.encode(seconds, forKey: .seconds)
        try container.encode(elapsed, forKey: .elapsed)
        try container.encode(skipped, forKey: .skipped)
        try container.encodeIfPresent(runID, forKey: .runID)
        try container.encodeIfPresent(recomputed, forKey: .recomputed)
        // Written as null until defined, so that a reader sees the field from the first step on.
        try container.encode(gradientNoiseScale, forKey: .gradientNoiseScale)
        try container.encode(noiseTrace, forKey: .noiseTrace)
        try container.encode(noiseGradientSquared, forKey: .noiseGradientSquared)
        try container.encodeIfPresent(gainRatio, forKey: .gainRatio)
        try container.encodeIfPresent(progress, forKey: .progress)
    }
}

/// One evaluation on the test set (`"type":"eval"`).
public struct EvaluationRecord: Codable, Sendable, Equatable {
    public static let type = "eval"

    /// The optimizer step after which the evaluation ran.
    public var step: Int
    public var epoch: Double
    public var elapsed: Double
    public var testLoss: Double
    /// Fraction of test samples classified correctly, in [0, 1].
    public var testAccuracy: Double
    /// The run the line belongs to (absent in files written before runs had an identity).
    public var runID: String?
    /// A byte-level language model's validation loss in bits per byte (`test_loss` / ln 2; `test_loss`
    /// is then the validation loss in nats per token and `test_accuracy` the next-byte accuracy).
    public var bitsPerByte: Double?

    public init(step: Int, epoch: Double, elapsed: Double, testLoss: Double, testAccuracy: Double, runID: String? = nil,
                bitsPerByte: Double? = nil) {
        self.step = step
        self.epoch = epoch
        self.elapsed = elapsed
        self.testLoss = testLoss
        self.testAccuracy = testAccuracy
        self.runID = runID
        self.bitsPerByte = bitsPerByte
    }

    enum CodingKeys: String, CodingKey {
        case type, step, epoch, elapsed
        case testLoss = "test_loss"
        case testAccuracy = "test_accuracy"
        case runID = "run_id"
        case bitsPerByte = "bits_per_byte"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        step = try container.decode(Int.self, forKey: .step)
        epoch = try container.decode(Double.self, forKey: .epoch)
        elapsed = try container.decode(Double.self, forKey: .elapsed)
        testLoss = try container.decode(Double.self, forKey: .testLoss)
        testAccuracy = try container.decode(Double.self, forKey: .testAccuracy)
        runID = try container.decodeIfPresent(String.self, forKey: .runID)
        bitsPerByte = try container.decodeIfPresent(Double.self, forKey: .bitsPerByte)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(Self.type, forKey: .type)
        try container.encode(step, forKey: .step)
        try container.encode(epoch, forKey: .epoch)
        try container.encode(elapsed, forKey: .elapsed)
        try container.encode(testLoss, forKey: .testLoss)
        try container.encode(testAccuracy, forKey: .testAccuracy)
        try container.encodeIfPresent(runID, forKey: .runID)
        try container.encodeIfPresent(bitsPerByte, forKey: .bitsPerByte)
    }
}

/// One line of `metrics.jsonl`, dispatched on its `"type"` tag.
public enum MetricsLine: Sendable, Equatable {
    case step(StepRecord)
    case evaluation(EvaluationRecord)
}

/// The JSON settings both sides use, so non-finite values round-trip instead of failing to encode.
public enum MetricsCoding {
    public static func makeEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        // Sorted keys keep lines stable and diffable between runs.
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    public static func makeDecoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return decoder
    }
}
