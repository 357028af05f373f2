import ArgumentParser
import Distributed
import Foundation
import Tensors

/// Checks the collectives against values every rank can compute locally. Run by the test suite
/// under real `mpirun`; also a quick health check for a new cluster.
struct SelfTestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selftest", abstract: "Check every collective against locally computed results.")

    @Option(help: "Make this rank fail with a buffer-length mismatch before a collective (tests failure handling).")
    var failRank: Int?

    @Option(help: "Elements per checked buffer.") var count = 1000

    func run() throws {
        try withWorld { world in
            var checks = 0
            if let failRank, failRank == world.rank {
                // The mismatch is detected locally, before the collective is entered; the other ranks
                // are already waiting in the allreduce and must be ended by the abort.
                let input = FloatBuffer(count: count)
                let output = FloatBuffer(count: count)
                try world.allGather(UnsafeBufferPointer(input.pointer), into: output.pointer)
            }
            try checkAllReduce(Float.self, world, &checks)
            try checkAllReduce(Double.self, world, &checks)
            try checkAllReduce(Int64.self, world, &checks)
            try checkBroadcast(world, &checks)
            try checkReduceScatterAllGather(world, &checks)
            try checkUnevenBlocks(world, &checks)
            try checkNonBlocking(world, &checks)
            try checkBFloat16Sum(world, &checks)
            try world.barrier()
            print("rank \(world.rank)/\(world.size): \(checks) collective checks passed")
        }
    }

    /// Rank r contributes (r + 1) · (i mod 7 + 1) − i mod 3 at element i.
    private func contribution(rank: Int, index: Int) -> Int { (rank + 1) * (index % 7 + 1) - index % 3 }

    private func checkAllReduce<T: CheckedElement>(
        _ type: T.Type, _ world: MPICommunicator, _ checks: inout Int) throws {
        for operation in [ReductionOperation.sum, .max, .min] {
            var values = (0..<count).map { T(contribution(rank: world.rank, index: $0)) }
            try values.withUnsafeMutableBufferPointer { try world.allReduce($0, operation) }
            for i in 0..<count {
                let all = (0..<world.size).map { contribution(rank: $0, index: i) }
                let expected: Int
                switch operation {
                case .sum: expected = all.reduce(0, +)
                case .max: expected = all.max()!
                case .min: expected = all.min()!
                }
                guard values[i] == T(expected) else {
                    throw CommandFailure("allreduce \(operation) \(T.self)[\(i)] = \(values[i]), expected \(expected)")
                }
            }
            checks += 1
        }
    }

    /// bfloat16 sums of small integers, which bfloat16 holds exactly (|sum| < 256), as every rank expects.
    private func checkBFloat16Sum(_ world: MPICommunicator, _ checks: inout Int) throws {
        let values = (0..<count).map { Float(contribution(rank: world.rank, index: $0) % 11) }
        var words = [UInt16](repeating: 0, count: count), sums = [Float](repeating: 0, count: count)
        values.withUnsafeBufferPointer { source in words.withUnsafeMutableBufferPointer { BFloat16.round(source, into: $0) } }
        try words.withUnsafeMutableBufferPointer { try world.allReduceBFloat16Sum($0) }
        words.withUnsafeBufferPointer { source in sums.withUnsafeMutableBufferPointer { BFloat16.expand(source, into: $0) } }
        for i in 0..<count {
            let expected = (0..<world.size).reduce(0) { $0 + contribution(rank: $1, index: i) % 11 }
            guard sums[i] == Float(expected) else {
                throw CommandFailure("bfloat16 allreduce [\(i)] = \(sums[i]), expected \(expected)")
            }
        }
        checks += 1
    }

    private func checkBroadcast(_ world: MPICommunicator, _ checks: inout Int) throws {
        let root = world.size - 1
        var values = (0..<count).map { Double(contribution(rank: world.rank, index: $0)) }
        try values.withUnsafeMutableBufferPointer { try world.broadcast($0, root: root) }
        for i in 0..<count where values[i] != Double(contribution(rank: root, index: i)) {
            throw CommandFailure("broadcast[\(i)] = \(values[i]), expected the root's value")
        }
        checks += 1
    }

    private func checkReduceScatterAllGather(_ world: MPICommunicator, _ checks: inout Int) throws {
        let total = count * world.size
        let input = (0..<total).map { Float(contribution(rank: world.rank, index: $0)) }
        var block = [Float](repeating: 0, count: count)
        try input.withUnsafeBufferPointer { inputPointer in
            try block.withUnsafeMutableBufferPointer { try world.reduceScatter(inputPointer, into: $0, .sum) }
        }
        for j in 0..<count {
            let index = world.rank * count + j
            let expected = (0..<world.size).map { contribution(rank: $0, index: index) }.reduce(0, +)
            guard block[j] == Float(expected) else {
                throw CommandFailure("reduce-scatter[\(index)] = \(block[j]), expected \(expected)")
            }
        }
        var gathered = [Float](repeating: 0, count: total)
        try block.withUnsafeBufferPointer { blockPointer in
            try gathered.withUnsafeMutableBufferPointer { try world.allGather(blockPointer, into: $0) }
        }
        for i in 0..<total {
            let expected = (0..<world.size).map { contribution(rank: $0, index: i) }.reduce(0, +)
            guard gathered[i] == Float(expected) else {
                throw CommandFailure("allgather[\(i)] = \(gathered[i]), expected \(expected)")
            }
        }
        checks += 1
    }

    /// The sharded optimizer's collectives over blocks of uneven lengths (one of them empty), in place:
    /// reduce-scatter, all-gather and gather to the last rank.
    private func checkUnevenBlocks(_ world: MPICommunicator, _ checks: inout Int) throws {
        let counts = (0..<world.size).map { $0 == 1 ? 0 : count / 2 + $0 * 7 }
        let total = counts.reduce(0, +), offset = counts[..<world.rank].reduce(0, +), mine = counts[world.rank]
        let sums = (0..<total).map { i in Float((0..<world.size).map { contribution(rank: $0, index: i) }.reduce(0, +)) }
        var buffer = (0..<total).map { Float(contribution(rank: world.rank, index: $0)) }
        try buffer.withUnsafeMutableBufferPointer { try world.reduceScatter($0, blocks: counts, .sum) }
        for i in offset..<(offset + mine) where buffer[i] != sums[i] {
            throw CommandFailure("reduce-scatter over blocks \(counts)[\(i)] = \(buffer[i]), expected \(sums[i])")
        }
        // Only this rank's block is defined now; the all-gather fills in the others'.
        for i in 0..<total where !(offset..<(offset + mine)).contains(i) { buffer[i] = -1 }
        try buffer.withUnsafeMutableBufferPointer { try world.allGather($0, blocks: counts) }
        if let i = (0..<total).first(where: { buffer[$0] != sums[$0] }) {
            throw CommandFailure("all-gather over blocks \(counts)[\(i)] = \(buffer[i]), expected \(sums[i])")
        }
        let root = world.size - 1
        let own = Array(buffer[offset..<(offset + mine)])
        var received = [Float](repeating: -1, count: world.rank == root ? total : 0)
        try own.withUnsafeBufferPointer { input in
            try received.withUnsafeMutableBufferPointer { try world.gather(input, into: $0, blocks: counts, root: root) }
        }
        if world.rank == root, let i = (0..<total).first(where: { received[$0] != sums[$0] }) {
            throw CommandFailure("gather over blocks \(counts)[\(i)] = \(received[i]), expected \(sums[i])")
        }
        checks += 1
    }

    /// Starts a large reduction, computes a matrix product meanwhile, then completes it.
    private func checkNonBlocking(_ world: MPICommunicator, _ checks: inout Int) throws {
        let length = 1 << 20
        let buffer = FloatBuffer(count: length)
        for i in 0..<length { buffer[i] = Float(contribution(rank: world.rank, index: i)) }
        let pending = try world.startAllReduce(buffer.pointer, .sum)
        let n = 256
        let a = FloatBuffer(count: n * n), c = FloatBuffer(count: n * n)
        a.fill(1)
        var polls = 0
        while try !pending.test() {
            BLAS.gemm(m: n, n: n, k: n, a: a.baseAddress, b: a.baseAddress, c: c.baseAddress)
            polls += 1
            if polls > 100_000 { break }
        }
        try pending.wait()
        guard c[0] == Float(n) || polls == 0 else { throw CommandFailure("local work during the reduction went wrong") }
        for i in stride(from: 0, to: length, by: 997) {
            let expected = (0..<world.size).map { contribution(rank: $0, index: i) }.reduce(0, +)
            guard buffer[i] == Float(expected) else {
                throw CommandFailure("non-blocking allreduce[\(i)] = \(buffer[i]), expected \(expected)")
            }
        }
        checks += 1
    }
}

/// Element types whose small integer values convert exactly.
protocol CheckedElement: CollectiveElement, Equatable { init(_ value: Int) }
extension Float: CheckedElement {}
extension Double: CheckedElement {}
extension Int64: CheckedElement {}
