import Foundation
import Reporting
import Tensors

/// Rank 0's progress display: a live line on a terminal, plain periodic lines otherwise.
final class ProgressReporter {
    let totalSteps: Int
    let logEvery: Int
    let unit: String
    let isTerminal: Bool
    private var smoothedRate: Double?
    private var hasLiveLine = false
    /// When the live line was last redrawn: at most a few redraws a second.
    private var lastDraw = 0.0
    /// Skipped steps since the last printed line, and the first of them: a diverging run skips
    /// step after step, and one line each would bury everything else.
    private var skippedSinceLine = 0
    private var firstSkippedSinceLine = 0
    private var previousSkipped = false

    /// `unit` names the counted items whose rate the line shows: samples, or tokens for a language model.
    init(totalSteps: Int, logEvery: Int, unit: String = "samples",
         isTerminal: Bool = ProgressReporter.drawsLiveLine(environment: ProcessInfo.processInfo.environment,
                                                          stdoutIsTerminal: isatty(STDOUT_FILENO) != 0)) {
        self.totalSteps = totalSteps
        self.logEvery = logEvery
        self.unit = unit
        self.isTerminal = isTerminal
    }

    /// Whether a person watches stdout, so that one redrawn line beats a scrolling log. Under an MPI
    /// launcher a rank's stdout is the launcher's pseudo-terminal even when the launcher's own output
    /// goes to a pipe or a log file (OpenMPI forwards through a pty), and the rank cannot see which:
    /// redraws there fill log files with escape codes, so ranks started by a launcher print plain
    /// lines, as a pipe, a file or a dumb terminal gets.
    static func drawsLiveLine(environment: [String: String], stdoutIsTerminal: Bool) -> Bool {
        let launcherVariables = ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"]
        return stdoutIsTerminal && environment["TERM"] != "dumb" && !launcherVariables.contains { environment[$0] != nil }
    }

    func update(_ record: StepRecord, epochs stepsPerEpoch: Int) {
        smoothedRate = smoothedRate.map { 0.9 * $0 + 0.1 * record.samplesPerSecond } ?? record.samplesPerSecond
        // With AdaScale the run ends when its progress τ reaches `totalSteps` base steps, at the pace so far.
        let remaining = record.progress.map { max(Double(totalSteps) - $0, 0) * Double(record.step) / max($0, 1e-9) }
            ?? Double(totalSteps - record.step)
        let last = record.step == totalSteps || record.progress.map { $0 >= Double(totalSteps) } == true
        let secondsPerStep = record.elapsed / Double(max(record.step, 1))
        // The first skip after an applied step is shown at once; the rest are counted into the next regular line.
        let startsStreak = record.skipped && !previousSkipped
        previousSkipped = record.skipped
        if record.skipped {
            if skippedSinceLine == 0 { firstSkippedSinceLine = record.step }
            skippedSinceLine += 1
        }
        let skipped = skippedSinceLine == 0 ? ""
            : skippedSinceLine == 1 ? "  (step \(firstSkippedSinceLine) skipped: non-finite loss or gradient)"
            : "  (\(skippedSinceLine) steps skipped since step \(firstSkippedSinceLine): non-finite loss or gradient)"
        // B_simple, the gradient noise scale: where a larger batch stops paying (GradientNoiseScale).
        let noise = record.gradientNoiseScale.map { String(format: "  B_noise %.0f", $0) } ?? ""
        let position = record.progress.map { String(format: "step %d  progress %.0f/%d", record.step, $0, totalSteps) }
            ?? String(format: "step %d/%d", record.step, totalSteps)
        let line = String(format: "%@  epoch %.2f  loss %.4f  lr %.3g%@  %.0f %@/s  ETA %@%@",
                          position, record.epoch, record.loss, record.learningRate, noise, smoothedRate ?? 0, unit,
                          formatDuration(remaining * secondsPerStep), skipped)
        if isTerminal {
            let now = monotonicSeconds()
            guard now - lastDraw >= 0.5 || last else { return }
            lastDraw = now
            print("\r\u{1B}[2K" + line, terminator: "")
            fflush(nil)
            hasLiveLine = true
            skippedSinceLine = 0
        } else if record.step % logEvery == 0 || last || startsStreak {
            print(line)
            fflush(nil)
            skippedSinceLine = 0
        }
    }

    func report(_ evaluation: EvaluationRecord) {
        endLiveLine()
        if let bits = evaluation.bitsPerByte {
            print(String(format: "eval  step %d  epoch %.2f  val loss %.4f  %.4f bits/byte  next-byte accuracy %.2f%%",
                         evaluation.step, evaluation.epoch, evaluation.testLoss, bits, 100 * evaluation.testAccuracy))
        } else {
            print(String(format: "eval  step %d  epoch %.2f  test loss %.4f  test accuracy %.2f%%", evaluation.step,
                         evaluation.epoch, evaluation.testLoss, 100 * evaluation.testAccuracy))
        }
        fflush(nil)
    }

    func finish() { endLiveLine() }

    private func endLiveLine() {
        if hasLiveLine { print(""); hasLiveLine = false }
    }
}

func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "?" }
    let total = Int(seconds.rounded())
    return total >= 3600 ? String(format: "%dh%02dm", total / 3600, total % 3600 / 60)
        : String(format: "%dm%02ds", total / 60, total % 60)
}
