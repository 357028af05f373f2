import Foundation
import Reporting
import Tensors
import TensorBoard

/// Rank 0's records of a run beyond `metrics.jsonl`: the TensorBoard event file and, every
/// `logging.histogram_every` steps, the gradient magnitudes of `gradients.jsonl` for the report.
///
/// Gradients are binned when the trainer hands them over (`inspectGradients`), between the division
/// by the global count and the update, since the optimizer may overwrite the buffer with its update;
/// the parameters are binned after the update, when the step is logged, so both describe step s.
final class TrainingEventLog {
    static let gradientsFileName = "gradients.jsonl"

    let settings: LoggingSettings
    private let layout: ParameterLayout
    private let events: EventFileWriter?
    private let gradientMagnitudes: MetricsWriter?
    /// Histograms of the gradients of `pendingStep`, waiting for its parameters.
    private var pendingStep: Int?
    private var pendingHistograms: [(tag: String, histogram: Histogram)] = []
    private var pendingMagnitudes: [GradientMagnitudes] = []

    /// Opens the records of a run in `directory`. A fresh run removes earlier event files and gradient
    /// records; a run resumed after `resumedStep` removes only what it will redo, and marks the restart.
    init(directory: URL, configuration: TrainingConfiguration, layout: ParameterLayout, resumedStep: Int?) throws {
        settings = configuration.logging
        self.layout = layout
        let gradientsURL = directory.appendingPathComponent(Self.gradientsFileName)
        if let resumedStep {
            try EventFiles.discardEvents(after: resumedStep, in: directory)
        } else {
            try EventFiles.removeAll(in: directory)
            try? FileManager.default.removeItem(at: gradientsURL)
        }
        if settings.tensorBoard {
            let events = try EventFileWriter(directory: directory)
            let firstStep = (resumedStep ?? 0) + 1
            if resumedStep != nil { try events.writeSessionStart(step: firstStep) }
            // The configuration this attempt trains with, at its first step (a resume may change the schedule).
            try events.writeText("```yaml\n\(configuration.tree.yaml())```", tag: "configuration", step: firstStep)
            self.events = events
        } else {
            events = nil
        }
        gradientMagnitudes = settings.histogramEvery > 0 ? try MetricsWriter(url: gradientsURL) : nil
    }

    /// Bins the mean gradient of `step` if its histograms are due; the trainer calls it before the update.
    func inspectGradients(step: Int, gradients: FloatBuffer) {
        guard settings.recordsHistograms(atStep: step) else { return }
        pendingStep = step
        pendingHistograms = []
        pendingMagnitudes = []
        for slot in layout.slots {
            let values = UnsafeBufferPointer(gradients.slice(slot.offset, slot.count))
            if events != nil { pendingHistograms.append(("gradients/\(slot.name)", Histogram(values))) }
            pendingMagnitudes.append(GradientMagnitudes(step: step, tensor: slot.name, gradients: values))
        }
    }

    /// The step's scalars and, when due, its histograms (`parameters` after the update).
    func record(_ record: StepRecord, parameters: FloatBuffer) throws {
        var scalars = [
            ("train/loss", record.loss), ("train/learning_rate", record.learningRate),
            ("train/gradient_norm", record.gradientNorm), ("train/samples_per_second", record.samplesPerSecond),
            ("time/compute_seconds", record.seconds.compute),
            ("time/communication_seconds", record.seconds.communication),
            ("time/optimizer_seconds", record.seconds.optimizer), ("time/data_seconds", record.seconds.data),
        ]
        // Only once defined: TensorBoard has no "missing" value.
        let optional = [("train/grad_noise_scale", record.gradientNoiseScale), ("train/adascale_gain", record.gainRatio),
                        ("train/adascale_progress", record.progress)]
        scalars += optional.compactMap { name, value in value.map { (name, $0) } }
        try events?.writeScalars(scalars, step: record.step)
        guard pendingStep == record.step else { return }
        pendingStep = nil
        if let events {
            var histograms = layout.slots.map { slot in
                ("parameters/\(slot.name)", Histogram(UnsafeBufferPointer(parameters.slice(slot.offset, slot.count))))
            }
            histograms += pendingHistograms
            try events.writeHistograms(histograms, step: record.step)
        }
        for magnitudes in pendingMagnitudes { try gradientMagnitudes?.write(magnitudes) }
    }

    /// The evaluation's loss and every metric of the task, under `eval/`.
    func record(_ evaluation: EvaluationResult, step: Int) throws {
        try events?.writeScalars([("eval/loss", evaluation.loss)] + evaluation.metrics.map { ("eval/\($0.name)", $0.value) },
                                 step: step)
    }
}
