/// Element types a safetensors file may hold, spelled as in the file's header.
public enum DType: String, Sendable, CaseIterable, Equatable {
    case float32 = "F32"
    case float64 = "F64"
    case int64 = "I64"
    case int32 = "I32"
    case uint8 = "U8"

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .float64, .int64: 8
        case .float32, .int32: 4
        case .uint8: 1
        }
    }

    /// Rank in the Python `safetensors` writer's layout order (its dtype enum order, written
    /// descending), so that wider types come first and every tensor starts naturally aligned.
    var layoutRank: Int {
        switch self {
        case .int64: 4
        case .float64: 3
        case .float32: 2
        case .int32: 1
        case .uint8: 0
        }
    }
}
