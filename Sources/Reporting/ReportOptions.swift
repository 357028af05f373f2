/// What the report shows beyond the data.
public struct ReportOptions: Sendable, Equatable {
    public var title: String
    /// Free text under the title: what the sweep compares and why.
    public var description: String
    /// The test accuracy (a fraction) whose first crossing the table times.
    public var targetAccuracy: Double
    /// Weight of the exponential moving average drawn over the training loss, in [0, 1); nil picks one from the
    /// run length (a window of about a thirtieth of the run).
    public var lossSmoothing: Double?
    /// Whether the unsmoothed training loss is drawn faintly under the smoothed line.
    public var showsRawLoss: Bool
    /// The `--set` overrides given to `compare` for every variant, stated under the title: the sweep
    /// file's description cannot know them.
    public var overrides: [String]

    public init(
        title: String = "Batch-size sweep", description: String = "", targetAccuracy: Double = 0.9,
        lossSmoothing: Double? = nil, showsRawLoss: Bool = true, overrides: [String] = []
    ) {
        self.overrides = overrides
        self.title = title
        self.description = description
        self.targetAccuracy = targetAccuracy
        self.lossSmoothing = lossSmoothing
        self.showsRawLoss = showsRawLoss
    }

    func validate() throws(ReportError) {
        guard targetAccuracy > 0 && targetAccuracy <= 1 else {
            throw .invalidOption(name: "targetAccuracy", value: "\(targetAccuracy) (a fraction in (0, 1])")
        }
        if let weight = lossSmoothing, !(weight >= 0 && weight < 1) {
            throw .invalidOption(name: "lossSmoothing", value: "\(weight) (expected 0 ≤ weight < 1)")
        }
    }
}
