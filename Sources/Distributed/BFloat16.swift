import CKernels

/// bfloat16 words — a float's upper 16 bits, 8 significant bits — as `distributed.compress: bf16`
/// moves gradient sums: half the bytes of float32, with float32's range.
public enum BFloat16 {
    /// Each value rounded to bfloat16 (nearest, ties to even; NaN stays NaN, overflow becomes infinity).
    public static func round(_ values: UnsafeBufferPointer<Float>, into words: UnsafeMutableBufferPointer<UInt16>) {
        precondition(words.count >= values.count, "\(words.count) words for \(values.count) values")
        guard let source = values.baseAddress, let target = words.baseAddress else { return }
        bb_float_to_bf16(source, target, values.count)
    }

    /// The float value of each word (exact).
    public static func expand(_ words: UnsafeBufferPointer<UInt16>, into values: UnsafeMutableBufferPointer<Float>) {
        precondition(values.count >= words.count, "\(values.count) values for \(words.count) words")
        guard let source = words.baseAddress, let target = values.baseAddress else { return }
        bb_bf16_to_float(source, target, words.count)
    }

    /// `values` rounded to bfloat16 and back.
    public static func rounded(_ values: [Float]) -> [Float] {
        var words = [UInt16](repeating: 0, count: values.count), result = [Float](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { source in words.withUnsafeMutableBufferPointer { round(source, into: $0) } }
        words.withUnsafeBufferPointer { source in result.withUnsafeMutableBufferPointer { expand(source, into: $0) } }
        return result
    }
}
