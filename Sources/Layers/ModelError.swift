/// A network that cannot be built: names the layer and the shapes involved.
public enum ModelError: Error, Equatable, CustomStringConvertible {
    /// The layer needs input of another rank or size (`expected` describes it, e.g. "[C, H, W]").
    case inputShape(layer: String, expected: String, found: [Int])
    /// Two shapes that must agree do not (consecutive layers, a residual's body, declared features).
    case shapeMismatch(layer: String, expected: [Int], found: [Int])
    /// A convolution or pooling whose output would have a non-positive size.
    case nonPositiveOutput(layer: String, input: [Int], output: [Int])
    /// A layer argument out of its domain (kernel size 0, dropout 1, zero classes).
    case invalidArgument(layer: String, reason: String)
    /// A setting that makes the model larger than `Int` can count or than memory can hold; names the
    /// setting with its value (`model.hidden[0] = 100000000000`) and what it would need.
    case tooLarge(setting: String, reason: String)

    public var layer: String {
        switch self {
        case .inputShape(let layer, _, _), .shapeMismatch(let layer, _, _), .nonPositiveOutput(let layer, _, _),
             .invalidArgument(let layer, _):
            return layer
        case .tooLarge(let setting, _):
            return setting
        }
    }

    public var description: String {
        switch self {
        case .inputShape(let layer, let expected, let found):
            return "layer \(layer) expects input of shape \(expected) per sample, found \(found)"
        case .shapeMismatch(let layer, let expected, let found):
            return "layer \(layer): shape \(found) does not match the expected \(expected)"
        case .nonPositiveOutput(let layer, let input, let output):
            return "layer \(layer): input \(input) gives a non-positive output size \(output)"
        case .invalidArgument(let layer, let reason):
            return "layer \(layer): \(reason)"
        case .tooLarge(let setting, let reason):
            return "\(setting) \(reason)"
        }
    }
}
