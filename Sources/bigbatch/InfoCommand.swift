import ArgumentParser
import Distributed
import Tensors

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info", abstract: "Print one line per rank: host, MPI library, BLAS kernels and threads.")

    func run() throws {
        try withWorld { world in
            let line = "rank \(world.rank)/\(world.size) host=\(world.processorName) mpi=\"\(world.libraryVersion)\" "
                + "blas=\(BLAS.coreName) threads=\(BLAS.threadCount)"
            print(line)
        }
    }
}
