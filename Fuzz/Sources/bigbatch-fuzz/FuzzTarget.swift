import Checkpoints
import Configuration
import Data
import Foundation
import Layers
import Optimizers
import Tensors
import Training

/// What each fuzz target reads, the way `bigbatch` reads a file from someone else. Errors are the
/// expected outcome for almost every input; a crash, a hang, a leak or a runaway allocation is a bug.
enum FuzzTarget: String, CaseIterable {
    /// A safetensors file's header and tensors.
    case safetensors
    /// A checkpoint: safetensors, then its metadata and a restore into a small model's layout.
    case checkpoint
    /// IDX image and label files (gzipped or plain).
    case idx
    /// `.npy` image and label files (gzipped or plain).
    case npy
    /// A YAML configuration, through its resolved form and back, to a built model and optimizer.
    case config

    func run(_ bytes: [UInt8]) {
        switch self {
        case .safetensors:
            _ = try? SafeTensorsFile(decoding: Data(bytes), path: "input")
        case .checkpoint:
            guard let file = try? SafeTensorsFile(decoding: Data(bytes), path: "input"),
                  let checkpoint = try? Checkpoint(file: file, source: "input") else { return }
            _ = try? CheckpointMetadata(reading: checkpoint)
            _ = try? checkpoint.restore(into: FuzzTarget.smallModel.store.parameters, layout: FuzzTarget.smallModel.layout,
                                        prefix: "param.")
        case .idx:
            _ = try? IDXReader.readImages(contents: bytes, file: "input")
            _ = try? IDXReader.readLabels(contents: bytes, file: "input", classes: 10)
        case .npy:
            _ = try? NumpyReader.readImages(contents: bytes, file: "input")
            _ = try? NumpyReader.readLabels(contents: bytes, file: "input", classes: 10)
        case .config:
            FuzzTarget.configuration(String(decoding: bytes, as: UTF8.self))
        }
    }

    /// The layout a checkpoint is restored into: the shipped MLP's names at a small width.
    nonisolated(unsafe) static let smallModel = try! Model(spec: .mlp(hidden: [4, 4]), inputShape: [1, 4, 4], classes: 10)

    private static func configuration(_ text: String) {
        guard let tree = try? ConfigValue.parse(yaml: text, source: "input") else { return }
        // The resolved configuration is written back out and read again, as a run directory's config.yaml is.
        _ = try? ConfigValue.parse(yaml: tree.yaml(), source: "written")
        guard let configuration = try? TrainingConfiguration(tree: tree, source: "input") else { return }
        // A model is built only when it is small, so that the fuzzer's memory limit measures leaks, not models.
        let budget = 64 << 20
        guard let size = try? configuration.model.size(inputShape: [1, 28, 28], classes: 10, memoryBudget: budget),
              let bytes = size.bytes(batch: 1, replicas: 1), bytes <= budget,
              let model = try? Model(spec: configuration.model, inputShape: [1, 28, 28], classes: 10),
              let section = try? ConfigSection(configuration.optimizerTree, path: "optimizer") else { return }
        _ = try? OptimizerCatalog.make(section: section, layout: model.layout)
        _ = try? configuration.makeSchedule(totalSteps: 100)
    }
}
