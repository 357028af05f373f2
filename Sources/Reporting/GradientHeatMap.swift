import Foundation

/// A figure of the report that is not a line plot, with the file it is written to under `plots/`.
public struct ReportFigure: Sendable {
    public var fileName: String
    public var caption: String
    /// The `<svg>` element, for inline use in HTML.
    public var svg: String
    /// A standalone SVG file.
    public var document: String { "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + svg }
}

/// One variant's gradient magnitudes over training as heat maps, one panel per parameter tensor:
/// log10 |g| across, the recorded steps down (first at the top), and the share of the tensor's
/// elements in each bin as the colour's strength (square-root scaled, so a tail of 1 % still shows).
/// A long tail is a smear toward the right edge; vanishing gradients drift left over the steps.
///
/// Every cell is a `<rect class="cell">` carrying a `<title>` with its step, range and share, and
/// each panel a `<g class="panel" data-tensor="…">`, so that tools and tests can read the figure.
enum GradientHeatMap {
    static let columns = 3
    static let panelWidth = 300.0, panelHeight = 190.0
    static let plotLeft = 46.0, plotTop = 26.0, plotWidth = 240.0, plotHeight = 128.0
    /// Steps drawn at most per panel; longer runs show evenly spaced ones.
    static let maximumRows = 60
    static let color = "#1f5fa8"

    static func make(for variants: [SweepVariant]) -> [ReportFigure] {
        variants.compactMap { variant in
            guard !variant.gradientMagnitudes.isEmpty else { return nil }
            let name = variant.directoryName
            return ReportFigure(
                fileName: "gradient-magnitudes-\(name).svg",
                caption: "Gradient magnitudes per tensor over training: \(variant.name)",
                svg: render(variant.gradientMagnitudes, title: "Gradient magnitudes, \(variant.name)",
                            identifier: "heat-\(name)"))
        }
    }

    static func render(_ records: [GradientMagnitudes], title: String, identifier: String) -> String {
        var tensors: [String] = []
        var byTensor: [String: [GradientMagnitudes]] = [:]
        for record in records {
            if byTensor[record.tensor] == nil { tensors.append(record.tensor) }
            byTensor[record.tensor, default: []].append(record)
        }
        // One column range for every panel, trimmed to the bins that ever hold anything.
        let occupied = records.flatMap { record in record.counts.indices.filter { record.counts[$0] > 0 }.map { record.edgeExponent($0) } }
        let low = (occupied.min() ?? 0).rounded(.down), high = ((occupied.max() ?? 0) + 0.25).rounded(.up)
        let rowsOfPanels = (tensors.count + columns - 1) / columns
        let width = Double(columns) * panelWidth, height = 34 + Double(rowsOfPanels) * panelHeight
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"\(identifier.xmlEscaped)\" "
        svg += "viewBox=\"0 0 \(format(width)) \(format(height))\" width=\"\(format(width))\" height=\"\(format(height))\" "
        svg += "font-family=\"system-ui, sans-serif\" font-size=\"11\">\n"
        svg += "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n"
        svg += "<text x=\"\(format(width / 2))\" y=\"20\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"600\">"
        svg += "\(title.xmlEscaped)</text>\n"
        for (index, tensor) in tensors.enumerated() {
            let x = Double(index % columns) * panelWidth, y = 34 + Double(index / columns) * panelHeight
            svg += panel(byTensor[tensor]!, tensor: tensor, x: x, y: y, low: low, high: high)
        }
        svg += "</svg>\n"
        return svg
    }

    private static func panel(_ records: [GradientMagnitudes], tensor: String, x: Double, y: Double,
                              low: Double, high: Double) -> String {
        let rows = records.count <= maximumRows ? records
            : (0..<maximumRows).map { records[$0 * (records.count - 1) / (maximumRows - 1)] }
        var svg = "<g class=\"panel\" data-tensor=\"\(tensor.xmlEscaped)\" transform=\"translate(\(format(x)),\(format(y)))\">\n"
        svg += "<text x=\"\(format(plotLeft + plotWidth / 2))\" y=\"16\" text-anchor=\"middle\" font-weight=\"600\">"
        svg += "\(tensor.xmlEscaped)</text>\n"
        svg += "<rect x=\"\(format(plotLeft))\" y=\"\(format(plotTop))\" width=\"\(format(plotWidth))\" "
        svg += "height=\"\(format(plotHeight))\" fill=\"#f6f8fa\" stroke=\"#d0d7de\"/>\n"
        let span = max(high - low, 0.25)
        func xPosition(_ exponent: Double) -> Double {
            plotLeft + (min(max(exponent, low), high) - low) / span * plotWidth
        }
        let rowHeight = plotHeight / Double(rows.count)
        for (row, record) in rows.enumerated() {
            let total = Double(max(record.total, 1))
            for (bin, count) in record.counts.enumerated() where count > 0 {
                // The end bins are open: draw them a quarter decade wide at the edge of their range.
                let left = bin == 0 ? record.edgeExponent(1) - 0.25 : record.edgeExponent(bin)
                let right = bin == record.counts.count - 1 ? left + 0.25 : record.edgeExponent(bin + 1)
                let share = Double(count) / total
                let x0 = xPosition(left), x1 = xPosition(right)
                svg += "<rect class=\"cell\" x=\"\(format(x0))\" y=\"\(format(plotTop + Double(row) * rowHeight))\" "
                svg += "width=\"\(format(max(x1 - x0, 0.5)))\" height=\"\(format(rowHeight))\" fill=\"\(color)\" "
                let label = "step \(record.step), \(rangeLabel(bin, record)): \(String(format: "%.2f", 100 * share))%"
                svg += "fill-opacity=\"\(String(format: "%.3f", share.squareRoot()))\"><title>\(label.xmlEscaped)</title></rect>\n"
            }
        }
        // Decade ticks across, first and last step down.
        var exponent = low
        while exponent <= high {
            let tickX = xPosition(exponent)
            svg += "<line x1=\"\(format(tickX))\" x2=\"\(format(tickX))\" y1=\"\(format(plotTop + plotHeight))\" "
            svg += "y2=\"\(format(plotTop + plotHeight + 4))\" stroke=\"#57606a\"/>\n"
            svg += "<text x=\"\(format(tickX))\" y=\"\(format(plotTop + plotHeight + 15))\" text-anchor=\"middle\">"
            svg += "1e\(Int(exponent))</text>\n"
            exponent += span > 6 ? 2 : 1
        }
        svg += "<text x=\"\(format(plotLeft + plotWidth / 2))\" y=\"\(format(plotTop + plotHeight + 29))\" "
        svg += "text-anchor=\"middle\" fill=\"#57606a\">|gradient|</text>\n"
        svg += "<text x=\"\(format(plotLeft - 4))\" y=\"\(format(plotTop + 9))\" text-anchor=\"end\">\(rows.first!.step)</text>\n"
        svg += "<text x=\"\(format(plotLeft - 4))\" y=\"\(format(plotTop + plotHeight))\" text-anchor=\"end\">"
        svg += "\(rows.last!.step)</text>\n"
        svg += "<text x=\"\(format(plotLeft - 4))\" y=\"\(format(plotTop + plotHeight / 2 + 4))\" text-anchor=\"end\" "
        svg += "fill=\"#57606a\">step</text>\n"
        svg += "</g>\n"
        return svg
    }

    private static func rangeLabel(_ bin: Int, _ record: GradientMagnitudes) -> String {
        func power(_ exponent: Double) -> String { String(format: "%.3g", pow(10, exponent)) }
        if bin == 0 { return "|g| < \(power(record.edgeExponent(1)))" }
        if bin == record.counts.count - 1 { return "|g| ≥ \(power(record.edgeExponent(bin)))" }
        return "\(power(record.edgeExponent(bin)))–\(power(record.edgeExponent(bin + 1)))"
    }

    private static func format(_ value: Double) -> String { String(format: "%.1f", value) }
}
