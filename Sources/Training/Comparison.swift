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
/// ```
public struct ComparisonSweep {
    public struct Variant {
        public var name: String
        public var ranks: Int
        public var configuration: TrainingConfiguration
    }

    public let title: String
    public let description: String
    public let targetAccuracy: Double
    public let variants: [Variant]
    public let source: String

    /// Reads a sweep file and resolves and validates every variant before anything trains.
    public static func load(path: String, overrides: [String], defaultRanks: Int) throws -> ComparisonSweep {
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
            guard !variants.contains(where: { $0.name == name }) else {
                throw ConfigError.invalid(key: section.qualified("name"), reason: "variant '\(name)' appears twice")
            }
            let ranks = try section.int("ranks", default: defaultRanks, range: 1...4096)
            let own = try overridePairs(section.value("set"), key: section.qualified("set"))
            try section.finish()
            let configuration: TrainingConfiguration
            do {
                configuration = try TrainingConfiguration.load(path: baseURL.path, overrides: common + own + overrides)
            } catch {
                throw SweepError.variant(name: name, reason: "\(error)")
            }
            // Catch a batch that does not divide before any variant spends time training.
            do {
                _ = try BatchPlan(sampleCount: configuration.globalBatch, globalBatch: configuration.globalBatch,
                                  microBatch: configuration.microBatch, worldSize: ranks,
                                  lastBatch: configuration.data.lastBatch, seed: configuration.seed)
            } catch {
                throw SweepError.variant(name: name, reason: "\(error)")
            }
            do {
                try configuration.validateOptimization()
            } catch {
                throw SweepError.variant(name: name, reason: "\(error)")
            }
            variants.append(Variant(name: name, ranks: ranks, configuration: configuration))
        }
        return ComparisonSweep(title: title, description: description, targetAccuracy: target, variants: variants,
                               source: path)
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
        ReportOptions(title: title, description: description, targetAccuracy: targetAccuracy)
    }
}

/// A sweep problem, named by variant.
public enum SweepError: Error, CustomStringConvertible {
    case variant(name: String, reason: String)
    case ranksDiffer(name: String, ranks: Int, worldSize: Int)
    case variantFailed(name: String, status: Int32)

    public var description: String {
        switch self {
        case .variant(let name, let reason): "variant '\(name)': \(reason)"
        case .ranksDiffer(let name, let ranks, let worldSize):
            "variant '\(name)' asks for \(ranks) ranks but the job has \(worldSize): run the sweep without mpirun "
                + "(it launches each variant on its own ranks) or give every variant \(worldSize) ranks"
        case .variantFailed(let name, let status): "variant '\(name)' failed (exit status \(status))"
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

    public init(sweep: ComparisonSweep, directory: URL, world: any Communicator, executable: String,
                launchEnvironment: [String: String]) throws {
        self.sweep = sweep
        self.directory = directory
        self.world = world
        self.executable = executable
        self.launchEnvironment = launchEnvironment
        if world.size > 1, let variant = sweep.variants.first(where: { $0.ranks != world.size }) {
            throw SweepError.ranksDiffer(name: variant.name, ranks: variant.ranks, worldSize: world.size)
        }
    }

    /// Trains what is missing and writes `report.md`, `report.html` and the plots.
    public func run() throws -> ReportSummary? {
        for (index, variant) in sweep.variants.enumerated() {
            let variantDirectory = directory.appendingPathComponent(variant.name)
            let infoURL = variantDirectory.appendingPathComponent("variant.json")
            if let info = try? VariantInfo.read(from: infoURL), info.complete {
                if world.isRoot { print("[\(index + 1)/\(sweep.variants.count)] \(variant.name): complete, skipped") }
                continue
            }
            let configuration = variant.configuration
            let k = configuration.globalBatch / (variant.ranks * configuration.microBatch)
            if world.isRoot {
                print("[\(index + 1)/\(sweep.variants.count)] \(variant.name): batch \(configuration.globalBatch) = "
                      + "\(variant.ranks) ranks × micro \(configuration.microBatch) × k \(k)")
                fflush(nil)
            }
            var info = VariantInfo(name: variant.name, effectiveBatch: configuration.globalBatch, ranks: variant.ranks,
                                   micro: configuration.microBatch, accumulation: k,
                                   optimizer: optimizerName(configuration), learningRate: 0, steps: 0, complete: false)
            if variant.ranks == world.size {
                let session = try TrainingSession(configuration: configuration, world: world,
                                                  runDirectory: variantDirectory, resume: nil)
                info.steps = session.totalSteps
                info.learningRate = session.peakLearningRate
                _ = try session.run()
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
        arguments += [executable, "train", "--config", config.path, "--run-dir", runDirectory.path]
        process.arguments = arguments
        process.environment = environment
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw SweepError.variantFailed(name: variant.name, status: process.terminationStatus)
        }
    }
}
