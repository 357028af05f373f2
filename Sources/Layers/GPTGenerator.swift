import Foundation
import Tensors

/// Text from a trained GPT, one token at a time with a key/value cache: each new token runs every
/// block on its one position and attends to the keys and values cached for the positions before it,
/// so a token costs one position's work, not the whole prefix's.
///
/// It runs the training network's own LayerNorm, Linear and activation layers on one position,
/// bound to the model's parameters by their nanoGPT names, with the tied head, so its logits are
/// the full forward pass's at every position (a test). When the sequence would
/// outgrow the block size, the cache is rebuilt from the last half block, as learned positions
/// cannot slide.
public final class GPTGenerator {
    public let settings: GPTSettings
    public let vocabulary: Int
    private let store: ParameterStore
    private let c: Int
    /// Per layer, `blockSize` cached keys and values of width C.
    private var keys: [[Float]]
    private var values: [[Float]]
    private var length = 0
    private var context: [Int] = []
    /// The training network's own LayerNorm, Linear and activation layers, bound to the model's
    /// parameters and run on one position, by name (`transformer.h.0.attn.c_attn`, …).
    private let layers: [String: any Layer]

    public init(model: Model) throws(ModelError) {
        guard case .gpt(let settings) = model.spec else {
            throw .invalidArgument(layer: "generate", reason: "only a kind: gpt model generates text, not \(model.spec.kind)")
        }
        self.settings = settings
        vocabulary = model.classes
        store = model.store
        c = settings.width
        keys = Array(repeating: Array(repeating: 0, count: settings.blockSize * settings.width), count: settings.layers)
        values = keys
        let c = settings.width, bias = settings.bias
        var layers: [String: any Layer] = ["transformer.ln_f": LayerNorm(name: "transformer.ln_f", inputShape: [c], bias: bias)]
        for i in 0..<settings.layers {
            let block = "transformer.h.\(i)"
            layers["\(block).ln_1"] = LayerNorm(name: "\(block).ln_1", inputShape: [c], bias: bias)
            layers["\(block).ln_2"] = LayerNorm(name: "\(block).ln_2", inputShape: [c], bias: bias)
            for (name, inputs, outputs) in [("attn.c_attn", c, 3 * c), ("attn.c_proj", c, c), ("mlp.c_fc", c, 4 * c),
                                            ("mlp.c_proj", 4 * c, c)] {
                layers["\(block).\(name)"] = try Linear(name: "\(block).\(name)", inputShape: [inputs], outFeatures: outputs,
                                                       bias: bias)
            }
        }
        layers["activation"] = ActivationLayer(name: "activation", inputShape: [4 * c], activation: settings.common.activation)
        for layer in layers.values {
            layer.bind(model.store)
            layer.reserve(batch: 1)
        }
        self.layers = layers
    }

    private func parameter(_ name: String) -> UnsafeMutablePointer<Float> {
        guard let slot = store.layout.slot(named: name) else { preconditionFailure("GPT parameter \(name) missing") }
        return store.parameters.baseAddress + slot.offset
    }

    /// `count` tokens after `prompt`, sampled at `temperature` (0: the most likely token) from the
    /// `topK` most likely (0: all), with randomness keyed by `seed` and the position.
    public func generate(prompt: [Int], count: Int, temperature: Double = 1, topK: Int = 0, seed: UInt64 = 0) -> [Int] {
        precondition(!prompt.isEmpty, "generation needs a prompt of at least one token")
        precondition(prompt.allSatisfy { (0..<vocabulary).contains($0) }, "prompt token outside the vocabulary")
        reset()
        var logits = [Float]()
        for token in prompt { logits = advance(token) }
        var generated: [Int] = []
        for n in 0..<count {
            let token = Self.sample(logits, temperature: temperature, topK: topK,
                                    random: KeyedRandom(seed, UInt64(n)).uniform(0))
            generated.append(token)
            if n + 1 < count { logits = advance(token) }
        }
        return generated
    }

    private func reset() {
        length = 0
        context = []
    }

    /// Feeds one token at the next position and returns the logits for the token after it.
    func advance(_ token: Int) -> [Float] {
        if length == settings.blockSize {
            // Rebuild the cache from the last half block (positions restart at 0).
            let kept = Array(context.suffix(settings.blockSize / 2))
            reset()
            for earlier in kept { _ = step(earlier, computeLogits: false) }
        }
        return step(token, computeLogits: true)
    }

    private func step(_ token: Int, computeLogits: Bool) -> [Float] {
        let position = length
        context.append(token)
        length += 1
        let wte = parameter("transformer.wte.weight"), wpe = parameter("transformer.wpe.weight")
        var x = (0..<c).map { wte[token * c + $0] + wpe[position * c + $0] }
        var h = [Float](repeating: 0, count: c), qkv = [Float](repeating: 0, count: 3 * c)
        var attended = [Float](repeating: 0, count: c), projected = [Float](repeating: 0, count: c)
        var hidden = [Float](repeating: 0, count: 4 * c), activated = hidden
        let heads = settings.heads, d = c / heads, scale = 1 / Float(d).squareRoot()
        var scores = [Float](repeating: 0, count: position + 1)
        for layer in 0..<settings.layers {
            let block = "transformer.h.\(layer)"
            run("\(block).ln_1", x, into: &h)
            run("\(block).attn.c_attn", h, into: &qkv)
            for i in 0..<c {
                keys[layer][position * c + i] = qkv[c + i]
                values[layer][position * c + i] = qkv[2 * c + i]
            }
            for head in 0..<heads {
                var top = -Float.infinity
                for j in 0...position {
                    var dot: Float = 0
                    for e in 0..<d { dot += qkv[head * d + e] * keys[layer][j * c + head * d + e] }
                    scores[j] = dot * scale
                    top = max(top, scores[j])
                }
                var total: Float = 0
                for j in 0...position {
                    scores[j] = expf(scores[j] - top)
                    total += scores[j]
                }
                for e in 0..<d {
                    var sum: Float = 0
                    for j in 0...position { sum += scores[j] * values[layer][j * c + head * d + e] }
                    attended[head * d + e] = sum / total
                }
            }
            run("\(block).attn.c_proj", attended, into: &projected)
            for i in 0..<c { x[i] += projected[i] }
            run("\(block).ln_2", x, into: &h)
            run("\(block).mlp.c_fc", h, into: &hidden)
            run("activation", hidden, into: &activated)
            run("\(block).mlp.c_proj", activated, into: &projected)
            for i in 0..<c { x[i] += projected[i] }
        }
        guard computeLogits else { return [] }
        run("transformer.ln_f", x, into: &h)
        var logits = [Float](repeating: 0, count: vocabulary)
        h.withUnsafeBufferPointer { input in
            logits.withUnsafeMutableBufferPointer { output in
                BLAS.gemv(m: vocabulary, n: c, a: wte, x: input.baseAddress!, y: output.baseAddress!)
            }
        }
        return logits
    }

    /// y = the named layer's forward pass on the one position x.
    private func run(_ name: String, _ x: [Float], into y: inout [Float]) {
        guard let layer = layers[name] else { preconditionFailure("GPT layer \(name) missing") }
        x.withUnsafeBufferPointer { input in
            y.withUnsafeMutableBufferPointer { output in
                layer.forward(input.baseAddress!, into: output.baseAddress!, batch: 1, context: .evaluation)
            }
        }
    }

    /// The token drawn from `softmax(logits / temperature)` restricted to the `topK` largest, by
    /// inverting the cumulative distribution at `random` ∈ [0, 1); temperature 0 takes the largest.
    static func sample(_ logits: [Float], temperature: Double, topK: Int, random: Float) -> Int {
        let order = logits.indices.sorted { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
        guard temperature > 0 else { return order[0] }
        let candidates = topK > 0 ? Array(order.prefix(topK)) : order
        let top = Double(logits[candidates[0]])
        let weights = candidates.map { exp((Double(logits[$0]) - top) / temperature) }
        let total = weights.reduce(0, +)
        var cumulative = 0.0
        for (candidate, weight) in zip(candidates, weights) {
            cumulative += weight / total
            if Double(random) < cumulative { return candidate }
        }
        return candidates[candidates.count - 1]
    }
}
