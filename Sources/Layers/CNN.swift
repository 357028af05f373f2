import Configuration

/// A convolutional network: (conv → activation → 2×2 pool with stride 2) per channel count, a
/// flatten, dropout, then (Linear → activation → dropout) per dense width and the output Linear.
/// Dropout comes after the flatten and after each dense activation, never inside the conv blocks.
public struct CNNSettings: Sendable, Equatable {
    static let kind = "cnn"

    public var common: ModelSpec.Common
    /// Output channels of each conv block.
    public var channels: [Int]
    public var kernelSize: Int
    public var padding: Int
    public var stride: Int
    public var pool: ModelSpec.Pooling
    /// Hidden widths of the dense layers after the flatten.
    public var dense: [Int]

    public init(common: ModelSpec.Common, channels: [Int], kernelSize: Int, padding: Int, stride: Int,
                pool: ModelSpec.Pooling, dense: [Int]) {
        self.common = common
        self.channels = channels
        self.kernelSize = kernelSize
        self.padding = padding
        self.stride = stride
        self.pool = pool
        self.dense = dense
    }

    init(section: ConfigSection, common: ModelSpec.Common) throws(ConfigError) {
        let channels = try ModelSpec.widths(section, "channels", default: [32, 64])
        guard !channels.isEmpty else {
            throw .invalid(key: section.qualified("channels"), reason: "needs at least one conv block")
        }
        let window = ModelSpec.maxWindow
        let kernelSize = try section.int("kernel_size", default: 3, range: 1...window)
        self.init(common: common, channels: channels, kernelSize: kernelSize,
                  padding: try section.int("padding", default: kernelSize / 2, range: 0...window),
                  stride: try section.int("stride", default: 1, range: 1...window),
                  pool: try ModelSpec.choice(section, "pool", default: ModelSpec.Pooling.max),
                  dense: try ModelSpec.widths(section, "dense", default: [128]))
    }

    func build(_ stack: inout LayerStack) throws(ModelError) {
        guard stack.shape.count == 3 else {
            throw .inputShape(layer: "\(stack.nextName) (Conv2d)", expected: "[C, H, W]", found: stack.shape)
        }
        let activation = common.activation
        for (index, width) in channels.enumerated() {
            stack.setting = "model.channels[\(index)] = \(width)"
            try stack.add(try Conv2d(name: stack.nextName, inputShape: stack.shape, outChannels: width,
                                 kernelSize: kernelSize, stride: stride, padding: padding))
            switch (pool, activation) {
            case (.max, .relu):
                // relu(max(x)) = max(relu(x)) with the same winner and the same gradient, so
                // pooling first gives identical results with ReLU on a quarter of the values.
                try stack.add(try MaxPool2d(name: stack.nextName, inputShape: stack.shape, kernel: 2, stride: 2))
                try stack.add(ActivationLayer(name: stack.nextName, inputShape: stack.shape, activation: activation))
            case (.max, _):
                try stack.add(ActivationLayer(name: stack.nextName, inputShape: stack.shape, activation: activation))
                try stack.add(try MaxPool2d(name: stack.nextName, inputShape: stack.shape, kernel: 2, stride: 2))
            case (.avg, _):
                try stack.add(ActivationLayer(name: stack.nextName, inputShape: stack.shape, activation: activation))
                try stack.add(try AvgPool2d(name: stack.nextName, inputShape: stack.shape, kernel: 2, stride: 2))
            }
        }
        try stack.add(Flatten(name: stack.nextName, inputShape: stack.shape))
        try stack.add(try Dropout(name: stack.nextName, inputShape: stack.shape, probability: common.dropout,
                              layerIndex: stack.numbered))
        for (index, width) in dense.enumerated() {
            stack.setting = "model.dense[\(index)] = \(width)"
            try stack.add(try Linear(name: stack.nextName, inputShape: stack.shape, outFeatures: width))
            try stack.addActivationAndDropout(common)
        }
    }
}
