import Foundation

// The line schema of `gradients.jsonl`, written by the trainer every `logging.histogram_every` steps and read
// by the comparison report, one JSON object per parameter tensor and step:
//
//     {"type":"gradient_magnitudes","step":100,"tensor":"conv1.weight","low":-10,"bins_per_decade":4,
//      "counts":[12,0,3,...,0]}
//
// `counts` bins log10 |g| of the tensor's mean gradient: counts[0] holds |g| < 10^low (zeros included),
// counts[1 + i] the i-th bin of width 1/bins_per_decade decades from 10^low up, and the last entry
// |g| ≥ 10^(low + (counts.count - 2) / bins_per_decade). Non-finite gradients are not counted: a step
// that has them is skipped, and so is its histogram. A step that does not advance marks a resume and
// supersedes the earlier records from that step on, as in `metrics.jsonl`.

/// The distribution of one parameter tensor's gradient magnitudes at one step (`"type":"gradient_magnitudes"`).
public struct GradientMagnitudes: Codable, Sendable, Equatable {
    public static let type = "gradient_magnitudes"
    /// The binning the trainer writes: 1e-10 up to 1e2, a quarter decade per bin; magnitudes outside
    /// gather in the end bins. Gradients of trained networks live well inside it.
    public static let defaultLowExponent = -10
    public static let defaultHighExponent = 2
    public static let defaultBinsPerDecade = 4

    public var step: Int
    public var tensor: String
    /// log10 of the lower edge of the first regular bin.
    public var lowExponent: Int
    public var binsPerDecade: Int
    public var counts: [Int]

    public init(step: Int, tensor: String, lowExponent: Int, binsPerDecade: Int, counts: [Int]) {
        self.step = step
        self.tensor = tensor
        self.lowExponent = lowExponent
        self.binsPerDecade = binsPerDecade
        self.counts = counts
    }

    /// Bins the magnitudes of `gradients` with the default binning.
    public init(step: Int, tensor: String, gradients: UnsafeBufferPointer<Float>) {
        let low = Self.defaultLowExponent, perDecade = Self.defaultBinsPerDecade
        let regular = (Self.defaultHighExponent - low) * perDecade
        var counts = [Int](repeating: 0, count: regular + 2)
        let floor = Double.pow10(low), ceiling = Double.pow10(Self.defaultHighExponent)
        for value in gradients where value.isFinite {
            let magnitude = Double(abs(value))
            if magnitude < floor {
                counts[0] += 1
            } else if magnitude >= ceiling {
                counts[regular + 1] += 1
            } else {
                let bin = Int(((log10(magnitude) - Double(low)) * Double(perDecade)).rounded(.down))
                counts[1 + min(max(bin, 0), regular - 1)] += 1
            }
        }
        self.init(step: step, tensor: tensor, lowExponent: low, binsPerDecade: perDecade, counts: counts)
    }

    /// Elements counted.
    public var total: Int { counts.reduce(0, +) }

    /// log10 of the edge between bins `index - 1` and `index` (index 1 is 10^low).
    public func edgeExponent(_ index: Int) -> Double {
        Double(lowExponent) + Double(index - 1) / Double(binsPerDecade)
    }

    enum CodingKeys: String, CodingKey {
        case type, step, tensor
        case lowExponent = "low"
        case binsPerDecade = "bins_per_decade"
        case counts
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        step = try container.decode(Int.self, forKey: .step)
        tensor = try container.decode(String.self, forKey: .tensor)
        lowExponent = try container.decode(Int.self, forKey: .lowExponent)
        binsPerDecade = try container.decode(Int.self, forKey: .binsPerDecade)
        counts = try container.decode([Int].self, forKey: .counts)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(Self.type, forKey: .type)
        try container.encode(step, forKey: .step)
        try container.encode(tensor, forKey: .tensor)
        try container.encode(lowExponent, forKey: .lowExponent)
        try container.encode(binsPerDecade, forKey: .binsPerDecade)
        try container.encode(counts, forKey: .counts)
    }

    /// Reads `gradients.jsonl` strictly, with the same allowances as `RunMetrics`: an unterminated last line
    /// that does not parse is a write in progress, and a step that does not advance marks a resume.
    public static func read(from url: URL) throws(ReportError) -> [GradientMagnitudes] {
        try parse(try ReportError.contents(of: url), path: url.path)
    }

    public static func parse(_ data: Data, path: String) throws(ReportError) -> [GradientMagnitudes] {
        var records: [GradientMagnitudes] = []
        var tensorsAtLastStep = Set<String>()
        let decoder = MetricsCoding.makeDecoder()
        let newline = UInt8(ascii: "\n")
        let lines = data.split(separator: newline, omittingEmptySubsequences: false)
        for (index, line) in lines.enumerated() where !line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) {
            let isUnterminatedLast = index == lines.count - 1 && data.last != newline
            let record: GradientMagnitudes
            do {
                record = try decoder.decode(GradientMagnitudes.self, from: Data(line))
            } catch {
                if isUnterminatedLast { break }
                let reason = (error as? DecodingError)?.conciseDescription ?? "\(error)"
                throw .malformedLine(path: path, line: index + 1, reason: reason)
            }
            func check(_ condition: Bool, _ field: String, _ value: String) throws(ReportError) {
                if !condition { throw .invalidValue(path: path, line: index + 1, field: field, value: value) }
            }
            try check(record.step >= 0, "step", "\(record.step)")
            try check(record.binsPerDecade > 0, "bins_per_decade", "\(record.binsPerDecade)")
            try check(record.counts.count >= 2, "counts", "\(record.counts.count) entries")
            try check(record.counts.allSatisfy { $0 >= 0 }, "counts", "\(record.counts)")
            // Records of one step come together; a step below the latest, or a tensor again at the latest,
            // starts a resumed attempt.
            if let last = records.last,
               record.step < last.step || (record.step == last.step && tensorsAtLastStep.contains(record.tensor)) {
                records.removeAll { $0.step >= record.step }
                tensorsAtLastStep = []
            }
            if record.step != records.last?.step { tensorsAtLastStep = [] }
            tensorsAtLastStep.insert(record.tensor)
            records.append(record)
        }
        return records
    }
}

private extension Double {
    static func pow10(_ exponent: Int) -> Double { Foundation.pow(10, Double(exponent)) }
}
