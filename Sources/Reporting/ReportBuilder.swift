import Foundation

/// Writes the comparison report of a sweep directory: `report.md`, `report.html` and `plots/*.svg`.
public enum ReportBuilder {
    public static let markdownFileName = "report.md"
    public static let htmlFileName = "report.html"
    public static let plotsDirectoryName = "plots"

    /// Reads the sweep in `directory` and writes the report files into it.
    ///
    /// - Parameter variantOrder: the variants to include, in this order (directory or variant names); nil for all,
    ///   ordered by effective batch.
    @discardableResult
    public static func render(
        directory: URL, variantOrder: [String]? = nil, options: ReportOptions = ReportOptions()
    ) throws(ReportError) -> ReportSummary {
        try options.validate()
        let sweep = try Sweep.load(from: directory, order: variantOrder)
        return try render(sweep, options: options)
    }

    /// Writes the report of an already loaded sweep into its directory.
    @discardableResult
    public static func render(_ sweep: Sweep, options: ReportOptions) throws(ReportError) -> ReportSummary {
        try options.validate()
        let summaries = sweep.variants.map { VariantSummary($0, targetAccuracy: options.targetAccuracy) }
        let scaling = CriticalBatchAnalysis(sweep.variants, target: options.targetAccuracy)
        let scalingPlots = ReportPlots.scaling(scaling)
        let plots = ReportPlots.make(for: sweep.variants, options: options)
        let figures = GradientHeatMap.make(for: sweep.variants)

        let plotsDirectory = sweep.directory.appendingPathComponent(plotsDirectoryName, isDirectory: true)
        do {
            try FileManager.default.createDirectory(at: plotsDirectory, withIntermediateDirectories: true)
        } catch {
            throw .writeFailed(path: plotsDirectory.path, reason: error.localizedDescription)
        }
        var plotURLs: [URL] = []
        for plot in scalingPlots + plots {
            let url = plotsDirectory.appendingPathComponent(plot.fileName)
            try write(plot.plot.document, to: url)
            plotURLs.append(url)
        }
        for figure in figures {
            let url = plotsDirectory.appendingPathComponent(figure.fileName)
            try write(figure.document, to: url)
            plotURLs.append(url)
        }
        let markdownURL = sweep.directory.appendingPathComponent(markdownFileName)
        try write(MarkdownReport.render(sweep: sweep, summaries: summaries, plots: plots, figures: figures,
                                        scaling: scaling, scalingPlots: scalingPlots, options: options),
                  to: markdownURL)
        let htmlURL = sweep.directory.appendingPathComponent(htmlFileName)
        try write(HTMLReport.render(sweep: sweep, summaries: summaries, plots: plots, figures: figures,
                                    scaling: scaling, scalingPlots: scalingPlots, options: options), to: htmlURL)
        return ReportSummary(variants: summaries, markdownURL: markdownURL, htmlURL: htmlURL, plotURLs: plotURLs,
                             scaling: scaling)
    }

    /// Atomic, so a viewer refreshing the report during training never sees a half-written file.
    private static func write(_ text: String, to url: URL) throws(ReportError) {
        do {
            try Data(text.utf8).write(to: url, options: .atomic)
        } catch {
            throw .writeFailed(path: url.path, reason: error.localizedDescription)
        }
    }
}
