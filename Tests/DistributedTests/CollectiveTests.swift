import Distributed
import Foundation
import TestSupport
import XCTest

/// The collectives under real `mpirun` processes, and in a process without it.
final class CollectiveTests: XCTestCase {
    func testCollectivesOnTwoRanks() throws {
        let result = try ProcessRunner.run(["selftest"], ranks: 2)
        XCTAssertEqual(result.status, 0, result.error)
        XCTAssertEqual(passedRanks(result.output), ["0/2", "1/2"], result.output)
    }

    func testCollectivesOnThreeOversubscribedRanks() throws {
        let result = try ProcessRunner.run(["selftest", "--count", "4099"], ranks: 3)
        XCTAssertEqual(result.status, 0, result.error)
        XCTAssertEqual(passedRanks(result.output), ["0/3", "1/3", "2/3"], result.output)
    }

    func testSingletonModeWithoutMPIRun() throws {
        let result = try ProcessRunner.run(["selftest"])
        XCTAssertEqual(result.status, 0, result.error)
        XCTAssertEqual(passedRanks(result.output), ["0/1"])
    }

    func testInfoAnswersOnEveryRank() throws {
        let alone = try ProcessRunner.run(["info"])
        XCTAssertEqual(alone.status, 0, alone.error)
        XCTAssertTrue(alone.output.hasPrefix("rank 0/1 host="), alone.output)
        XCTAssertTrue(alone.output.contains("mpi=\"Open MPI"), alone.output)
        XCTAssertTrue(alone.output.contains("blas="), alone.output)
        let pair = try ProcessRunner.run(["info"], ranks: 2)
        XCTAssertEqual(pair.status, 0, pair.error)
        let lines = pair.output.split(separator: "\n").map(String.init).sorted()
        XCTAssertEqual(lines.count, 2)
        XCTAssertTrue(lines[0].hasPrefix("rank 0/2 ") && lines[1].hasPrefix("rank 1/2 "), pair.output)
        XCTAssertTrue(lines.allSatisfy { $0.contains("threads=1") }, "one BLAS thread per rank: \(pair.output)")
    }

    /// A mismatch found on one rank before the collective ends every rank, promptly, with the reason.
    func testErrorOnOneRankEndsAllRanks() throws {
        let result = try ProcessRunner.run(["selftest", "--fail-rank", "1"], ranks: 3, timeout: 60)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertLessThan(result.seconds, 30)
        XCTAssertTrue(result.error.contains("rank 1: error: MPI_Allgather: buffer holds"), result.error)
        XCTAssertEqual(passedRanks(result.output), [], "no rank may finish its checks: \(result.output)")
    }

    /// The size-1 communicator is a valid no-op world.
    func testLocalCommunicatorIsIdentity() throws {
        let world = LocalCommunicator()
        var values: [Float] = [1, -2, 3]
        try values.withUnsafeMutableBufferPointer { try world.allReduce($0, .sum) }
        XCTAssertEqual(values, [1, -2, 3])
        XCTAssertEqual(try world.allReduce(Int64(7), .max), 7)
        XCTAssertTrue(try world.allAgree(true))
        XCTAssertFalse(try world.allAgree(false))
        var output: [Float] = [0, 0]
        XCTAssertThrowsError(try values.withUnsafeBufferPointer { input in
            try output.withUnsafeMutableBufferPointer { try world.allGather(input, into: $0) }
        })        // One block, the whole buffer: the sharded optimizer's collectives leave it as it is.
        try values.withUnsafeMutableBufferPointer { try world.reduceScatter($0, blocks: [3], .sum) }
        try values.withUnsafeMutableBufferPointer { try world.allGather($0, blocks: [3]) }
        var gathered: [Float] = [0, 0, 0]
        try values.withUnsafeBufferPointer { input in
            try gathered.withUnsafeMutableBufferPointer { try world.gather(input, into: $0, blocks: [3], root: 0) }
        }
        XCTAssertEqual(values, [1, -2, 3])
        XCTAssertEqual(gathered, values)
        XCTAssertThrowsError(try values.withUnsafeMutableBufferPointer { try world.reduceScatter($0, blocks: [2, 1], .sum) })
        XCTAssertThrowsError(try values.withUnsafeMutableBufferPointer { try world.allGather($0, blocks: [2]) })
    }

    private func passedRanks(_ output: String) -> [String] {
        output.split(separator: "\n").compactMap { line -> String? in
            guard line.hasSuffix("collective checks passed") else { return nil }
            return line.split(separator: " ")[1].trimmingCharacters(in: CharacterSet(charactersIn: ":"))
        }.sorted()
    }
}
