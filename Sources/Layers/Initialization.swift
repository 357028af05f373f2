import Tensors

extension ModelSpec.Initialization {
    /// Fills every parameter from `KeyedRandom(seed, parameterIndex)`, so every rank derives
    /// identical parameters from the seed alone. Weights by fan (Kaiming: std √(2/fanIn) or bound
    /// √(6/fanIn); Xavier: std √(2/(fanIn+fanOut)) or bound √(6/(fanIn+fanOut))), biases 0,
    /// norm scales 1, embeddings standard normal.
    public func initialize(_ store: ParameterStore, seed: UInt64, activation: Activation) {
        let scheme: Self = self == .auto ? (activation.isRectifierFamily ? .kaimingNormal : .xavierUniform) : self
        for (index, slot) in store.layout.slots.enumerated() {
            let values = store.parameters(slot)
            let random = KeyedRandom(seed, UInt64(index))
            switch slot.role {
            case .bias:
                values.update(repeating: 0)
            case .scale:
                values.update(repeating: 1)
            case .embedding:
                for i in 0..<values.count { values[i] = random.normal(i) }
            case .weight:
                let fanIn = Double(max(slot.fanIn, 1))
                let receptive = slot.shape.count >= 2 ? slot.count / (slot.shape[0] * slot.shape[1]) : 1
                let fanOut = Double(slot.shape[0] * receptive)
                switch scheme {
                case .kaimingNormal, .auto:
                    let std = Float((2 / fanIn).squareRoot())
                    for i in 0..<values.count { values[i] = std * random.normal(i) }
                case .xavierNormal:
                    let std = Float((2 / (fanIn + fanOut)).squareRoot())
                    for i in 0..<values.count { values[i] = std * random.normal(i) }
                case .kaimingUniform:
                    let bound = Float((6 / fanIn).squareRoot())
                    for i in 0..<values.count { values[i] = bound * (2 * random.uniform(i) - 1) }
                case .xavierUniform:
                    let bound = Float((6 / (fanIn + fanOut)).squareRoot())
                    for i in 0..<values.count { values[i] = bound * (2 * random.uniform(i) - 1) }
                }
            }
        }
    }
}
