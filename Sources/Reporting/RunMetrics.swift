import Foundation

/// The step and evaluation records of one training run, read from its `metrics.jsonl`.
public struct RunMetrics: Sendable, Equatable {
    /// Step records in increasing step order.
    public var steps: [StepRecord]
    /// Evaluation records in increasing step order.
    public var evaluations: [EvaluationRecord]

    public init(steps: [StepRecord] = [], evaluations: [EvaluationRecord] = []) {
        self.steps = steps
        self.evaluations = evaluations
    }

    /// Reads a metrics file strictly: every complete line must match the schema, or the error names file and line.
    ///
    /// Two situations of a live or resumed run are accepted rather than rejected:
    /// - a final line without its newline that does not parse is a write in progress and is ignored;
    /// - a record whose step does not advance past the previous one of its kind marks a resume from a checkpoint:
    ///   the earlier records from that step on are superseded, so the logs of the abandoned attempt drop out.
    public static func read(from url: URL) throws(ReportError) -> RunMetrics {
        let data = try ReportError.contents(of: url)
        return try parse(data, path: url.path)
    }

    /// Parses the contents of a metrics file; `path` only labels errors.
    public static func parse(_ data: Data, path: String) throws(ReportError) -> RunMetrics {
        var metrics = RunMetrics()
        let decoder = MetricsCoding.makeDecoder()
        let newline = UInt8(ascii: "\n")
        let endsWithNewline = data.last == newline
        let lines = data.split(separator: newline, omittingEmptySubsequences: false)
        for (index, rawLine) in lines.enumerated() {
            let lineNumber = index + 1
            var line = rawLine
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            let isUnterminatedLast = index == lines.count - 1 && !endsWithNewline
            let record: MetricsLine
            do {
                record = try decodeLine(Data(line), decoder: decoder, path: path, line: lineNumber)
            } catch {
                if isUnterminatedLast, case .malformedLine = error { break }
                throw error
            }
            switch record {
            case .step(let step):
                if let last = metrics.steps.last, step.step <= last.step {
                    metrics.steps.removeAll { $0.step >= step.step }
                    metrics.evaluations.removeAll { $0.step >= step.step }
                }
                metrics.steps.append(step)
            case .evaluation(let evaluation):
                if let last = metrics.evaluations.last, evaluation.step <= last.step {
                    metrics.evaluations.removeAll { $0.step >= evaluation.step }
                }
                metrics.evaluations.append(evaluation)
            }
        }
        return metrics
    }

    private struct TypeTag: Decodable {
        var type: String
    }

    private static func decodeLine(
        _ line: Data, decoder: JSONDecoder, path: String, line lineNumber: Int
    ) throws(ReportError) -> MetricsLine {
        let record: MetricsLine
        do {
            let tag = try decoder.decode(TypeTag.self, from: line).type
            switch tag {
            case StepRecord.type:
                record = .step(try decoder.decode(StepRecord.self, from: line))
            case EvaluationRecord.type:
                record = .evaluation(try decoder.decode(EvaluationRecord.self, from: line))
            default:
                throw ReportError.malformedLine(
                    path: path, line: lineNumber,
                    reason: "unknown record type '\(tag)' (expected '\(StepRecord.type)' or '\(EvaluationRecord.type)')")
            }
        } catch let error as ReportError {
            throw error
        } catch let error as DecodingError {
            throw .malformedLine(path: path, line: lineNumber, reason: error.conciseDescription)
        } catch {
            throw .malformedLine(path: path, line: lineNumber, reason: "\(error)")
        }
        try validate(record, path: path, line: lineNumber)
        return record
    }

    /// Rejects values no correct trainer writes; non-finite losses and norms are allowed since runs may diverge.
    private static func validate(_ record: MetricsLine, path: String, line: Int) throws(ReportError) {
        func check(_ condition: Bool, _ field: String, _ value: some CustomStringConvertible) throws(ReportError) {
            if !condition { throw .invalidValue(path: path, line: line, field: field, value: value.description) }
        }
        switch record {
        case .step(let s):
            try check(s.step >= 0, "step", s.step)
            try check(s.epoch.isFinite && s.epoch >= 0, "epoch", s.epoch)
            try check(s.learningRate.isFinite && s.learningRate >= 0, "lr", s.learningRate)
            try check(!(s.gradientNorm < 0), "grad_norm", s.gradientNorm)
            try check(s.items >= 0, "items", s.items)
            try check(s.samplesPerSecond.isFinite && s.samplesPerSecond >= 0, "samples_per_s", s.samplesPerSecond)
            try check(s.elapsed.isFinite && s.elapsed >= 0, "elapsed", s.elapsed)
            for (name, value) in [("compute", s.seconds.compute), ("communication", s.seconds.communication),
                                  ("exposed", s.seconds.exposed), ("optimizer", s.seconds.optimizer)] {
                try check(value.isFinite && value >= 0, "seconds.\(name)", value)
            }
        case .evaluation(let e):
            try check(e.step >= 0, "step", e.step)
            try check(e.epoch.isFinite && e.epoch >= 0, "epoch", e.epoch)
            try check(e.elapsed.isFinite && e.elapsed >= 0, "elapsed", e.elapsed)
            try check(!(e.testLoss < 0), "test_loss", e.testLoss)
            try check(e.testAccuracy >= 0 && e.testAccuracy <= 1, "test_accuracy", e.testAccuracy)
        }
    }
}
