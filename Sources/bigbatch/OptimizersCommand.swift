import ArgumentParser
import Configuration
import Foundation
import Layers
import Optimizers
import Training

struct OptimizersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "optimizers",
        abstract: "List the optimizer catalogue: each optimizer's settings with their defaults, and the state memory it needs for a model.")

    @Option(help: """
        Configuration whose model sizes the state (default: the shipped configs/fashion-mlp.yaml, found         beside the executable's build or installation; the same MLP if it is not there).
        """)
    var config: String?

    @Option(help: "Also show the state each rank keeps with distributed.shard_optimizer on this many ranks (ZeRO stage 1).")
    var ranks = 1

    /// The shipped MLP, for sizing state when no configuration file is at hand.
    static let shippedMLP = "model: {kind: mlp, hidden: [512, 512], activation: relu, dropout: 0.2}\n"

    /// The shipped configuration, looked for in the folders above the executable (a build sits in
    /// `<repo>/.build/<configuration>/`, an installation in `<prefix>/bin/` beside `<prefix>/share/bigbatch/`).
    static func shippedConfiguration() -> String? {
        var folder = URL(fileURLWithPath: currentExecutablePath()).deletingLastPathComponent()
        for _ in 0..<5 {
            for candidate in ["configs/fashion-mlp.yaml", "share/bigbatch/configs/fashion-mlp.yaml"] {
                let path = folder.appendingPathComponent(candidate).path
                if FileManager.default.isReadableFile(atPath: path) { return path }
            }
            folder.deleteLastPathComponent()
        }
        return nil
    }

    func validate() throws {
        guard ranks >= 1 else { throw ValidationError("--ranks \(ranks): expected a positive number of ranks") }
    }

    func run() throws {
        let path = config ?? Self.shippedConfiguration()
        let spec: ModelSpec, label: String
        if let path {
            spec = try TrainingConfiguration.load(path: path, overrides: []).model
            label = path
        } else {
            spec = try ModelSpec(section: ConfigSection(ConfigValue.parse(yaml: Self.shippedMLP, source: "shipped MLP"))
                .section("model"))
            label = "the shipped MLP (784-512-512-10)"
        }
        // Sized without the data: a GPT over byte windows of its block size (vocabulary 256 unless
        // configured), any other model over Fashion-MNIST's images.
        let model: Model
        if case .gpt(let settings) = spec {
            model = try Model(spec: spec, inputShape: [settings.blockSize], targetsPerSample: settings.blockSize,
                              classes: settings.vocabularySize ?? 256)
        } else {
            model = try Model(spec: spec, inputShape: [1, 28, 28], classes: 10)
        }
        let parameters = model.layout.totalCount
        let adamw = try OptimizerCatalog.stateBytes(name: "adamw", layout: model.layout)
        print("model: \(label), \(parameters) parameters; state relative to AdamW (\(adamw) bytes)")
        let sharded = ranks > 1
        print("name            state bytes   bytes/param   vs AdamW   "
              + (sharded ? "per rank on \(ranks) (largest, share)   " : "") + "settings (defaults)")
        for name in OptimizerCatalog.names {
            let bytes = try OptimizerCatalog.stateBytes(name: name, layout: model.layout)
            let settings = try OptimizerCatalog.settings(name: name)
                .map { setting in setting.default.map { "\(setting.key)=\($0)" } ?? setting.key }.joined(separator: " ")
            var shards = ""
            if sharded {
                let largest = try OptimizerCatalog.shardStateBytes(name: name, layout: model.layout, shards: ranks).max() ?? 0
                shards = String(format: "%12d %8.1f%%            ", largest, bytes > 0 ? 100 * Double(largest) / Double(bytes) : 0)
            }
            print(padded(name) + String(format: " %12d %13.3f %9.1f%%   ", bytes, Double(bytes) / Double(parameters),
                                        100 * Double(bytes) / Double(adamw)) + shards + settings)
        }
        if sharded {
            print("per rank: the largest rank's optimizer state with distributed.shard_optimizer on \(ranks) ranks, and its "
                  + "share of the unsharded state (ideal \(String(format: "%.1f", 100 / Double(ranks)))%); optimizers whose "
                  + "statistics need whole tensors are cut between tensors only")
        }
        // Memory-lean settings that differ from the reference libraries' defaults.
        let lean = try ConfigSection(ConfigValue.parse(yaml: "name: adafactor\nbetas: [null, 0.999]\n", source: "lean"),
                                     path: "optimizer")
        let leanBytes = try OptimizerCatalog.stateBytes(section: lean, layout: model.layout)
        print(padded("adafactor") + String(format: " %12d %13.3f %9.1f%%   (betas: [null, 0.999]: no first moment)",
                                           leanBytes, Double(leanBytes) / Double(parameters),
                                           100 * Double(leanBytes) / Double(adamw)))
        print("transforms (optimizer.transforms): \(TransformCatalog.names.joined(separator: ", "))")
    }
}

private func padded(_ name: String) -> String { name.padding(toLength: 14, withPad: " ", startingAt: 0) }

struct ConformanceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conformance",
        abstract: "Replay reference optimizer trajectories (JSON) and report the worst deviation of each.")

    @Argument(help: "Reference trajectory files, or folders whose .json files are all replayed.") var files: [String]

    func validate() throws {
        if files.isEmpty { throw ValidationError("give at least one reference file") }
    }

    func run() throws {
        var failures = 0
        for file in Self.expand(files) {
            do {
                let result = try Conformance.run(file: URL(fileURLWithPath: file))
                print(String(format: "%@  %@  worst deviation %.3g of tolerance %.3g (step %d, %@)",
                             result.passed ? "pass" : "FAIL", result.caseName, result.worstDeviation,
                             result.tolerance, result.worstStep, result.worstParameter))
                if !result.passed { failures += 1 }
            } catch let error as ConformanceError {
                print("FAIL  \(error)")
                failures += 1
            } catch {
                print("FAIL  \(file): \(error)")
                failures += 1
            }
        }
        if failures > 0 { throw ExitCode(1) }
    }

    /// Folders stand for their `.json` files, in name order; anything else is kept as given.
    static func expand(_ paths: [String]) -> [String] {
        paths.flatMap { path -> [String] in
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue,
                  let names = try? FileManager.default.contentsOfDirectory(atPath: path) else { return [path] }
            let files = names.filter { $0.hasSuffix(".json") }.sorted()
            return files.isEmpty ? [path] : files.map { (path as NSString).appendingPathComponent($0) }
        }
    }
}
