import Foundation

/// The one-line account of the sweep under the title.
enum ReportOverview {
    static func sentence(sweep: Sweep, summaries: [VariantSummary], options: ReportOptions) -> String {
        let batches = summaries.map(\.info.effectiveBatch)
        let complete = summaries.count { $0.status == .complete }
        var parts = ["\(summaries.count) variant\(summaries.count == 1 ? "" : "s") (\(complete) complete)"]
        if let low = batches.min(), let high = batches.max() {
            parts.append(low == high ? "effective batch \(low)" : "effective batch \(low)–\(high)")
        }
        let optimizers = Array(Set(summaries.map(\.info.optimizer))).sorted()
        parts.append("optimizer\(optimizers.count == 1 ? "" : "s") \(optimizers.joined(separator: ", "))")
        parts.append("target test accuracy \(ReportTable.percentLabel(options.targetAccuracy))")
        parts.append(options.overrides.isEmpty ? "no --set overrides"
                     : "--set overrides for every variant: " + options.overrides.joined(separator: ", "))
        return "Sweep " + sweep.directory.lastPathComponent + ": " + parts.joined(separator: "; ") + "."
    }
}
