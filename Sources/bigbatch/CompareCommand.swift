import ArgumentParser
import Distributed
import Foundation
import Reporting
import Training

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Train the variants of a sweep side by side and write a report (variants already complete are skipped).")

    @Option(help: "The sweep file.") var config: String
    @Option(help: "Output directory: one subdirectory per variant, report.md, report.html, plots/.") var out: String
    @Option(name: .customLong("set"), help: "Override a key of every variant's configuration (repeatable).")
    var overrides: [String] = []
    @Flag(help: "Re-train complete variants whose resolved configuration differs from the one their results were trained with (without it, compare refuses).")
    var force = false

    func run() throws {
        try withWorld { world in
            let sweep = try agree(world) {
                try ComparisonSweep.load(path: config, overrides: overrides, defaultRanks: world.size)
            }
            let directory = URL(fileURLWithPath: out)
            if world.isRoot {
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
                try ReportMeta(sweep: sweep).write(to: directory)
            }
            let runner = try agree(world) {
                try ComparisonRunner(sweep: sweep, directory: directory, world: world,
                                     executable: currentExecutablePath(), launchEnvironment: launchEnvironment,
                                     force: force)
            }
            if let summary = try runner.run() {
                print("report: \(summary.markdownURL.path)  \(summary.htmlURL.path)")
            }
        }
    }
}

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "Re-render a comparison's report from the metrics already in its directory.")

    @Argument(help: "The comparison's output directory.") var directory: String

    func run() throws {
        let url = URL(fileURLWithPath: directory)
        let meta = ReportMeta.read(from: url)
        let summary = try ReportBuilder.render(directory: url, variantOrder: meta?.order,
                                               options: meta?.options ?? ReportOptions())
        print("report: \(summary.markdownURL.path)  \(summary.htmlURL.path)")
    }
}

/// What `bigbatch report` needs to re-render a sweep as `compare` did: `sweep.json` in the directory.
struct ReportMeta: Codable {
    var title: String
    var description: String
    var targetAccuracy: Double
    var order: [String]
    /// The `--set` overrides of the last `compare` (absent in files of older versions).
    var overrides: [String]?

    init(sweep: ComparisonSweep) {
        title = sweep.title
        description = sweep.description
        targetAccuracy = sweep.targetAccuracy
        order = sweep.variants.map(\.name)
        overrides = sweep.overrides
    }

    var options: ReportOptions {
        ReportOptions(title: title, description: description, targetAccuracy: targetAccuracy, overrides: overrides ?? [])
    }

    func write(to directory: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: directory.appendingPathComponent("sweep.json"), options: .atomic)
    }

    static func read(from directory: URL) -> ReportMeta? {
        guard let data = try? Data(contentsOf: directory.appendingPathComponent("sweep.json")) else { return nil }
        return try? JSONDecoder().decode(ReportMeta.self, from: data)
    }
}

/// The absolute path of this program, for launching it on other ranks.
func currentExecutablePath() -> String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
        ?? URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
}
