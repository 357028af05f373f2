import ArgumentParser
import Checkpoints
import Training

struct BigBatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bigbatch",
        abstract: "Data-parallel training over MPI: small per-rank batches that train like one large batch.",
        version: "bigbatch \(TrainingSession.version) (checkpoint format \(Checkpoint.formatVersion))",
        subcommands: [TrainCommand.self, EvalCommand.self, NoiseScaleCommand.self, GenerateCommand.self, CompareCommand.self, ReportCommand.self, OptimizersCommand.self, ConformanceCommand.self, InfoCommand.self, BenchCommand.self, SelfTestCommand.self, EquivalenceCommand.self])
}
