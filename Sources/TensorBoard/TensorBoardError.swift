/// Why an event file could not be written or read; every case names the file.
public enum TensorBoardError: Error, CustomStringConvertible, Equatable, Sendable {
    case createFailed(path: String, reason: String)
    case writeFailed(path: String, reason: String)
    case unreadable(path: String, reason: String)
    /// A record passes its checksums but is not an `Event`.
    case malformedEvent(path: String, record: Int, reason: String)

    public var description: String {
        switch self {
        case .createFailed(let path, let reason): "cannot create event file \(path): \(reason)"
        case .writeFailed(let path, let reason): "cannot write event file \(path): \(reason)"
        case .unreadable(let path, let reason): "cannot read event file \(path): \(reason)"
        case .malformedEvent(let path, let record, let reason): "\(path): record \(record) is not an event: \(reason)"
        }
    }
}
