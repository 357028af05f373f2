import Configuration

/// The `logging` section: what a run directory records besides `metrics.jsonl`.
///
/// ```yaml
/// logging:
///   tensorboard: true       # events.out.tfevents.* for `tensorboard --logdir`
///   histogram_every: 100    # parameter and gradient histograms every this many steps (0: never)
/// ```
public struct LoggingSettings: Equatable, Sendable {
    /// Write TensorBoard event files (rank 0, run directory only).
    public var tensorBoard: Bool
    /// Histograms of every parameter tensor and its gradient, to TensorBoard and to `gradients.jsonl`
    /// for the comparison report, every this many optimizer steps; 0 turns them off. Each costs one
    /// pass over the parameters and gradients, so the default keeps them to one step in a hundred.
    public var histogramEvery: Int

    public init(tensorBoard: Bool = true, histogramEvery: Int = 100) {
        self.tensorBoard = tensorBoard
        self.histogramEvery = histogramEvery
    }

    /// Reads the section strictly: an unknown key is an error naming it.
    public init(section: ConfigSection) throws(ConfigError) {
        tensorBoard = try section.bool("tensorboard", default: true)
        histogramEvery = try section.int("histogram_every", default: 100, range: 0...Int.max)
        try section.finish()
    }

    /// Whether the step's histograms are recorded.
    func recordsHistograms(atStep step: Int) -> Bool { histogramEvery > 0 && step % histogramEvery == 0 }
}
