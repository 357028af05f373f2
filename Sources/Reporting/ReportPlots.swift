import Foundation

/// One plot of the report and the file it is written to under `plots/`.
public struct ReportPlot: Sendable {
    public var fileName: String
    /// Alt text and caption.
    public var caption: String
    public var plot: SVGPlot
}

/// The six comparison plots, one series per variant with a fixed colour per variant across all plots.
enum ReportPlots {
    static func make(for variants: [SweepVariant], options: ReportOptions) -> [ReportPlot] {
        let colored = variants.enumerated().map { (index, variant) in
            (variant: variant, color: Palette.color(at: index), dash: Palette.dash(at: index))
        }
        func lines(
            _ points: (SweepVariant) -> [PlotPoint], markers: Bool = false, width: Double = 2
        ) -> [PlotSeries] {
            colored.map { item in
                PlotSeries(
                    name: item.variant.name, points: points(item.variant), color: item.color, dash: item.dash,
                    lineWidth: width, showsMarkers: markers)
            }
        }
        func plot(
            _ fileName: String, _ title: String, x: String, y: String, scale: SVGPlot.YScale = .linear,
            limit: ClosedRange<Double>? = nil, _ series: [PlotSeries]
        ) -> ReportPlot {
            let identifier = "plot-" + fileName.replacingOccurrences(of: ".svg", with: "")
            return ReportPlot(
                fileName: fileName, caption: title,
                plot: SVGPlot(identifier: identifier, title: title, xTitle: x, yTitle: y, yScale: scale,
                              yLimit: limit, series: series))
        }

        let accuracyTitle = "Test accuracy (%)"
        let accuracyByEpoch = lines({ v in
            v.metrics.evaluations.map { PlotPoint(x: $0.epoch, y: $0.testAccuracy * 100) }
        }, markers: true)
        let accuracyByTime = lines({ v in
            v.metrics.evaluations.map { PlotPoint(x: $0.elapsed, y: $0.testAccuracy * 100) }
        }, markers: true)

        // Smooth once per variant; the epoch and time plots share the values.
        let smoothedLoss = variants.map { variant in
            let losses = variant.metrics.steps.map(\.loss)
            let weight = options.lossSmoothing ?? Smoothing.automaticWeight(count: losses.count)
            return Smoothing.exponentialMovingAverage(losses, weight: weight)
        }
        func loss(_ x: @escaping (StepRecord) -> Double) -> [PlotSeries] {
            var series: [PlotSeries] = []
            for (index, item) in colored.enumerated() {
                let steps = item.variant.metrics.steps
                if options.showsRawLoss {
                    series.append(PlotSeries(
                        name: item.variant.name, points: steps.map { PlotPoint(x: x($0), y: $0.loss) },
                        color: item.color, lineWidth: 1, opacity: 0.3, showsInLegend: false,
                        affectsDomain: false))
                }
                series.append(PlotSeries(
                    name: item.variant.name,
                    points: zip(steps, smoothedLoss[index]).map { PlotPoint(x: x($0.0), y: $0.1) },
                    color: item.color, dash: item.dash))
            }
            return series
        }
        let lossTitle = options.showsRawLoss ? "Training loss (EMA; raw faint)" : "Training loss (EMA)"

        return [
            plot("accuracy-vs-epochs.svg", "Test accuracy vs epochs", x: "Epochs", y: accuracyTitle,
                 limit: 0...100, accuracyByEpoch),
            plot("accuracy-vs-time.svg", "Test accuracy vs wall-clock time", x: "Wall-clock time (s)",
                 y: accuracyTitle, limit: 0...100, accuracyByTime),
            plot("loss-vs-epochs.svg", "Training loss vs epochs", x: "Epochs", y: lossTitle, scale: .automatic,
                 loss(\.epoch)),
            plot("loss-vs-time.svg", "Training loss vs wall-clock time", x: "Wall-clock time (s)", y: lossTitle,
                 scale: .automatic, loss(\.elapsed)),
            plot("learning-rate.svg", "Learning rate schedule", x: "Optimizer step", y: "Learning rate",
                 scale: .automatic, lines { v in
                     v.metrics.steps.map { PlotPoint(x: Double($0.step), y: $0.learningRate) }
                 }),
            plot("gradient-norm.svg", "Gradient norm", x: "Optimizer step", y: "Gradient L2 norm (before clipping)",
                 scale: .automatic, lines({ v in
                     v.metrics.steps.map { PlotPoint(x: Double($0.step), y: $0.gradientNorm) }
                 }, width: 1.25)),
        ]
    }
}

extension ReportPlots {
    /// Steps and examples to the target against the effective batch, log–log: per recipe group the best
    /// variant of each batch, perfect scaling from its smallest batch that reached the target, the fitted
    /// curve of `CriticalBatchAnalysis`, and each batch's mean measured noise scale B_simple at its steps.
    static func scaling(_ analysis: CriticalBatchAnalysis) -> [ReportPlot] {
        let target = ReportTable.percentLabel(analysis.target)
        let batches = analysis.groups.flatMap { $0.points.map { Double($0.effectiveBatch) } }
        let low = batches.min() ?? 1, high = batches.max() ?? 1
        // Log-spaced batches for the model curves, across the measured range.
        let grid = (0...48).map { low * pow(high / low, Double($0) / 48) }

        func plot(_ fileName: String, _ title: String, y: String, perfect: @escaping (_ value: Double, _ from: Double, _ at: Double) -> Double,
                  measure: (CriticalBatchAnalysis.Point) -> Double?,
                  model: (CriticalBatchAnalysis.Fit, Double) -> Double) -> ReportPlot {
            var series: [PlotSeries] = []
            for (index, group) in analysis.groups.enumerated() {
                let color = Palette.color(at: index)
                let label = group.name.map { "\($0): " } ?? ""
                let reached = group.points.filter { measure($0) != nil }
                series.append(PlotSeries(name: label + "best per batch",
                                         points: reached.map { PlotPoint(x: Double($0.effectiveBatch), y: measure($0)!) },
                                         color: color, showsMarkers: true))
                if let first = reached.first, let value = measure(first) {
                    series.append(PlotSeries(name: label + "perfect scaling",
                                             points: grid.map { PlotPoint(x: $0, y: perfect(value, Double(first.effectiveBatch), $0)) },
                                             color: color, dash: "6 3", lineWidth: 1, opacity: 0.6, affectsDomain: false))
                }
                if let fit = group.fit {
                    series.append(PlotSeries(name: label + String(format: "fit, B_crit = %.0f", fit.criticalBatch),
                                             points: grid.map { PlotPoint(x: $0, y: model(fit, $0)) },
                                             color: color, dash: "2 3", lineWidth: 1.5, affectsDomain: false))
                }
                let noise = reached.compactMap { point in point.meanNoiseScale.map { PlotPoint(x: $0, y: measure(point)!) } }
                if !noise.isEmpty {
                    // In the domain: a noise scale far below the batches measured is the point of the comparison.
                    series.append(PlotSeries(name: label + "B_simple (measured)", points: noise, color: color,
                                             opacity: 0, showsMarkers: true))
                }
            }
            let identifier = "plot-" + fileName.replacingOccurrences(of: ".svg", with: "")
            return ReportPlot(fileName: fileName, caption: title,
                              plot: SVGPlot(identifier: identifier, title: title, xTitle: "Effective batch size",
                                            yTitle: y, yScale: .logarithmic, xLogarithmic: true, series: series))
        }
        return [
            plot("steps-to-target.svg", "Steps to \(target) test accuracy", y: "Optimizer steps",
                 perfect: { value, from, at in value * from / at },
                 measure: { $0.stepsToTarget.map(Double.init) }, model: { fit, b in fit.steps(atBatch: b) }),
            plot("examples-to-target.svg", "Examples to \(target) test accuracy", y: "Training examples",
                 perfect: { value, _, _ in value },
                 measure: \.examplesToTarget, model: { fit, b in fit.steps(atBatch: b) * b }),
        ]
    }
}
