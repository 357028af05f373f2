/// Exponential moving averages for noisy per-step curves.
public enum Smoothing {
    /// The bias-corrected EMA (as in Adam): early points are not pulled toward zero the way a zero-started EMA
    /// pulls them. Non-finite values pass through unchanged and do not enter the average, so a diverged step shows
    /// as a gap rather than poisoning every later point.
    public static func exponentialMovingAverage(_ values: [Double], weight: Double) -> [Double] {
        precondition(weight >= 0 && weight < 1, "EMA weight must be in [0, 1)")
        var result: [Double] = []
        result.reserveCapacity(values.count)
        var average = 0.0
        var correction = 1.0
        for value in values {
            guard value.isFinite else {
                result.append(value)
                continue
            }
            average = weight * average + (1 - weight) * value
            correction *= weight
            result.append(average / (1 - correction))
        }
        return result
    }

    /// A weight averaging about `window` points, from the series length: longer runs get smoother curves.
    public static func automaticWeight(count: Int) -> Double {
        let window = min(max(Double(count) / 30, 1), 200)
        return 1 - 1 / window
    }
}
