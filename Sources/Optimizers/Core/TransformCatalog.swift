import Configuration
import Tensors

/// The transforms that may be listed under `optimizer.transforms`.
public enum TransformCatalog {
    struct Entry: Sendable {
        let name: String
        let placement: TransformPlacement
        let build: @Sendable (ConfigSection, ParameterLayout) throws(ConfigError) -> any GradientTransform
    }

    public static var names: [String] { entries.map(\.name) }

    static func make(section: ConfigSection, layout: ParameterLayout) throws(ConfigError)
        -> (TransformPlacement, any GradientTransform)
    {
        let name = try section.requiredString("name")
        guard let entry = entries.first(where: { $0.name == name }) else {
            throw .invalidChoice(key: section.qualified("name"), value: name, valid: names)
        }
        return (entry.placement, try entry.build(section, layout))
    }

    static let entries: [Entry] = [
        Entry(name: "l2", placement: .gradient) { s, _ throws(ConfigError) in
            WeightDecay(.coupled, weightDecay: Float(try s.nonNegative("weight_decay", default: 1e-4)))
        },
        Entry(name: "weight_decay", placement: .update) { s, _ throws(ConfigError) in
            WeightDecay(.inUpdate(fixed: try s.bool("fixed_decay", default: false), cautious: false),
                        weightDecay: Float(try s.nonNegative("weight_decay", default: 1e-2)))
        },
        Entry(name: "cautious_weight_decay", placement: .update) { s, _ throws(ConfigError) in
            WeightDecay(.inUpdate(fixed: try s.bool("fixed_decay", default: false), cautious: true),
                        weightDecay: Float(try s.nonNegative("weight_decay", default: 1e-2)))
        },
        Entry(name: "swd", placement: .update) { s, _ throws(ConfigError) in
            StableWeightDecay(weightDecay: Float(try s.nonNegative("weight_decay", default: 1e-2)),
                              beta2: Float(try s.rate("beta2", default: 0.999)),
                              epsilon: Float(try s.nonNegative("eps", default: 1e-8)))
        },
        Entry(name: "norm_loss", placement: .update) { s, layout throws(ConfigError) in
            NormLoss(layout: layout, factor: Float(try s.nonNegative("factor", default: 1e-4)))
        },
        Entry(name: "cpr", placement: .update) { s, layout throws(ConfigError) in
            ConstrainedParameterRegularization(layout: layout, mu: Float(try s.nonNegative("mu", default: 1)),
                                               warmStart: try s.int("warm_start", default: 1, range: 1...Int.max))
        },
        Entry(name: "cautious", placement: .update) { _, _ throws(ConfigError) in CautiousMask() },
        Entry(name: "trust_ratio", placement: .update) { s, layout throws(ConfigError) in
            TrustRatio(layout: layout, coefficient: Float(try s.positive("coefficient", default: 1)),
                       skipVectors: try s.bool("skip_vectors", default: true))
        },
        Entry(name: "spectral_bound", placement: .update) { s, layout throws(ConfigError) in
            try SpectralStepBound.read(s, layout: layout)
        },
        Entry(name: "clip_norm", placement: .gradient) { s, _ throws(ConfigError) in
            ClipByGlobalNorm(maxNorm: Float(try s.positive("max_norm", default: 1)))
        },
        Entry(name: "agc", placement: .gradient) { s, layout throws(ConfigError) in
            AdaptiveGradientClipping(layout: layout, clipping: Float(try s.positive("clipping", default: 1e-2)),
                                     epsilon: Float(try s.positive("eps", default: 1e-3)))
        },
        Entry(name: "centralize", placement: .gradient) { _, layout throws(ConfigError) in
            GradientCentralization(layout: layout)
        },
        Entry(name: "normalize", placement: .gradient) { s, layout throws(ConfigError) in
            GradientNormalization(layout: layout, epsilon: Float(try s.nonNegative("eps", default: 1e-8)))
        },
        Entry(name: "soft_clip", placement: .gradient) { _, layout throws(ConfigError) in SoftClip(layout: layout) },
    ]
}
