import Foundation

/// A failure that every rank reports together: the message of the lowest failing rank.
public struct CollectiveFailure: Error, CustomStringConvertible {
    public let message: String
    public let failingRank: Int
    public var description: String { message }

    public init(message: String, failingRank: Int) {
        self.message = message
        self.failingRank = failingRank
    }
}

/// Runs `body` on every rank and makes all ranks agree on whether it succeeded.
///
/// Setup work (reading the configuration, the data, a checkpoint) can fail on some ranks only, for
/// example when one node misses a file. Without agreement the others would enter the first
/// collective and wait forever; here every rank learns of the failure and the lowest failing
/// rank's message, so the job ends everywhere with the reason printed once.
public func agree<T>(_ world: any Communicator, _ body: () throws -> T) throws -> T {
    var result: Result<T, any Error>
    do { result = .success(try body()) } catch { result = .failure(error) }
    let myRank = (try? result.get()) == nil ? Int64(world.rank) : Int64(world.size)
    let failingRank = try world.allReduce(myRank, .min)
    guard failingRank < Int64(world.size) else { return try result.get() }

    var message: [UInt8] = []
    if case .failure(let error) = result, failingRank == Int64(world.rank) { message = Array("\(error)".utf8) }
    var length = Int64(message.count)
    try withUnsafeMutablePointer(to: &length) { pointer in
        try world.broadcast(UnsafeMutableBufferPointer(start: pointer, count: 1), root: Int(failingRank))
    }
    if message.count != Int(length) { message = [UInt8](repeating: 0, count: Int(length)) }
    try message.withUnsafeMutableBytes { try world.broadcast(bytes: $0, root: Int(failingRank)) }
    let text = String(decoding: message, as: UTF8.self)
    let prefix = world.size > 1 ? "rank \(failingRank): " : ""
    throw CollectiveFailure(message: "\(prefix)error: \(text)", failingRank: Int(failingRank))
}
