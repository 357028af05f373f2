import Configuration

/// A multilayer perceptron: (Linear → [norm] → activation → dropout) per hidden width, then the
/// output Linear. A sample of any shape is flattened first.
public struct MLPSettings: Sendable, Equatable {
    static let kind = "mlp"

    public var common: ModelSpec.Common
    /// Hidden widths.
    public var hidden: [Int]
    /// Normalization between each hidden Linear and its activation.
    public var norm: ModelSpec.Norm

    public init(common: ModelSpec.Common, hidden: [Int], norm: ModelSpec.Norm) {
        self.common = common
        self.hidden = hidden
        self.norm = norm
    }

    init(section: ConfigSection, common: ModelSpec.Common) throws(ConfigError) {
        self.init(common: common, hidden: try ModelSpec.widths(section, "hidden", default: [512, 512]),
                  norm: try ModelSpec.choice(section, "norm", default: ModelSpec.Norm.none))
    }

    func build(_ stack: inout LayerStack) throws(ModelError) {
        // Unnumbered, so that parameter names and dropout keys are those of the flat-input MLP.
        if stack.shape.count > 1 { try stack.add(Flatten(name: "flatten", inputShape: stack.shape), numbered: false) }
        for (index, width) in hidden.enumerated() {
            stack.setting = "model.hidden[\(index)] = \(width)"
            try stack.add(try Linear(name: stack.nextName, inputShape: stack.shape, outFeatures: width))
            switch norm {
            case .none: break
            case .layernorm: try stack.add(LayerNorm(name: stack.nextName, inputShape: stack.shape))
            case .rmsnorm: try stack.add(RMSNorm(name: stack.nextName, inputShape: stack.shape))
            }
            try stack.addActivationAndDropout(common)
        }
    }
}
