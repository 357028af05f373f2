import Configuration

/// Range-checked readers shared by every optimizer and transform, so errors name the key and range alike.
extension ConfigSection {
    func nonNegative(_ key: String, default fallback: Double) throws(ConfigError) -> Double {
        let value = try double(key, default: fallback)
        guard value >= 0 else { throw .outOfRange(key: qualified(key), value: "\(value)", allowed: "≥ 0") }
        return value
    }

    func positive(_ key: String, default fallback: Double) throws(ConfigError) -> Double {
        let value = try double(key, default: fallback)
        guard value > 0 else { throw .outOfRange(key: qualified(key), value: "\(value)", allowed: "> 0") }
        return value
    }

    /// A decay rate in [0, 1).
    func rate(_ key: String, default fallback: Double) throws(ConfigError) -> Double {
        try double(key, default: fallback, range: 0...1, openUpper: true)
    }

    /// `count` decay rates in [0, 1) given as a list (torch's `betas`).
    func betas(_ key: String = "betas", default fallback: [Double]) throws(ConfigError) -> [Float] {
        let values = try doubles(key, default: fallback, count: fallback.count)
        for (index, value) in values.enumerated() where !(value >= 0 && value < 1) {
            throw .outOfRange(key: qualified("\(key)[\(index)]"), value: "\(value)", allowed: "in [0.0, 1.0)")
        }
        return values.map(Float.init)
    }

    /// A boolean that this implementation supports only with one value.
    func fixedBool(_ key: String, supported: Bool) throws(ConfigError) {
        let value = try bool(key, default: supported)
        guard value == supported else {
            throw .invalid(key: qualified(key), reason: "only \(supported) is supported")
        }
    }
}
