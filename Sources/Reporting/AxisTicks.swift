import Foundation

/// How values map onto an axis.
public enum AxisScale: Sendable, Equatable {
    case linear
    case logarithmic

    /// Logarithmic when all values are positive and span more than two decades; there a linear axis would squash
    /// everything but the largest values into its bottom pixels.
    public static func automatic(for values: some Sequence<Double>) -> AxisScale {
        var lower = Double.infinity
        var upper = -Double.infinity
        for value in values where value.isFinite {
            if value <= 0 { return .linear }
            lower = min(lower, value)
            upper = max(upper, value)
        }
        guard lower.isFinite else { return .linear }
        return upper / lower > 100 ? .logarithmic : .linear
    }
}

/// An axis domain widened to round numbers, with the tick values in it and their labels.
public struct AxisTicks: Sendable, Equatable {
    public var lower: Double
    public var upper: Double
    public var values: [Double]
    public var labels: [String]
    public var scale: AxisScale

    public init(lower: Double, upper: Double, values: [Double], labels: [String], scale: AxisScale) {
        precondition(values.count == labels.count, "one label per tick")
        self.lower = lower
        self.upper = upper
        self.values = values
        self.labels = labels
        self.scale = scale
    }

    /// Ticks at multiples of 1, 2 or 5 × 10ⁿ, so labels are short and a reader can interpolate between them.
    ///
    /// The domain is widened outward to the nearest ticks; a degenerate range (one value) is padded around it.
    public static func linear(from minimum: Double, to maximum: Double, targetCount: Int = 6) -> AxisTicks {
        precondition(minimum.isFinite && maximum.isFinite, "tick range must be finite")
        precondition(targetCount >= 2, "need at least two ticks")
        var low = Swift.min(minimum, maximum)
        var high = Swift.max(minimum, maximum)
        if high - low <= Swift.max(abs(low), abs(high)) * 1e-12 {
            let pad = low == 0 ? 1 : abs(low) * 0.1
            low -= pad
            high += pad
        }
        let step = niceStep(near: (high - low) / Double(targetCount - 1))
        // Index arithmetic keeps tick values exact multiples of the step despite floating-point error.
        let slack = 1e-9
        let first = (low / step + slack).rounded(.down)
        let last = (high / step - slack).rounded(.up)
        let values = stride(from: first, through: last, by: 1).map { $0 * step }
        let labels = values.map { format($0, step: step, largest: Swift.max(abs(first), abs(last)) * step) }
        return AxisTicks(lower: first * step, upper: last * step, values: values, labels: labels, scale: .linear)
    }

    /// Ticks at powers of ten; within three decades also at 2 and 5 × 10ⁿ (with the domain narrowed to those),
    /// over many decades at every few powers.
    public static func logarithmic(from minimum: Double, to maximum: Double) -> AxisTicks {
        precondition(minimum > 0 && maximum > 0 && minimum.isFinite && maximum.isFinite,
                     "logarithmic ticks need a positive finite range")
        let low = Swift.min(minimum, maximum)
        let high = Swift.max(minimum, maximum)
        let slack = 1e-9
        let lowDecade = Int((log10(low) + slack).rounded(.down))
        var highDecade = Int((log10(high) - slack).rounded(.up))
        if highDecade == lowDecade { highDecade += 1 }
        if high / low <= 1000 {
            let candidates = (lowDecade...highDecade).flatMap { exponent in
                [1.0, 2, 5].map { (mantissa: $0, exponent: exponent) as (mantissa: Double, exponent: Int) }
            }
            let values = candidates.map { power(mantissa: $0.mantissa, exponent: $0.exponent) }
            let first = values.lastIndex { $0 <= low * (1 + slack) } ?? 0
            let last = values.firstIndex { $0 >= high * (1 - slack) } ?? values.count - 1
            let chosen = candidates[first...last]
            let plain = chosen.allSatisfy { plainExponents.contains($0.exponent) }
            return AxisTicks(
                lower: values[first], upper: values[last], values: Array(values[first...last]),
                labels: chosen.map { formatPower(mantissa: $0.mantissa, exponent: $0.exponent, plain: plain) },
                scale: .logarithmic)
        }
        // Label every few decades so that about six ticks remain.
        let every = Swift.max(1, Int((Double(highDecade - lowDecade) / 6).rounded(.up)))
        var exponents = [lowDecade]
        var exponent = lowDecade
        while exponent < highDecade {
            exponent += every
            exponents.append(exponent)
        }
        let plain = exponents.allSatisfy { plainExponents.contains($0) }
        let values = exponents.map { power(mantissa: 1, exponent: $0) }
        return AxisTicks(
            lower: values[0], upper: values[values.count - 1], values: values,
            labels: exponents.map { formatPower(mantissa: 1, exponent: $0, plain: plain) }, scale: .logarithmic)
    }

    /// The 1, 2 or 5 × 10ⁿ closest (on a log scale) to `roughStep`.
    public static func niceStep(near roughStep: Double) -> Double {
        precondition(roughStep > 0 && roughStep.isFinite, "step must be positive and finite")
        let exponent = log10(roughStep).rounded(.down)
        let magnitude = pow(10, exponent)
        let fraction = roughStep / magnitude
        let mantissa: Double
        // Geometric midpoints between 1, 2, 5 and 10.
        if fraction < 1.4142 { mantissa = 1 } else if fraction < 3.1623 { mantissa = 2 }
        else if fraction < 7.0711 { mantissa = 5 } else { mantissa = 10 }
        return mantissa * magnitude
    }

    /// Exact decimal powers: `pow(10, -3)` is not the double closest to 0.001, `1 / 1000` is.
    private static func power(mantissa: Double, exponent: Int) -> Double {
        exponent >= 0 ? mantissa * pow(10, Double(exponent)) : mantissa / pow(10, Double(-exponent))
    }

    /// Powers of ten printed as plain decimals ("0.001", "10000"); beyond, labels use 10ⁿ notation.
    private static let plainExponents = -4...5

    /// "20" or "0.005" when the whole axis fits plain decimals, else "2×10⁻⁶" and "10⁻⁶", so one axis never mixes
    /// notations.
    private static func formatPower(mantissa: Double, exponent: Int, plain: Bool) -> String {
        let digit = String(Int(mantissa))
        if plain {
            if exponent >= 0 { return digit + String(repeating: "0", count: exponent) }
            return "0." + String(repeating: "0", count: -exponent - 1) + digit
        }
        let superscripts: [Character: Character] = [
            "0": "⁰", "1": "¹", "2": "²", "3": "³", "4": "⁴", "5": "⁵", "6": "⁶", "7": "⁷", "8": "⁸", "9": "⁹",
            "-": "⁻",
        ]
        let power = "10" + String(String(exponent).map { superscripts[$0] ?? $0 })
        return mantissa == 1 ? power : digit + "×" + power
    }

    /// Just the decimals the step needs, so "0.0014" and "250" rather than "0.00140000" or "250.0"; exponent
    /// notation only for very small or very large magnitudes.
    static func format(_ value: Double, step: Double, largest: Double) -> String {
        // Zero prints like its neighbours ("0.0" beside "0.2"), never as "-0.0" from rounding error.
        let value = abs(value) < step * 1e-6 ? 0 : value
        let stepExponent = Int((log10(step) + 1e-9).rounded(.down))
        let decimals = Swift.max(0, -stepExponent)
        if decimals <= 5 && largest < 1e7 {
            return String(format: "%.\(decimals)f", value)
        }
        if value == 0 { return "0" }
        let valueExponent = Int((log10(abs(value)) + 1e-9).rounded(.down))
        let mantissaDecimals = Swift.max(0, valueExponent - stepExponent)
        let mantissa = value / pow(10, Double(valueExponent))
        return String(format: "%.\(mantissaDecimals)fe%d", mantissa, valueExponent)
    }
}
