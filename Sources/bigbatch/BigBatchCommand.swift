import ArgumentParser

struct BigBatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bigbatch",
        abstract: "Data-parallel training over MPI: small per-rank batches that train like one large batch.",
        subcommands: [TrainCommand.self, EvalCommand.self, CompareCommand.self, ReportCommand.self, OptimizersCommand.self, ConformanceCommand.self, InfoCommand.self, BenchCommand.self, SelfTestCommand.self, EquivalenceCommand.self])
}
