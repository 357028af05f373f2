import Foundation

/// The figures of one variant that the comparison table shows.
public struct VariantSummary: Sendable, Equatable {
    public enum Status: Sendable, Equatable {
        case complete
        /// Still running, stopped early, or not started; the run's own `complete` flag is false.
        case incomplete
        /// The training loss became non-finite at this step.
        case diverged(step: Int)
    }

    public var name: String
    public var directoryName: String
    public var info: VariantInfo
    public var status: Status
    /// The last step any record mentions; 0 before the first log line.
    public var lastStep: Int
    /// Wall-clock seconds from training start to the last record.
    public var wallTime: Double?
    /// Median over step records, robust to the slow first steps and to evaluation pauses.
    public var medianSamplesPerSecond: Double?
    /// Median wall-clock seconds per step in each phase.
    public var medianStepTimings: StepTimings?
    public var finalAccuracy: Double?
    public var bestAccuracy: Double?
    /// Wall-clock seconds at the first evaluation reaching the target accuracy; nil if none did.
    public var timeToTarget: Double?
    /// Epochs at the first evaluation reaching the target accuracy.
    public var epochsToTarget: Double?
    public var skippedSteps: Int
    public var evaluationCount: Int
    /// Epochs actually trained: the epoch of the last record.
    public var epochsRun: Double?

    public init(_ variant: SweepVariant, targetAccuracy: Double) {
        let steps = variant.metrics.steps
        let evaluations = variant.metrics.evaluations
        name = variant.name
        directoryName = variant.directoryName
        info = variant.info
        lastStep = max(steps.last?.step ?? 0, evaluations.last?.step ?? 0)
        let lastElapsed = max(steps.last?.elapsed ?? -1, evaluations.last?.elapsed ?? -1)
        wallTime = lastElapsed >= 0 ? lastElapsed : nil
        medianSamplesPerSecond = Self.median(steps.map(\.samplesPerSecond))
        if let compute = Self.median(steps.map(\.seconds.compute)),
           let communication = Self.median(steps.map(\.seconds.communication)),
           let optimizer = Self.median(steps.map(\.seconds.optimizer)) {
            medianStepTimings = StepTimings(compute: compute, communication: communication,
                                            exposed: Self.median(steps.map(\.seconds.exposed)), optimizer: optimizer)
        }
        finalAccuracy = evaluations.last?.testAccuracy
        bestAccuracy = evaluations.map(\.testAccuracy).max()
        let reached = evaluations.first { $0.testAccuracy >= targetAccuracy }
        timeToTarget = reached?.elapsed
        epochsToTarget = reached?.epoch
        skippedSteps = steps.count { $0.skipped }
        evaluationCount = evaluations.count
        epochsRun = max(steps.last?.epoch ?? -1, evaluations.last?.epoch ?? -1) >= 0
            ? max(steps.last?.epoch ?? 0, evaluations.last?.epoch ?? 0) : nil
        if let divergence = steps.first(where: { !$0.loss.isFinite }) {
            status = .diverged(step: divergence.step)
        } else {
            status = variant.info.complete ? .complete : .incomplete
        }
    }

    /// A short human description of the status.
    public var statusText: String {
        switch status {
        case .complete:
            return evaluationCount == 0 ? "complete, no evaluation" : "complete"
        case .incomplete:
            return evaluationCount == 0 ? "incomplete, no evaluation yet" : "incomplete"
        case .diverged(let step):
            return "diverged at step \(step)"
        }
    }

    static func median(_ values: [Double]) -> Double? {
        let sorted = values.filter(\.isFinite).sorted()
        guard !sorted.isEmpty else { return nil }
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
}
