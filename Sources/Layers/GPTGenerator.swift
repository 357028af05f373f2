import Foundation
import Tensors

/// Text from a trained GPT, one token at a time with a key/value cache: each new token runs every
/// block on its one position and attends to the keys and values cached for the positions before it,
/// so a token costs one position's work, not the whole prefix's.
///
/// It reads the model's parameters by their nanoGPT names and computes exactly what the training
/// network computes for the last position (the same LayerNorm, tanh-GELU and tied head), so greedy
/// decoding here equals greedy decoding by full forward passes (a test). When the sequence would
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
    /// The MLP's activation, the training network's own layer.
    private let activation: ActivationLayer

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
        activation = ActivationLayer(name: "generate", inputShape: [4 * settings.width], activation: settings.common.activation)
    }

    private func parameter(_ name: String) -> UnsafeMutablePointer<Float>? {
        store.layout.slot(named: name).map { store.parameters.baseAddress + $0.offset }
    }

    private func required(_ name: String) -> UnsafeMutablePointer<Float> {
        guard let pointer = parameter(name) else { preconditionFailure("GPT parameter \(name) missing") }
        return pointer
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
        let wte = required("transformer.wte.weight"), wpe = required("transformer.wpe.weight")
        var x = (0..<c).map { wte[token * c + $0] + wpe[position * c + $0] }
        var h = [Float](repeating: 0, count: c), qkv = [Float](repeating: 0, count: 3 * c)
        var attended = [Float](repeating: 0, count: c), projected = [Float](repeating: 0, count: c)
        var hidden = [Float](repeating: 0, count: 4 * c)
        let heads = settings.heads, d = c / heads, scale = 1 / Float(d).squareRoot()
        var scores = [Float](repeating: 0, count: position + 1)
        for layer in 0..<settings.layers {
            let block = "transformer.h.\(layer)"
            norm(x, into: &h, "\(block).ln_1")
            linear(h, into: &qkv, "\(block).attn.c_attn", outputs: 3 * c)
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
            linear(attended, into: &projected, "\(block).attn.c_proj", outputs: c)
            for i in 0..<c { x[i] += projected[i] }
            norm(x, into: &h, "\(block).ln_2")
            linear(h, into: &hidden, "\(block).mlp.c_fc", outputs: 4 * c)
            let activated = [Float](unsafeUninitializedCapacity: 4 * c) { buffer, initialized in
                hidden.withUnsafeBufferPointer { input in
                    activation.forward(input.baseAddress!, into: buffer.baseAddress!, batch: 1, context: .evaluation)
                }
                initialized = 4 * c
            }
            hidden = activated
            linear(hidden, into: &projected, "\(block).mlp.c_proj", outputs: c)
            for i in 0..<c { x[i] += projected[i] }
        }
        guard computeLogits else { return [] }
        norm(x, into: &h, "transformer.ln_f")
        var logits = [Float](repeating: 0, count: vocabulary)
        h.withUnsafeBufferPointer { input in
            logits.withUnsafeMutableBufferPointer { output in
                BLAS.gemv(m: vocabulary, n: c, a: wte, x: input.baseAddress!, y: output.baseAddress!)
            }
        }
        return logits
    }

    private func norm(_ x: [Float], into y: inout [Float], _ name: String) {
        let gamma = required("\(name).weight"), beta = parameter("\(name).bias")
        let n = Float(x.count)
        let mean = x.reduce(0, +) / n
        let variance = x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / n
        let rstd = 1 / (variance + 1e-5).squareRoot()
        for i in x.indices { y[i] = (x[i] - mean) * rstd * gamma[i] + (beta?[i] ?? 0) }
    }

    private func linear(_ x: [Float], into y: inout [Float], _ name: String, outputs: Int) {
        let weight = required("\(name).weight"), bias = parameter("\(name).bias")
        x.withUnsafeBufferPointer { input in
            y.withUnsafeMutableBufferPointer { output in
                if let bias { output.baseAddress!.update(from: bias, count: outputs) }
                BLAS.gemv(m: outputs, n: x.count, a: weight, x: input.baseAddress!, beta: bias == nil ? 0 : 1,
                          y: output.baseAddress!)
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
