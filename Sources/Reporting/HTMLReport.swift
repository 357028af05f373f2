import Foundation

/// `report.html`: one self-contained page (inline CSS and SVG, no external resources) to open or mail as is.
enum HTMLReport {
    static func render(
        sweep: Sweep, summaries: [VariantSummary], plots: [ReportPlot], figures: [ReportFigure] = [],
        scaling: CriticalBatchAnalysis? = nil, scalingPlots: [ReportPlot] = [],
        options: ReportOptions
    ) -> String {
        var html = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(options.title.xmlEscaped)</title>
        <style>\(style)</style>
        </head>
        <body>
        <main>
        <h1>\(options.title.xmlEscaped)</h1>

        """
        let description = options.description.trimmingCharacters(in: .whitespacesAndNewlines)
        if !description.isEmpty {
            for paragraph in description.components(separatedBy: "\n\n") {
                html += "<p>\(paragraph.xmlEscaped)</p>\n"
            }
        }
        html += "<p class=\"overview\">"
        html += ReportOverview.sentence(sweep: sweep, summaries: summaries, options: options).xmlEscaped
        html += "</p>\n<h2>Comparison</h2>\n"
        html += table(ReportTable.summary(summaries, targetAccuracy: options.targetAccuracy), summaries: summaries)
        html += "<p class=\"note\">Samples/s is the median over logged steps. Time and epochs to "
        html += "\(ReportTable.percentLabel(options.targetAccuracy).xmlEscaped) are those of the first evaluation "
        html += "at or above it; \(ReportTable.missing) means not reached (or not evaluated yet). "
        html += "Bold marks the best value of a column.</p>\n"

        if let scaling {
            html += "<h2>Steps to \(ReportTable.percentLabel(options.targetAccuracy).xmlEscaped) against the effective batch</h2>\n"
            html += plainTable(ReportTable.criticalBatch(scaling))
            html += "<p class=\"note\">\(scaling.summary.xmlEscaped) Each batch is represented by its variant that "
            html += "reached the target in the fewest steps; examples are the training samples seen until then.</p>\n"
            html += "<div class=\"plots\">\n"
            for plot in scalingPlots { html += "<figure>\n" + plot.plot.render() + "</figure>\n" }
            html += "</div>\n"
        }
        html += "<h2>Plots</h2>\n<div class=\"plots\">\n"
        for plot in plots {
            html += "<figure>\n" + plot.plot.render() + "</figure>\n"
        }
        html += "</div>\n"
        if !figures.isEmpty {
            html += "<h2>Gradient magnitudes</h2>\n<p class=\"note\">Per parameter tensor, the share of its gradient's "
            html += "elements in each magnitude bin at every recorded step (logging.histogram_every), first step at the "
            html += "top.</p>\n"
            for figure in figures { html += "<figure class=\"wide\">\n" + figure.svg + "</figure>\n" }
        }
        html += "<h2>Median step time</h2>\n"
        html += table(ReportTable.stepTimes(summaries), summaries: summaries)

        html += "<h2>Variants</h2>\n"
        for variant in sweep.variants {
            let folder = variant.directoryName.urlPathSegmentEscaped
            html += "<details>\n<summary><strong>\(variant.name.xmlEscaped)</strong> · "
            html += "<a href=\"\(folder.xmlEscaped)/\(Sweep.metricsFileName)\">\(Sweep.metricsFileName)</a>"
            if let configuration = variant.configuration {
                html += " · <a href=\"\(folder.xmlEscaped)/\(Sweep.configurationFileName)\">"
                html += "\(Sweep.configurationFileName)</a></summary>\n"
                html += "<pre>\(configuration.xmlEscaped)</pre>\n"
            } else {
                html += "</summary>\n<p class=\"note\">No \(Sweep.configurationFileName) written yet.</p>\n"
            }
            html += "</details>\n"
        }
        html += "</main>\n</body>\n</html>\n"
        return html
    }

    /// A table whose rows are not variants (no status colours or swatches).
    static func plainTable(_ table: ReportTable) -> String {
        var html = head(table)
        let best = table.columns.map { table.bestRows(in: $0) }
        for row in 0..<table.rowCount {
            html += "<tr>"
            for (index, column) in table.columns.enumerated() {
                let classes = [column.alignment == .right ? "num" : "text"] + (best[index].contains(row) ? ["best"] : [])
                html += "<td class=\"\(classes.joined(separator: " "))\">\(column.cells[row].xmlEscaped)</td>"
            }
            html += "</tr>\n"
        }
        html += "</tbody>\n</table></div>\n"
        return html
    }

    /// The opening of a table up to its body: the header row.
    private static func head(_ table: ReportTable) -> String {
        var html = "<div class=\"table\"><table>\n<thead><tr>"
        for column in table.columns {
            html += "<th class=\"\(column.alignment == .right ? "num" : "text")\">\(column.header.xmlEscaped)</th>"
        }
        return html + "</tr></thead>\n<tbody>\n"
    }

    static func table(_ table: ReportTable, summaries: [VariantSummary]) -> String {
        var html = head(table)
        let best = table.columns.map { table.bestRows(in: $0) }
        for row in 0..<table.rowCount {
            let summary = summaries[row]
            let rowClass: String
            switch summary.status {
            case .complete: rowClass = "complete"
            case .incomplete: rowClass = "incomplete"
            case .diverged: rowClass = "diverged"
            }
            html += "<tr class=\"\(rowClass)\">"
            for (index, column) in table.columns.enumerated() {
                var classes = [column.alignment == .right ? "num" : "text"]
                if best[index].contains(row) { classes.append("best") }
                let cell = column.cells[row].xmlEscaped
                if index == 0 {
                    // The variant's colour in the plots doubles as a key.
                    let swatch = "<span class=\"swatch\" style=\"background:\(Palette.color(at: row))\"></span>"
                    html += "<td class=\"\(classes.joined(separator: " "))\">\(swatch)\(cell)</td>"
                } else {
                    html += "<td class=\"\(classes.joined(separator: " "))\">\(cell)</td>"
                }
            }
            html += "</tr>\n"
        }
        html += "</tbody>\n</table></div>\n"
        return html
    }

    private static let style = """

    :root { color-scheme: light; }
    body { margin: 0; background: #f6f7f9; color: #1f2328;
      font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
    main { max-width: 1580px; margin: 0 auto; padding: 24px 32px 48px; }
    h1 { font-size: 26px; margin: 8px 0 4px; }
    h2 { font-size: 19px; margin: 32px 0 12px; border-bottom: 1px solid #d8dee4; padding-bottom: 4px; }
    p.overview { color: #57606a; margin-top: 4px; }
    p.note { color: #57606a; font-size: 13px; }
    div.table { overflow-x: auto; }
    table { border-collapse: collapse; background: #fff; font-size: 14px; box-shadow: 0 1px 2px rgba(0,0,0,.06); }
    th, td { padding: 6px 12px; border-bottom: 1px solid #e4e7eb; white-space: nowrap; }
    th { background: #eef1f4; font-weight: 600; position: sticky; top: 0; }
    td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
    td.text, th.text { text-align: left; }
    tbody tr:hover { background: #f3f8ff; }
    tr.incomplete td { color: #6e7781; font-style: italic; }
    tr.diverged td { color: #a40e26; }
    td.best { font-weight: 700; }
    .swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 8px; }
    .plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(520px, 100%), 1fr)); gap: 16px; }
    figure { margin: 0; background: #fff; border: 1px solid #e4e7eb; border-radius: 6px; padding: 8px; }
    figure svg { display: block; width: 100%; height: auto; }
    figure.wide { margin: 16px 0; max-width: 920px; }
    details { background: #fff; border: 1px solid #e4e7eb; border-radius: 6px; margin: 8px 0; padding: 8px 12px; }
    summary { cursor: pointer; }
    pre { background: #f6f8fa; padding: 12px; overflow-x: auto; font-size: 13px; }
    a { color: #0969da; }

    """
}
