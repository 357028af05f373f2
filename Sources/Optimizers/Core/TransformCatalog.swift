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
            AddDecayedWeights(name: "l2", weightDecay: Float(try s.nonNegative("weight_decay", default: 1e-4)))
        },
        Entry(name: "weight_decay", placement: .update) { s, _ throws(ConfigError) in
            DecoupledWeightDecay(weightDecay: Float(try s.nonNegative("weight_decay", default: 1e-2)),
                                 fixedDecay: try s.bool("fixed_decay", default: false))
        },
        Entry(name: "cautious_weight_decay", placement: .update) { s, _ throws(ConfigError) in
            DecoupledWeightDecay(weightDecay: Float(try s.nonNegative("weight_decay", default: 1e-2)),
                                 fixedDecay: try s.bool("fixed_decay", default: false), cautious: true)
        },
    ]
}
