import Foundation

/// A hand-written SVG line plot: title, 1-2-5 ticks with grid lines, axis titles, clipped series and a legend.
///
/// Each legend series with data becomes exactly one `<path class="series" data-series="…">` (markers are circles,
/// faint companions are `class="series-companion"`), so tools and tests can pick series out of the document.
public struct SVGPlot: Sendable {
    public enum YScale: Sendable, Equatable {
        case linear
        case logarithmic
        /// Logarithmic when the data spans more than two decades (see `AxisScale.automatic(for:)`).
        case automatic
    }

    /// Prefix of element ids; must differ between plots embedded in one HTML page.
    public var identifier: String
    public var title: String
    public var xTitle: String
    public var yTitle: String
    public var yScale: YScale
    /// Values the y axis must include regardless of the data (for instance, an upper bound of 100 %).
    public var yLimit: ClosedRange<Double>?
    /// A logarithmic x axis (for batch sizes); points at x ≤ 0 are then not drawn.
    public var xLogarithmic: Bool
    public var series: [PlotSeries]
    public var width: Double
    public var height: Double

    public init(
        identifier: String, title: String, xTitle: String, yTitle: String, yScale: YScale = .linear,
        yLimit: ClosedRange<Double>? = nil, xLogarithmic: Bool = false, series: [PlotSeries] = [],
        width: Double = 760, height: Double = 440
    ) {
        self.xLogarithmic = xLogarithmic
        self.identifier = identifier
        self.title = title
        self.xTitle = xTitle
        self.yTitle = yTitle
        self.yScale = yScale
        self.yLimit = yLimit
        self.series = series
        self.width = width
        self.height = height
    }

    public mutating func add(_ series: PlotSeries) {
        self.series.append(series)
    }

    // Layout, in SVG user units.
    private static let marginLeft = 76.0
    private static let marginRight = 196.0
    private static let marginTop = 46.0
    private static let marginBottom = 56.0
    private static let fontFamily = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"

    /// The y scale actually drawn, with `.automatic` resolved against the data.
    public var resolvedYScale: AxisScale {
        switch yScale {
        case .linear: return .linear
        case .logarithmic:
            return domainPoints.contains { $0.y > 0 && $0.y.isFinite } ? .logarithmic : .linear
        case .automatic: return AxisScale.automatic(for: domainPoints.map(\.y))
        }
    }

    /// The finite points that size the axes.
    private var domainPoints: [PlotPoint] {
        let sizing = series.filter(\.affectsDomain)
        return (sizing.isEmpty ? series : sizing).flatMap(\.points).filter { $0.x.isFinite && $0.y.isFinite }
    }

    /// A standalone SVG file.
    public var document: String {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + render()
    }

    /// The `<svg>` element alone, for inlining in HTML.
    public func render() -> String {
        let scale = resolvedYScale
        let points = domainPoints.filter { (scale == .linear || $0.y > 0) && (!xLogarithmic || $0.x > 0) }
        let xTicks: AxisTicks
        let yTicks: AxisTicks
        if points.isEmpty {
            xTicks = AxisTicks.linear(from: 0, to: 1)
            yTicks = AxisTicks.linear(from: 0, to: 1)
        } else {
            var xLow = Double.infinity, xHigh = -Double.infinity, yLow = Double.infinity, yHigh = -Double.infinity
            for point in points {
                xLow = min(xLow, point.x); xHigh = max(xHigh, point.x)
                yLow = min(yLow, point.y); yHigh = max(yHigh, point.y)
            }
            if let limit = yLimit {
                // Pad a little above the data but never past the limit: "nice" rounding would otherwise show 110 %.
                yLow = max(yLow, limit.lowerBound)
                yHigh = min(yHigh, limit.upperBound)
            }
            xTicks = xLogarithmic ? AxisTicks.logarithmic(from: xLow, to: xHigh)
                : AxisTicks.linear(from: xLow, to: xHigh, targetCount: 7)
            yTicks = scale == .logarithmic
                ? AxisTicks.logarithmic(from: yLow, to: yHigh) : AxisTicks.linear(from: yLow, to: yHigh)
        }
        let frame = PlotFrame(
            left: Self.marginLeft, top: Self.marginTop, width: width - Self.marginLeft - Self.marginRight,
            height: height - Self.marginTop - Self.marginBottom, xTicks: xTicks, yTicks: yTicks)

        var svg = ""
        svg.reserveCapacity(16_384)
        let id = identifier.xmlEscaped
        svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(svgNumber(width)) \(svgNumber(height))\" "
        svg += "width=\"\(svgNumber(width))\" height=\"\(svgNumber(height))\" role=\"img\" aria-labelledby=\"\(id)-title\" "
        svg += "font-family=\"\(Self.fontFamily)\" font-size=\"12\">\n"
        svg += "<title id=\"\(id)-title\">\(title.xmlEscaped)</title>\n"
        svg += "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n"
        // The clip reaches a little past the frame, so lines and markers on its edge are not cut in half.
        let bleed = 5.0
        svg += "<defs><clipPath id=\"\(id)-clip\"><rect x=\"\(svgNumber(frame.left - bleed))\" "
        svg += "y=\"\(svgNumber(frame.top - bleed))\" width=\"\(svgNumber(frame.width + 2 * bleed))\" "
        svg += "height=\"\(svgNumber(frame.height + 2 * bleed))\"/></clipPath></defs>\n"
        svg += "<text x=\"\(svgNumber(frame.left))\" y=\"26\" font-size=\"16\" font-weight=\"600\" fill=\"#222222\">"
        svg += "\(title.xmlEscaped)</text>\n"
        svg += axes(frame)
        if points.isEmpty {
            svg += "<text x=\"\(svgNumber(frame.left + frame.width / 2))\" y=\"\(svgNumber(frame.top + frame.height / 2))\" "
            svg += "text-anchor=\"middle\" fill=\"#888888\" font-size=\"14\">No data yet</text>\n"
        }
        svg += "<g clip-path=\"url(#\(id)-clip)\" fill=\"none\" stroke-linejoin=\"round\" stroke-linecap=\"round\">\n"
        // Faint companions first, so the main lines draw over them.
        for item in series.filter({ !$0.showsInLegend }) + series.filter(\.showsInLegend) {
            svg += seriesElements(item, frame: frame)
        }
        svg += "</g>\n"
        svg += legend(frame)
        svg += "</svg>\n"
        return svg
    }

    private func axes(_ frame: PlotFrame) -> String {
        var svg = "<g stroke=\"#e3e3e3\" stroke-width=\"1\">\n"
        for value in frame.xTicks.values {
            let x = svgNumber(frame.x(value))
            svg += "<line x1=\"\(x)\" y1=\"\(svgNumber(frame.top))\" x2=\"\(x)\" y2=\"\(svgNumber(frame.bottom))\"/>\n"
        }
        for value in frame.yTicks.values {
            let y = svgNumber(frame.y(value))
            svg += "<line x1=\"\(svgNumber(frame.left))\" y1=\"\(y)\" x2=\"\(svgNumber(frame.right))\" y2=\"\(y)\"/>\n"
        }
        svg += "</g>\n"
        svg += "<g stroke=\"#555555\" stroke-width=\"1\">\n"
        svg += "<line x1=\"\(svgNumber(frame.left))\" y1=\"\(svgNumber(frame.bottom))\" x2=\"\(svgNumber(frame.right))\" "
        svg += "y2=\"\(svgNumber(frame.bottom))\"/>\n"
        svg += "<line x1=\"\(svgNumber(frame.left))\" y1=\"\(svgNumber(frame.top))\" x2=\"\(svgNumber(frame.left))\" "
        svg += "y2=\"\(svgNumber(frame.bottom))\"/>\n"
        for value in frame.xTicks.values {
            let x = svgNumber(frame.x(value))
            svg += "<line x1=\"\(x)\" y1=\"\(svgNumber(frame.bottom))\" x2=\"\(x)\" y2=\"\(svgNumber(frame.bottom + 5))\"/>\n"
        }
        for value in frame.yTicks.values {
            let y = svgNumber(frame.y(value))
            svg += "<line x1=\"\(svgNumber(frame.left - 5))\" y1=\"\(y)\" x2=\"\(svgNumber(frame.left))\" y2=\"\(y)\"/>\n"
        }
        svg += "</g>\n"
        svg += "<g fill=\"#444444\">\n"
        for (value, label) in zip(frame.xTicks.values, frame.xTicks.labels) {
            svg += "<text x=\"\(svgNumber(frame.x(value)))\" y=\"\(svgNumber(frame.bottom + 19))\" text-anchor=\"middle\">"
            svg += "\(label.xmlEscaped)</text>\n"
        }
        for (value, label) in zip(frame.yTicks.values, frame.yTicks.labels) {
            svg += "<text x=\"\(svgNumber(frame.left - 9))\" y=\"\(svgNumber(frame.y(value) + 4))\" text-anchor=\"end\">"
            svg += "\(label.xmlEscaped)</text>\n"
        }
        svg += "</g>\n"
        let xTitleX = svgNumber(frame.left + frame.width / 2)
        svg += "<text x=\"\(xTitleX)\" y=\"\(svgNumber(frame.bottom + 42))\" text-anchor=\"middle\" font-size=\"13\" "
        svg += "fill=\"#222222\">\(xTitle.xmlEscaped)</text>\n"
        let yTitleY = svgNumber(frame.top + frame.height / 2)
        svg += "<text x=\"18\" y=\"\(yTitleY)\" transform=\"rotate(-90 18 \(yTitleY))\" text-anchor=\"middle\" "
        svg += "font-size=\"13\" fill=\"#222222\">\(yTitle.xmlEscaped)</text>\n"
        return svg
    }

    private func seriesElements(_ item: PlotSeries, frame: PlotFrame) -> String {
        let logarithmic = frame.yTicks.scale == .logarithmic
        // Map to pixels, splitting into runs at points that cannot be drawn.
        var runs: [[(x: Double, y: Double)]] = []
        var current: [(x: Double, y: Double)] = []
        for point in item.points {
            if point.x.isFinite && point.y.isFinite && (!logarithmic || point.y > 0)
                && (frame.xTicks.scale != .logarithmic || point.x > 0) {
                current.append((frame.x(point.x), frame.y(point.y)))
            } else if !current.isEmpty {
                runs.append(current)
                current = []
            }
        }
        if !current.isEmpty { runs.append(current) }
        guard !runs.isEmpty else { return "" }

        var d = ""
        for run in runs {
            let thinned = run.count > Int(frame.width) * 2 ? Self.thin(run) : run
            d += "M\(svgNumber(thinned[0].x)) \(svgNumber(thinned[0].y))"
            if thinned.count == 1 {
                // A zero-length segment with round caps shows a lone point as a dot.
                d += "h0"
            }
            for point in thinned.dropFirst() {
                d += "L\(svgNumber(point.x)) \(svgNumber(point.y))"
            }
        }
        // Companions (raw under smoothed) get their own class, so `class="series"` counts one path per series.
        let role = item.showsInLegend ? "series" : "series-companion"
        var svg = "<path class=\"\(role)\" data-series=\"\(item.name.xmlEscaped)\" d=\"\(d)\" "
        svg += "stroke=\"\(item.color.xmlEscaped)\" stroke-width=\"\(svgNumber(item.lineWidth))\""
        if let dash = item.dash { svg += " stroke-dasharray=\"\(dash.xmlEscaped)\"" }
        if item.opacity < 1 { svg += " stroke-opacity=\"\(svgNumber(item.opacity, decimals: 2))\"" }
        svg += "><title>\(item.name.xmlEscaped)</title></path>\n"
        let lonePoint = runs.count == 1 && runs[0].count == 1
        if drawsMarkers(item, frame: frame) || lonePoint {
            svg += "<g fill=\"\(item.color.xmlEscaped)\" stroke=\"#ffffff\" stroke-width=\"1\">"
            for run in runs {
                for point in run {
                    svg += "<circle cx=\"\(svgNumber(point.x))\" cy=\"\(svgNumber(point.y))\" r=\"3.5\"/>"
                }
            }
            svg += "</g>\n"
        }
        return svg
    }

    /// Markers only while they stay apart (about 16 units each); denser, they would merge into a blurred line.
    private func drawsMarkers(_ item: PlotSeries, frame: PlotFrame) -> Bool {
        item.showsMarkers && item.points.count <= Int(frame.width / 16)
    }

    /// Keeps the first, lowest, highest and last point of every pixel column, so a long series stays small
    /// without hiding spikes.
    static func thin(_ run: [(x: Double, y: Double)]) -> [(x: Double, y: Double)] {
        var result: [(x: Double, y: Double)] = []
        result.reserveCapacity(run.count / 4)
        var start = 0
        while start < run.count {
            let column = run[start].x.rounded(.down)
            var end = start + 1
            var lowest = start
            var highest = start
            while end < run.count && run[end].x.rounded(.down) == column {
                if run[end].y < run[lowest].y { lowest = end }
                if run[end].y > run[highest].y { highest = end }
                end += 1
            }
            for index in Set([start, lowest, highest, end - 1]).sorted() {
                result.append(run[index])
            }
            start = end
        }
        return result
    }

    private func legend(_ frame: PlotFrame) -> String {
        let entries = series.filter(\.showsInLegend)
        guard !entries.isEmpty else { return "" }
        let x = frame.right + 18
        let spacing = min(22.0, max(14.0, frame.height / Double(entries.count)))
        var svg = "<g font-size=\"12\">\n"
        for (index, item) in entries.enumerated() {
            let y = frame.top + 8 + Double(index) * spacing
            let hasData = item.points.contains { $0.x.isFinite && $0.y.isFinite }
            let name = Self.truncated(item.name, to: 24)
            if hasData {
                svg += "<line x1=\"\(svgNumber(x))\" y1=\"\(svgNumber(y))\" x2=\"\(svgNumber(x + 22))\" y2=\"\(svgNumber(y))\" "
                svg += "stroke=\"\(item.color.xmlEscaped)\" stroke-width=\"\(svgNumber(max(item.lineWidth, 2)))\""
                if let dash = item.dash { svg += " stroke-dasharray=\"\(dash.xmlEscaped)\"" }
                svg += "/>"
                if drawsMarkers(item, frame: frame) {
                    svg += "<circle cx=\"\(svgNumber(x + 11))\" cy=\"\(svgNumber(y))\" r=\"3.5\" "
                    svg += "fill=\"\(item.color.xmlEscaped)\"/>"
                }
                svg += "<text x=\"\(svgNumber(x + 28))\" y=\"\(svgNumber(y + 4))\" fill=\"#222222\">\(name.xmlEscaped)"
            } else {
                svg += "<text x=\"\(svgNumber(x + 28))\" y=\"\(svgNumber(y + 4))\" fill=\"#999999\" font-style=\"italic\">"
                svg += "\(name.xmlEscaped) (no data)"
            }
            svg += "<title>\(item.name.xmlEscaped)</title></text>\n"
        }
        svg += "</g>\n"
        return svg
    }

    private static func truncated(_ text: String, to length: Int) -> String {
        text.count <= length ? text : String(text.prefix(length - 1)) + "…"
    }
}

/// The plot area and the mapping of data values onto it.
private struct PlotFrame {
    var left: Double
    var top: Double
    var width: Double
    var height: Double
    var xTicks: AxisTicks
    var yTicks: AxisTicks

    var right: Double { left + width }
    var bottom: Double { top + height }

    func x(_ value: Double) -> Double {
        guard xTicks.scale == .logarithmic else { return left + (value - xTicks.lower) / (xTicks.upper - xTicks.lower) * width }
        return left + (log10(value) - log10(xTicks.lower)) / (log10(xTicks.upper) - log10(xTicks.lower)) * width
    }

    func y(_ value: Double) -> Double {
        let fraction: Double
        if yTicks.scale == .logarithmic {
            fraction = (log10(value) - log10(yTicks.lower)) / (log10(yTicks.upper) - log10(yTicks.lower))
        } else {
            fraction = (value - yTicks.lower) / (yTicks.upper - yTicks.lower)
        }
        // Far out-of-range values (a diverged loss on a clipped axis) stay within renderer-friendly bounds.
        return bottom - min(max(fraction, -10), 11) * height
    }
}

/// A coordinate with at most `decimals` decimals and no trailing zeros, to keep path data short.
func svgNumber(_ value: Double, decimals: Int = 1) -> String {
    let scale = decimals == 1 ? 10.0 : pow(10, Double(decimals))
    let rounded = (value * scale).rounded() / scale
    if rounded == rounded.rounded() && abs(rounded) < 1e15 { return String(Int(rounded)) }
    return String(format: "%.\(decimals)f", rounded)
}
