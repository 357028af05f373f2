import Foundation

/// `report.md`: readable as plain text and rendered by any Markdown viewer, with plots as linked SVG images.
enum MarkdownReport {
    static func render(
        sweep: Sweep, summaries: [VariantSummary], plots: [ReportPlot], figures: [ReportFigure] = [],
        scaling: CriticalBatchAnalysis? = nil, scalingPlots: [ReportPlot] = [], options: ReportOptions
    ) -> String {
        var text = "# \(options.title)\n\n"
        let description = options.description.trimmingCharacters(in: .whitespacesAndNewlines)
        if !description.isEmpty { text += description + "\n\n" }
        text += "_\(ReportOverview.sentence(sweep: sweep, summaries: summaries, options: options))_\n\n"

        text += "## Comparison\n\n"
        text += table(ReportTable.summary(summaries, targetAccuracy: options.targetAccuracy))
        text += "\nSamples/s is the median over logged steps. Time and epochs to "
        text += "\(ReportTable.percentLabel(options.targetAccuracy)) are those of the first evaluation at or above "
        text += "it; \(ReportTable.missing) means not reached (or not evaluated yet).\n\n"

        if let scaling {
            text += "## Steps to \(ReportTable.percentLabel(options.targetAccuracy)) against the effective batch\n\n"
            text += table(ReportTable.criticalBatch(scaling))
            text += "\n" + scaling.summary + " Each batch is represented by its variant that reached the target "
            text += "in the fewest steps; examples are the training samples seen until then.\n\n"
            for plot in scalingPlots { text += "![\(plot.caption)](plots/\(plot.fileName))\n\n" }
        }

        text += "## Plots\n\n"
        for plot in plots {
            text += "![\(plot.caption)](plots/\(plot.fileName))\n\n"
        }

        if !figures.isEmpty {
            text += "## Gradient magnitudes\n\n"
            text += "Per parameter tensor, the share of its gradient's elements in each magnitude bin at every "
            text += "recorded step (`logging.histogram_every`), first step at the top.\n\n"
            for figure in figures { text += "![\(figure.caption)](plots/\(figure.fileName))\n\n" }
        }

        text += "## Median step time\n\n"
        text += table(ReportTable.stepTimes(summaries))
        text += "\n## Variant files\n\n"
        for variant in sweep.variants {
            let folder = variant.directoryName.urlPathSegmentEscaped
            text += "- **\(variant.name.markdownCellEscaped)**: [\(Sweep.metricsFileName)]"
            text += "(\(folder)/\(Sweep.metricsFileName))"
            if variant.configuration != nil {
                text += " · [\(Sweep.configurationFileName)](\(folder)/\(Sweep.configurationFileName))"
            } else {
                text += " · no \(Sweep.configurationFileName) yet"
            }
            text += "\n"
        }
        return text
    }

    static func table(_ table: ReportTable) -> String {
        var text = "| " + table.columns.map { $0.header.markdownCellEscaped }.joined(separator: " | ") + " |\n"
        text += "|" + table.columns.map { $0.alignment == .right ? " ---: " : " :--- " }.joined(separator: "|") + "|\n"
        for row in 0..<table.rowCount {
            text += "| " + table.columns.map { $0.cells[row].markdownCellEscaped }.joined(separator: " | ") + " |\n"
        }
        return text
    }
}
