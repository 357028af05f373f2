import Foundation

/// A histogram in TensorBoard's own bucket format (`HistogramProto`), so that TensorBoard draws it
/// exactly as it draws TensorFlow's.
///
/// The bucket limits are TensorFlow's defaults: ±1e-12 growing by 10 % per bucket up to ±1e20,
/// with 0 between the two halves and ±Double.greatestFiniteMagnitude at the ends. Bucket i holds
/// the values in [limit(i-1), limit(i)) (the first from -∞). Runs of empty buckets are merged into
/// one empty bucket ending where the run ends, as TensorFlow writes them: the ranges stay exact and
/// a tensor of a few distinct magnitudes costs a few buckets instead of 1 551.
public struct Histogram: Equatable, Sendable {
    public var minimum: Double
    public var maximum: Double
    /// Values counted: the finite ones.
    public var count: Double
    public var sum: Double
    public var sumOfSquares: Double
    /// Upper (exclusive) limit of each bucket.
    public var bucketLimits: [Double]
    public var bucketCounts: [Double]
    /// Values left out because they are NaN or infinite (a diverging run); TensorBoard cannot bucket them.
    public var nonFiniteCount: Int

    /// TensorFlow's default limits, in increasing order.
    public static let defaultLimits: [Double] = {
        var positive: [Double] = []
        var limit = 1.0e-12
        while limit < 1.0e20 {
            positive.append(limit)
            limit *= 1.1
        }
        positive.append(.greatestFiniteMagnitude)
        return positive.reversed().map { -$0 } + [0] + positive
    }()

    /// The histogram of `values`.
    public init(_ values: UnsafeBufferPointer<Float>) {
        let limits = Self.defaultLimits
        var counts = [Double](repeating: 0, count: limits.count)
        var minimum = Double.infinity, maximum = -Double.infinity
        var count = 0.0, sum = 0.0, sumOfSquares = 0.0, nonFinite = 0
        for value in values {
            guard value.isFinite else {
                nonFinite += 1
                continue
            }
            let x = Double(value)
            minimum = Swift.min(minimum, x)
            maximum = Swift.max(maximum, x)
            count += 1
            sum += x
            sumOfSquares += x * x
            counts[Self.bucketIndex(of: x, limits: limits, guess: Self.guessIndex(of: x, count: limits.count))] += 1
        }
        var mergedLimits: [Double] = [], mergedCounts: [Double] = []
        var index = 0
        while index < limits.count {
            var end = limits[index]
            let bucket = counts[index]
            index += 1
            if bucket == 0 {
                while index < limits.count && counts[index] == 0 {
                    end = limits[index]
                    index += 1
                }
            }
            mergedLimits.append(end)
            mergedCounts.append(bucket)
        }
        self.init(minimum: count > 0 ? minimum : 0, maximum: count > 0 ? maximum : 0, count: count, sum: sum,
                  sumOfSquares: sumOfSquares, bucketLimits: mergedLimits, bucketCounts: mergedCounts,
                  nonFiniteCount: nonFinite)
    }

    public init(minimum: Double, maximum: Double, count: Double, sum: Double, sumOfSquares: Double,
                bucketLimits: [Double], bucketCounts: [Double], nonFiniteCount: Int = 0) {
        self.minimum = minimum
        self.maximum = maximum
        self.count = count
        self.sum = sum
        self.sumOfSquares = sumOfSquares
        self.bucketLimits = bucketLimits
        self.bucketCounts = bucketCounts
        self.nonFiniteCount = nonFiniteCount
    }

    /// The first bucket whose limit exceeds `value`, found by stepping from `guess` (a bucket or two
    /// away at most) so that rounding in the guess never moves a value across a limit.
    static func bucketIndex(of value: Double, limits: [Double], guess: Int) -> Int {
        var index = min(max(guess, 0), limits.count - 1)
        while index < limits.count - 1 && limits[index] <= value { index += 1 }
        while index > 0 && limits[index - 1] > value { index -= 1 }
        return index
    }

    /// Where `value` falls by its logarithm: the limits grow by 10 % per bucket from 1e-12 outwards.
    static func guessIndex(of value: Double, count: Int) -> Int {
        let zero = count / 2
        let magnitude = abs(value)
        guard magnitude >= 1e-12 else { return zero + 1 }
        // A difference of logarithms, finite up to the largest double; the clamp keeps the conversion in range.
        let steps = Int(min(((log(magnitude) - log(1e-12)) / log(1.1)).rounded(.down), Double(zero)))
        return value > 0 ? zero + 2 + steps : zero - 1 - steps
    }

    var proto: Tensorboard_HistogramProto {
        var proto = Tensorboard_HistogramProto()
        proto.min = minimum
        proto.max = maximum
        proto.num = count
        proto.sum = sum
        proto.sumSquares = sumOfSquares
        proto.bucketLimit = bucketLimits
        proto.bucket = bucketCounts
        return proto
    }
}
