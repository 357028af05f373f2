import Configuration
import Data
import Distributed
import Foundation
import Optimizers
import Reporting

/// A sweep of training variants compared side by side: effective batch sizes (with the learning-rate
/// scaling rule), optimizers, and rank × micro-batch × accumulation decompositions.
///
/// ```yaml
/// title: Effective batch size
/// description: The CNN at effective batches 128 … 8192, sqrt scaling, no warm-up.
/// base: fashion-cnn.yaml          # relative to the sweep file
/// target_accuracy: 0.9
/// set:                            # overrides for every variant
///   train.epochs: 10
/// variants:
///   - name: b128
///     ranks: 1                    # default: the ranks of the current job (1 alone)
///     set: {batch.global: 128, batch.micro: 32}
///     learning_rates: [0.001, 0.002] # optional: one variant per rate, b128-lr0.001, …
///     group: sqrt                 # optional: the recipe; steps to target are fitted per group
/// ```
public struct ComparisonSweep {
    public struct Variant {
        public var name: String
        public var ranks: Int
        public var configuration: TrainingConfiguration
        /// The recipe it belongs to: the report fits steps to target per group.
        public var group: String?
    }

    public let title: String
    public let description: String
    public let targetAccuracy: Double
    public let variants: [Variant]
    public let source: String
    /// The `--set` overrides applied to every variant on the command line.
    public let overrides: [String]

    /// Reads a sweep file and resolves and validates every variant before anything trains.
    public static func load(path: String, overrides: [String], defaultRanks: Int) throws -> ComparisonSweep {
        try ConfigurationFile.checkReadable(path)
        let root = try ConfigSection(ConfigValue.parse(file: path))
        let title = try root.string("title", default: "BigBatch comparison")
        let description = try root.string("description", default: "")
        let target = try root.double("target_accuracy", default: 0.9, range: 0...1, openLower: true)
        let basePath = try root.requiredString("base")
        let baseURL = URL(fileURLWithPath: basePath, relativeTo: URL(fileURLWithPath: path).deletingLastPathComponent())
        let common = try overridePairs(root.value("set"), key: "set")
        guard case .list(let items)? = root.value("variants"), !items.isEmpty else {
            throw ConfigError.invalid(key: "variants", reason: "the sweep needs a non-empty list of variants")
        }
        try root.finish()

        var variants: [Variant] = []
        for (index, item) in items.enumerated() {
            let section = try ConfigSection(item, path: "variants[\(index)]")
            let name = try section.requiredString("name")
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
                throw ConfigError.invalid(key: section.qualified("name"),
                                          reason: "'\(name)' must be letters, digits, '-', '_' or '.' (it names a directory)")
            }
            let ranks = try section.int("ranks", default: defaultRanks, range: 1...4096)
            let own = try overridePairs(section.value("set"), key: section.qualified("set"))
            // Several learning rates: one variant each, `NAME-lrVALUE`; the report keeps each batch's best.
            let rates = try section.doubles("learning_rates", default: [])
            let group = try section.optionalString("group")
            try section.finish()
            guard rates.allSatisfy({ $0 > 0 && $0.isFinite }) else {
                throw ConfigError.invalid(key: section.qualified("learning_rates"), reason: "\(rates) must all be positive")
            }
            let expanded: [(name: String, overrides: [String])] = rates.isEmpty ? [(name, own)]
                : rates.map { rate in ("\(name)-lr\(String(format: "%g", rate))", own + ["optimizer.lr=\(rate)"]) }
            for (name, own) in expanded {
                guard !variants.contains(where: { $0.name == name }) else {
                    throw ConfigError.invalid(key: section.qualified("name"), reason: "variant '\(name)' appears twice")
                }
                let configuration: TrainingConfiguration
                do {
                    configuration = try TrainingConfiguration.load(path: baseURL.path, overrides: common + own + overrides)
                } catch {
                    throw SweepError.variant(name: name, reason: "\(error)")
                }
                // Catch a batch that cannot be split before any variant spends time training.
                do {
                    _ = try configuration.batchPlan(sampleCount: configuration.globalBatch, worldSize: ranks)
                } catch {
                    throw SweepError.variant(name: name, reason: "\(error)")
                }
                do {
                    try configuration.validateOptimization()
                } catch {
                    throw SweepError.variant(name: name, reason: "\(error)")
                }
                variants.append(Variant(name: name, ranks: ranks, configuration: configuration, group: group))
            }
        }
        return ComparisonSweep(title: title, description: description, targetAccuracy: target, variants: variants,
                               source: path, overrides: overrides)
    }

    /// `{a.b: 1, c: x}` as `["a.b=1", "c=x"]`.
    static func overridePairs(_ value: ConfigValue?, key: String) throws -> [String] {
        guard let value else { return [] }
        guard case .map(let map) = value else {
            throw ConfigError.wrongType(key: key, expected: "mapping of dotted keys to values", found: value.kindName)
        }
        return map.entries.map { entry in
            switch entry.value {
            case .map, .list: return "\(entry.key)=\(entry.value.yaml().trimmingCharacters(in: .whitespacesAndNewlines))"
            default: return "\(entry.key)=\(entry.value)"
            }
        }
    }

    public var reportOptions: ReportOptions {
        ReportOptions(title: title, description: description, targetAccuracy: targetAccuracy, overrides: overrides)
    }
}

/// A sweep problem, named by variant.
public enum SweepError: Error, CustomStringConvertible {
    case variant(name: String, reason: String)
    case ranksDiffer(name: String, ranks: Int, worldSize: Int)
    case variantFailed(name: String, status: Int32)
    /// Complete variants on disk that were trained with another configuration than they now resolve to.
    case stale([(name: String, differences: [String])], directory: String)

    public var description: String {
        switch self {
        case .variant(let name, let reason): "variant '\(name)': \(reason)"
        case .ranksDiffer(let name, let ranks, let worldSize):
            "variant '\(name)' asks for \(ranks) ranks but the job has \(worldSize): run the sweep without mpirun "
                + "(it launches each variant on its own ranks) or give every variant \(worldSize) ranks"
        case .variantFailed(let name, let status): "variant '\(name)' failed (exit status \(status))"
        case .stale(let variants, let directory):
            "\(directory) holds results of another configuration for "
                + variants.map { "variant '\($0.name)' (\($0.differences.joined(separator: "; ")))" }.joined(separator: ", ")
                + "; re-train them with --force, or compare into another --out"
        }
    }
}

/// Runs the variants of a sweep that are not complete yet, then renders the report.
public final class ComparisonRunner {
    public let sweep: ComparisonSweep
    public let directory: URL
    public let world: any Communicator
    /// The executable that trains a variant on other ranks (`bigbatch`).
    public let executable: String
    /// The environment this process started with, before MPI added its own variables: a child
    /// `mpirun` that inherits a singleton's MPI variables takes itself for part of that job.
    public let launchEnvironment: [String: String]
    /// Re-train complete variants whose configuration changed, instead of refusing.
    public let force: Bool

    public init(sweep: ComparisonSweep, directory: URL, world: any Communicator, executable: String,
                launchEnvironment: [String: String], force: Bool = false) throws {
        self.sweep = sweep
        self.force = force
        self.directory = directory
        self.world = world
        self.executable = executable
        self.launchEnvironment = launchEnvironment
        if world.size > 1, let variant = sweep.variants.first(where: { $0.ranks != world.size }) {
            throw SweepError.ranksDiffer(name: variant.name, ranks: variant.ranks, worldSize: world.size)
        }
    }

    /// The fingerprint a variant's results are kept under: its resolved configuration and ranks.
    static func fingerprint(of variant: ComparisonSweep.Variant) -> String {
        String(fnv1a("ranks: \(variant.ranks)\n" + variant.configuration.tree.yaml()), radix: 16)
    }

    /// What differs between the configuration `info` (or the variant's `config.yaml`) records and what
    /// the variant resolves to now; nil when they are the same.
    func staleness(of variant: ComparisonSweep.Variant, info: VariantInfo, in variantDirectory: URL) -> [String]? {
        guard info.fingerprint != Self.fingerprint(of: variant) else { return nil }
        let recorded = info.configuration.flatMap { try? ConfigValue.parse(yaml: $0, source: "variant.json") }
            ?? (try? ConfigValue.parse(file: variantDirectory.appendingPathComponent("config.yaml").path))
        guard case .map(var map)? = recorded else { return ["no configuration recorded with its results"] }
        map[TrainingConfiguration.runIDKey] = nil
        var differences = ConfigurationDifference.describe(from: .map(map), to: variant.configuration.tree,
                                                           oldLabel: "on disk", newLabel: "now")
        if info.ranks != variant.ranks { differences.append("ranks: \(info.ranks) on disk, \(variant.ranks) now") }
        // Results recorded before variants kept a fingerprint, of the same configuration, are current.
        return differences.isEmpty ? nil : differences
    }

    /// Trains what is missing (and, with `force`, what is out of date) and writes `report.md`,
    /// `report.html` and the plots. Complete variants trained with another configuration than they now
    /// resolve to are refused before anything trains: reporting them would pass old results off as new.
    public func run() throws -> ReportSummary? {
        let states = try agree(world) { () throws -> [Bool] in
            var current: [Bool] = [], stale: [(name: String, differences: [String])] = []
            for variant in sweep.variants {
                let variantDirectory = directory.appendingPathComponent(variant.name)
                guard let info = try? VariantInfo.read(from: variantDirectory.appendingPathComponent("variant.json")),
                      info.complete
                else { current.append(false); continue }
                if let differences = staleness(of: variant, info: info, in: variantDirectory) {
                    stale.append((variant.name, differences))
                    current.append(false)
                } else {
                    current.append(true)
                }
            }
            if !stale.isEmpty && !force { throw SweepError.stale(stale, directory: directory.path) }
            return current
        }
        for (index, variant) in sweep.variants.enumerated() {
            let variantDirectory = directory.appendingPathComponent(variant.name)
            let infoURL = variantDirectory.appendingPathComponent("variant.json")
            if states[index] {
                if world.isRoot { print("[\(index + 1)/\(sweep.variants.count)] \(variant.name): complete, skipped") }
                continue
            }
            let configuration = variant.configuration
            let k = try configuration.batchPlan(sampleCount: configuration.globalBatch, worldSize: variant.ranks).microSteps
            if world.isRoot {
                print("[\(index + 1)/\(sweep.variants.count)] \(variant.name): batch \(configuration.globalBatch) = "
                      + "\(variant.ranks) ranks × micro \(configuration.microBatch) × k \(k)")
                fflush(nil)
                // An interrupted or out-of-date variant starts over: its old info must not outlive it.
                unlink(infoURL.path)
            }
            var info = VariantInfo(name: variant.name, effectiveBatch: configuration.globalBatch, ranks: variant.ranks,
                                   micro: configuration.microBatch, accumulation: k,
                                   optimizer: optimizerName(configuration), learningRate: 0, steps: 0, complete: false)
            info.fingerprint = Self.fingerprint(of: variant)
            info.group = variant.group
            info.configuration = configuration.tree.yaml()
            if variant.ranks == world.size {
                let session = try TrainingSession(configuration: configuration, world: world,
                                                  runDirectory: variantDirectory, resume: nil, overwrite: true)
                info.learningRate = session.peakLearningRate
                // The steps actually run: with schedule.adascale fewer than the planned most.
                info.steps = try session.run().steps
            } else {
                let configURL = directory.appendingPathComponent("\(variant.name).yaml")
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
                try configuration.tree.yaml().write(to: configURL, atomically: true, encoding: .utf8)
                try launch(variant: variant, config: configURL, runDirectory: variantDirectory)
                let steps = try RunMetrics.read(from: variantDirectory.appendingPathComponent("metrics.jsonl")).steps
                info.steps = steps.last?.step ?? 0
                info.learningRate = try configuration.makeSchedule(totalSteps: max(info.steps, 1)).peak
            }
            info.complete = true
            if world.isRoot {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                try encoder.encode(info).write(to: infoURL, options: .atomic)
            }
        }
        guard world.isRoot else { return nil }
        return try ReportBuilder.render(directory: directory, variantOrder: sweep.variants.map(\.name),
                                        options: sweep.reportOptions)
    }

    private func optimizerName(_ configuration: TrainingConfiguration) -> String {
        if case .map(let map) = configuration.optimizerTree, case .string(let name)? = map["name"] { return name }
        return "?"
    }

    /// Trains one variant on its own ranks with `mpirun`, progress passing through to this terminal.
    private func launch(variant: ComparisonSweep.Variant, config: URL, runDirectory: URL) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        var arguments = ["mpirun", "-np", "\(variant.ranks)"]
        if getuid() == 0 { arguments.append("--allow-run-as-root") }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        arguments += variant.ranks > cores ? ["--oversubscribe", "--bind-to", "none"] : ["--bind-to", "core"]
        var environment = launchEnvironment
        if environment["OPENBLAS_NUM_THREADS"] == nil {
            environment["OPENBLAS_NUM_THREADS"] = String(max(1, cores / variant.ranks))
        }
        arguments += ["-x", "OPENBLAS_NUM_THREADS"]
        arguments += [executable, "train", "--config", config.path, "--run-dir", runDirectory.path, "--overwrite"]
        process.arguments = arguments
        process.environment = environment
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw SweepError.variantFailed(name: variant.name, status: process.terminationStatus)
        }
    }
}
