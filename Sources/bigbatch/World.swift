import Distributed
import Training

import Foundation

/// Runs `body` with the MPI world and ends the job the right way whatever happens.
///
/// An error thrown on one rank cannot be seen by the others, which would wait forever in their
/// next collective; so the failing rank prints its reason and aborts the whole job.
func withWorld(_ body: (MPICommunicator) throws -> Void) throws {
    let world: MPICommunicator
    do {
        world = try MPICommunicator()
    } catch {
        throw CommandFailure("cannot start MPI: \(error)")
    }
    do {
        try body(world)
    } catch let failure as CollectiveFailure {
        // Every rank saw the same failure and agreed on it: rank 0 reports it once, all exit cleanly.
        if world.isRoot { printError(failure.message) }
        world.finalize()
        exit(1)
    } catch {
        let prefix = world.size > 1 ? "rank \(world.rank): " : ""
        printError("\(prefix)error: \(error)")
        if world.size > 1 { world.abort(code: 1) }
        world.finalize()
        exit(1)
    }
    world.finalize()
}

/// An error to report as is.
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
