/// One (x, y) sample of a plotted series.
public struct PlotPoint: Sendable, Equatable {
    public var x: Double
    public var y: Double

    public init(x: Double, y: Double) {
        self.x = x
        self.y = y
    }
}

/// A named line of a plot and how to draw it.
public struct PlotSeries: Sendable {
    public var name: String
    /// Points in drawing order; a non-finite value (or a non-positive y on a log axis) breaks the line there.
    public var points: [PlotPoint]
    /// A CSS colour.
    public var color: String
    /// An SVG `stroke-dasharray`, nil for solid.
    public var dash: String?
    public var lineWidth: Double
    public var opacity: Double
    /// Circles at every point, for sparse series such as evaluations (left out when too dense to tell apart).
    public var showsMarkers: Bool
    /// Whether the legend lists the series; a faint companion of another series (raw under smoothed) does not.
    public var showsInLegend: Bool
    /// Whether the axes are sized to include it; excluded series are clipped to the plot area instead.
    public var affectsDomain: Bool

    public init(
        name: String, points: [PlotPoint], color: String, dash: String? = nil, lineWidth: Double = 2,
        opacity: Double = 1, showsMarkers: Bool = false, showsInLegend: Bool = true, affectsDomain: Bool = true
    ) {
        self.name = name
        self.points = points
        self.color = color
        self.dash = dash
        self.lineWidth = lineWidth
        self.opacity = opacity
        self.showsMarkers = showsMarkers
        self.showsInLegend = showsInLegend
        self.affectsDomain = affectsDomain
    }

    public init(name: String, points: [(x: Double, y: Double)], color: String) {
        self.init(name: name, points: points.map { PlotPoint(x: $0.x, y: $0.y) }, color: color)
    }
}
