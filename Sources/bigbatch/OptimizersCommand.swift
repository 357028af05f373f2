import ArgumentParser
import Configuration
import Foundation
import Layers
import Optimizers
import Training

struct OptimizersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "optimizers",
        abstract: "List the optimizer catalogue with the optimizer-state memory each needs for a model.")

    @Option(help: "Configuration whose model sizes the state (default: the shipped MLP).")
    var config: String = "configs/fashion-mlp.yaml"

    func run() throws {
        let configuration = try TrainingConfiguration.load(path: config, overrides: [])
        let model = try Model(spec: configuration.model, inputShape: [1, 28, 28], classes: 10)
        let parameters = model.layout.totalCount
        let adamw = try OptimizerCatalog.stateBytes(name: "adamw", layout: model.layout)
        print("model: \(config), \(parameters) parameters; state relative to AdamW (\(adamw) bytes)")
        print("name            state bytes   bytes/param   vs AdamW")
        for name in OptimizerCatalog.names {
            let bytes = try OptimizerCatalog.stateBytes(name: name, layout: model.layout)
            print(padded(name) + String(format: " %12d %13.3f %9.1f%%", bytes, Double(bytes) / Double(parameters),
                                        100 * Double(bytes) / Double(adamw)))
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
