import Foundation

/// The comparison table as formatted text cells, shared by the Markdown and HTML reports so both show the same.
struct ReportTable {
    enum Alignment { case left, right }

    /// Which way a column is better, for highlighting in HTML.
    enum Preference { case none, higher, lower }

    struct Column {
        var header: String
        var alignment: Alignment
        var preference: Preference
        /// The cell text per variant.
        var cells: [String]
        /// The value compared for highlighting per variant, nil where the cell is empty.
        var values: [Double?]
    }

    var columns: [Column]
    var rowCount: Int

    /// Marker for a value that does not exist (never reached, not evaluated yet).
    static let missing = "—"

    static func summary(_ summaries: [VariantSummary], targetAccuracy: Double) -> ReportTable {
        let target = percentLabel(targetAccuracy)
        func column(
            _ header: String, _ alignment: Alignment = .right, _ preference: Preference = .none,
            _ cell: (VariantSummary) -> (String, Double?)
        ) -> Column {
            let pairs = summaries.map(cell)
            return Column(header: header, alignment: alignment, preference: preference,
                          cells: pairs.map(\.0), values: pairs.map(\.1))
        }
        func number(_ value: Double?, _ format: String) -> (String, Double?) {
            guard let value else { return (missing, nil) }
            return (String(format: format, value), value)
        }
        let columns = [
            column("Variant", .left) { ($0.name, nil) },
            column("Status", .left) { ($0.statusText, nil) },
            column("Effective batch") { ("\($0.info.effectiveBatch)", nil) },
            column("Ranks × micro × k") { ("\($0.info.ranks) × \($0.info.micro) × \($0.info.accumulation)", nil) },
            column("Optimizer", .left) { ($0.info.optimizer, nil) },
            column("Learning rate") { (learningRateText($0.info.learningRate), nil) },
            column("Steps") { summary in
                summary.status == .complete
                    ? ("\(summary.info.steps)", nil) : ("\(summary.lastStep) / \(summary.info.steps)", nil)
            },
            // What actually ran, whatever the sweep's description says it intended.
            column("Epochs") { number($0.epochsRun, "%.2f") },
            column("Wall time (s)") { number($0.wallTime, "%.1f") },
            column("Samples/s", .right, .higher) { number($0.medianSamplesPerSecond, "%.0f") },
            column("Final test acc. (%)", .right, .higher) { number($0.finalAccuracy.map { $0 * 100 }, "%.2f") },
            column("Best test acc. (%)", .right, .higher) { number($0.bestAccuracy.map { $0 * 100 }, "%.2f") },
            column("Time to \(target) (s)", .right, .lower) { number($0.timeToTarget, "%.1f") },
            column("Epochs to \(target)", .right, .lower) { number($0.epochsToTarget, "%.2f") },
            column("Skipped steps") { ("\($0.skippedSteps)", nil) },
        ]
        return ReportTable(columns: columns, rowCount: summaries.count)
    }

    /// Median milliseconds per step phase: where the time of a many-rank setup goes.
    static func stepTimes(_ summaries: [VariantSummary]) -> ReportTable {
        func milliseconds(_ value: Double?) -> (String, Double?) {
            guard let value else { return (missing, nil) }
            return (String(format: "%.2f", value * 1000), value)
        }
        let timings = summaries.map(\.medianStepTimings)
        let columns = [
            Column(header: "Variant", alignment: .left, preference: .none, cells: summaries.map(\.name),
                   values: summaries.map { _ in nil }),
            Column(header: "Ranks", alignment: .right, preference: .none,
                   cells: summaries.map { "\($0.info.ranks)" }, values: summaries.map { _ in nil }),
            Column(header: "Compute (ms)", alignment: .right, preference: .none,
                   cells: timings.map { milliseconds($0?.compute).0 }, values: timings.map { $0?.compute }),
            Column(header: "Communication (ms)", alignment: .right, preference: .none,
                   cells: timings.map { milliseconds($0?.communication).0 },
                   values: timings.map { $0?.communication }),
            Column(header: "Optimizer (ms)", alignment: .right, preference: .none,
                   cells: timings.map { milliseconds($0?.optimizer).0 }, values: timings.map { $0?.optimizer }),
            Column(header: "Communication share", alignment: .right, preference: .lower,
                   cells: timings.map { timing in
                       guard let timing, timing.total > 0 else { return missing }
                       return String(format: "%.1f %%", timing.exposed / timing.total * 100)
                   },
                   values: timings.map { timing in
                       guard let timing, timing.total > 0 else { return nil }
                       return timing.exposed / timing.total
                   }),
        ]
        return ReportTable(columns: columns, rowCount: summaries.count)
    }

    /// Rows whose value in the column is the best of all rows (ties all win); empty for unranked columns or when
    /// fewer than two rows have a value.
    func bestRows(in column: Column) -> Set<Int> {
        let present = column.values.enumerated().compactMap { index, value in value.map { (index, $0) } }
        guard present.count >= 2 else { return [] }
        let best: Double
        switch column.preference {
        case .none: return []
        case .higher: best = present.map(\.1).max() ?? 0
        case .lower: best = present.map(\.1).min() ?? 0
        }
        return Set(present.filter { $0.1 == best }.map(\.0))
    }

    /// "90%", "92.5%": the target as the table header states it.
    static func percentLabel(_ fraction: Double) -> String {
        String(format: "%g%%", fraction * 100)
    }

    /// The learning rate as written in configs ("0.002", "1e-05"), not padded to a fixed precision.
    static func learningRateText(_ value: Double) -> String {
        String(format: "%g", value)
    }
}

extension ReportTable {
    /// One row per effective batch: its fastest variant to the target, steps and examples to it, and the
    /// measured noise scale beside the fitted critical batch.
    static func criticalBatch(_ analysis: CriticalBatchAnalysis) -> ReportTable {
        let rows = analysis.groups.flatMap { group in group.points.map { (group, $0) } }
        let target = percentLabel(analysis.target)
        let notReached = "not reached"
        func column(_ header: String, _ alignment: Alignment = .right, _ preference: Preference = .none,
                    _ cell: (CriticalBatchAnalysis.Group, CriticalBatchAnalysis.Point) -> (String, Double?)) -> Column {
            let pairs = rows.map(cell)
            return Column(header: header, alignment: alignment, preference: preference, cells: pairs.map(\.0),
                          values: pairs.map(\.1))
        }
        var columns: [Column] = []
        if analysis.groups.contains(where: { $0.name != nil }) {
            columns.append(column("Recipe", .left) { group, _ in (group.name ?? missing, nil) })
        }
        columns += [
            column("Effective batch") { ("\($1.effectiveBatch)", nil) },
            column("Best variant", .left) { ($1.variants > 1 ? "\($1.variant) (of \($1.variants))" : $1.variant, nil) },
            column("Learning rate") { (learningRateText($1.learningRate), nil) },
            column("Steps to \(target)", .right, .lower) { _, point in
                point.stepsToTarget.map { ("\($0)", Double($0)) } ?? (notReached, nil)
            },
            column("Examples to \(target)", .right, .lower) { _, point in
                point.examplesToTarget.map { (String(format: "%.0f", $0), $0) } ?? (notReached, nil)
            },
            column("Steps if scaling were perfect") { group, point in
                guard let first = group.points.first(where: { $0.stepsToTarget != nil }), let steps = first.stepsToTarget
                else { return (missing, nil) }
                let value = Double(steps) * Double(first.effectiveBatch) / Double(point.effectiveBatch)
                return (String(format: "%.0f", value), value)
            },
            column("Mean B_simple") { _, point in
                point.meanNoiseScale.map { (String(format: "%.0f", $0), $0) } ?? (missing, nil)
            },
        ]
        return ReportTable(columns: columns, rowCount: rows.count)
    }
}
