import Configuration
import Foundation
import Tensors

/// A GPT-2-style decoder, laid out and named as nanoGPT lays it out, so that a checkpoint's
/// `param.*` tensors load into nanoGPT's `GPT` with `load_state_dict(strict=False)`:
///
///     transformer.wte + transformer.wpe → dropout
///     n_layer × [ x + attn(ln_1(x)),  x + mlp(ln_2(x)) ]      (transformer.h.{i}.…)
///     transformer.ln_f → logits = x · transformer.wte.weightᵀ  (the tied head)
///
/// attn: `c_attn` (C → 3C, q k v side by side) → causal multi-head attention (dropout on its
/// weights) → `c_proj` (C → C) → residual dropout; mlp: `c_fc` (C → 4C) → GELU (tanh form) →
/// `c_proj` (4C → C) → residual dropout. Dropout layer indices: 0 for the embeddings, then
/// 1 + 3i, 2 + 3i, 3 + 3i for block i's attention weights, attention output and MLP output.
public struct GPTSettings: Sendable, Equatable {
    static let kind = "gpt"

    public var common: ModelSpec.Common
    /// The vocabulary; nil takes the data set's.
    public var vocabularySize: Int?
    /// The longest sequence (the position table's length); samples may be shorter.
    public var blockSize: Int
    public var layers: Int
    public var heads: Int
    public var width: Int
    /// Biases in every Linear and LayerNorm (GPT-2 has them).
    public var bias: Bool

    public init(common: ModelSpec.Common = ModelSpec.Common(activation: .gelu), vocabularySize: Int? = nil,
                blockSize: Int = 1024, layers: Int = 12, heads: Int = 12, width: Int = 768, bias: Bool = true) {
        self.common = common
        self.vocabularySize = vocabularySize
        self.blockSize = blockSize
        self.layers = layers
        self.heads = heads
        self.width = width
        self.bias = bias
    }

    init(section: ConfigSection, common: ModelSpec.Common) throws(ConfigError) {
        let widthLimit = ModelSpec.maxWidth
        let width = try section.int("n_embd", default: 768, range: 1...widthLimit)
        let heads = try section.int("n_head", default: 12, range: 1...widthLimit)
        guard width % heads == 0 else {
            throw .invalid(key: section.qualified("n_head"), reason: "n_embd = \(width) does not split into \(heads) heads")
        }
        self.init(common: common,
                  vocabularySize: try section.optionalInt("vocab_size", range: 1...widthLimit),
                  blockSize: try section.int("block_size", default: 1024, range: 1...widthLimit),
                  layers: try section.int("n_layer", default: 12, range: 1...4096),
                  heads: heads, width: width,
                  bias: try section.bool("bias", default: true))
    }

    func build(_ stack: inout LayerStack, vocabulary: Int) throws(ModelError) {
        guard stack.shape.count == 1 else {
            throw .inputShape(layer: "transformer (gpt)", expected: "[T] token ids", found: stack.shape)
        }
        let c = width, t = stack.shape[0], p = common.dropout
        stack.setting = "model.n_embd = \(c) with vocabulary \(vocabulary)"
        try stack.add(try TokenPositionEmbedding(name: "transformer", inputShape: stack.shape, vocabulary: vocabulary,
                                                 width: c, blockSize: blockSize), numbered: false)
        try stack.add(try Dropout(name: "transformer.drop", inputShape: stack.shape, probability: p, layerIndex: 0),
                      numbered: false)
        for i in 0..<layers {
            let block = "transformer.h.\(i)", shape = [t, c]
            stack.setting = "model.n_layer = \(layers) (block \(i)) at n_embd = \(c)"
            let attention: [any Layer] = [
                LayerNorm(name: "\(block).ln_1", inputShape: shape, bias: bias),
                try Linear(name: "\(block).attn.c_attn", inputShape: shape, outFeatures: 3 * c, bias: bias),
                try CausalSelfAttention(name: "\(block).attn", inputShape: [t, 3 * c], heads: heads, dropout: p,
                                        layerIndex: 1 + 3 * i),
                try Linear(name: "\(block).attn.c_proj", inputShape: shape, outFeatures: c, bias: bias),
                try Dropout(name: "\(block).attn.resid_dropout", inputShape: shape, probability: p, layerIndex: 2 + 3 * i),
            ]
            try stack.add(try Residual(name: "\(block).attn_residual", body: attention), numbered: false)
            let mlp: [any Layer] = [
                LayerNorm(name: "\(block).ln_2", inputShape: shape, bias: bias),
                try Linear(name: "\(block).mlp.c_fc", inputShape: shape, outFeatures: 4 * c, bias: bias),
                ActivationLayer(name: "\(block).mlp.gelu", inputShape: [t, 4 * c], activation: common.activation),
                try Linear(name: "\(block).mlp.c_proj", inputShape: [t, 4 * c], outFeatures: c, bias: bias),
                try Dropout(name: "\(block).mlp.dropout", inputShape: shape, probability: p, layerIndex: 3 + 3 * i),
            ]
            try stack.add(try Residual(name: "\(block).mlp_residual", body: mlp), numbered: false)
        }
        stack.setting = "the output head (vocabulary \(vocabulary))"
        try stack.add(LayerNorm(name: "transformer.ln_f", inputShape: stack.shape, bias: bias), numbered: false)
        try stack.add(try TiedOutputHead(name: "lm_head", inputShape: stack.shape, vocabulary: vocabulary,
                                         tableName: "transformer.wte.weight"), numbered: false)
    }

    /// GPT-2's initialization, as nanoGPT does it: every weight and both embedding tables N(0, 0.02),
    /// the residual projections (`c_proj`) N(0, 0.02/√(2·n_layer)) so the residual stream's variance
    /// does not grow with depth, biases 0, LayerNorm weights 1. Each tensor from `KeyedRandom(seed, index)`.
    func initialize(_ store: ParameterStore, seed: UInt64) {
        let projection = Float(0.02 / (2 * Double(layers)).squareRoot())
        for (index, slot) in store.layout.slots.enumerated() {
            let values = store.parameters(slot)
            let random = KeyedRandom(seed, UInt64(index))
            switch slot.role {
            case .bias: values.update(repeating: 0)
            case .scale: values.update(repeating: 1)
            case .weight, .embedding:
                let std: Float = slot.name.hasSuffix(".c_proj.weight") ? projection : 0.02
                for i in 0..<values.count { values[i] = std * random.normal(i) }
            }
        }
    }
}
