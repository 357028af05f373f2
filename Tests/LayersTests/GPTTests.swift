import Configuration
import Foundation
import Tensors
import XCTest

@testable import Layers

/// The GPT's layers and the whole model against finite differences, the causal mask, nanoGPT's
/// parameter names and GPT-2's initialization.
final class GPTTests: XCTestCase {
    /// Token sequences with their next-token targets, some ignored (padding).
    struct Sequences {
        var tokens: [Float]
        var targets: [Int32]
        var indices: [Int]

        init(count: Int, length: Int, vocabulary: Int, seed: UInt64, ignoredTail: Int = 0) {
            let random = KeyedRandom(seed, 5)
            let stream = (0..<(count * length + 1)).map { random.integer($0, below: vocabulary) }
            tokens = (0..<(count * length)).map { Float(stream[$0]) }
            targets = (0..<(count * length)).map { Int32(stream[$0 + 1]) }
            for sample in 0..<count {
                for position in (length - ignoredTail)..<length { targets[sample * length + position] = -1 }
            }
            indices = (0..<count).map { 700 + 3 * $0 }
        }
    }

    private func forwardBackward(_ model: Model, _ data: Sequences, step: Int = 2) -> LossSum {
        data.tokens.withUnsafeBufferPointer { x in
            data.targets.withUnsafeBufferPointer { y in
                data.indices.withUnsafeBufferPointer { i in
                    model.forwardBackward(inputs: x, targets: y, sampleIndices: i, count: data.indices.count, seed: 11,
                                          step: step)
                }
            }
        }
    }

    func testAttentionGradients() throws {
        let attention = try CausalSelfAttention(name: "transformer.h.0.attn", inputShape: [5, 12], heads: 2, layerIndex: 1)
        checkLayerGradients(attention, batch: 2, input: randomNormals(120, seed: 21), epsilon: 1e-2)
        let dropped = try CausalSelfAttention(name: "transformer.h.0.attn", inputShape: [6, 18], heads: 3, dropout: 0.25,
                                              layerIndex: 4)
        checkLayerGradients(dropped, batch: 2, input: randomNormals(216, seed: 22), training: true, epsilon: 1e-2)
        // Past one causal block of rows (32 + 5 positions), where each product covers part of the matrix.
        let blocks = try CausalSelfAttention(name: "transformer.h.0.attn", inputShape: [37, 6], heads: 1, dropout: 0.25,
                                             layerIndex: 4)
        checkLayerGradients(blocks, batch: 1, input: randomNormals(222, seed: 26), training: true, epsilon: 1e-2)
    }

    /// Against the definition written out per element: softmax over j ≤ i of q_i·k_j/√d, times v.
    /// Four positions (one causal block) and 70 (blocks of 32, 32 and 6).
    func testAttentionMatchesTheDefinition() throws {
        for t in [4, 70] { try checkAttentionAgainstTheDefinition(positions: t) }
    }

    private func checkAttentionAgainstTheDefinition(positions t: Int) throws {
        let c = 6, heads = 2, d = 3
        let layer = try CausalSelfAttention(name: "attn", inputShape: [t, 3 * c], heads: heads, layerIndex: 1)
        layer.reserve(batch: 1)
        let x = randomNormals(t * 3 * c, seed: 23)
        var y = [Float](repeating: 0, count: t * c)
        x.withUnsafeBufferPointer { x in
            y.withUnsafeMutableBufferPointer { y in
                layer.forward(x.baseAddress!, into: y.baseAddress!, batch: 1, context: .evaluation)
            }
        }
        for h in 0..<heads {
            for i in 0..<t {
                var scores: [Double] = []
                for j in 0...i {
                    var dot = 0.0
                    for e in 0..<d { dot += Double(x[i * 3 * c + h * d + e]) * Double(x[j * 3 * c + c + h * d + e]) }
                    scores.append(dot / Double(d).squareRoot())
                }
                let top = scores.max()!
                let weights = scores.map { exp($0 - top) }
                let total = weights.reduce(0, +)
                for e in 0..<d {
                    var value = 0.0
                    for j in 0...i { value += weights[j] / total * Double(x[j * 3 * c + 2 * c + h * d + e]) }
                    XCTAssertEqual(Double(y[i * c + h * d + e]), value, accuracy: 1e-5, "head \(h) position \(i)")
                }
            }
        }
    }

    /// A later position never changes an earlier one's output, through the whole model.
    func testModelIsCausal() throws {
        let model = try Model(spec: .gpt(blockSize: 8, layers: 2, heads: 2, width: 8), inputShape: [8],
                              targetsPerSample: 8, classes: 13)
        model.initializeParameters(seed: 1)
        var tokens: [Float] = [1, 5, 2, 7, 7, 0, 12, 3]
        let before = logits(model, tokens)
        tokens[5] = 9
        let after = logits(model, tokens)
        let vocabulary = 13
        XCTAssertEqual(Array(before[..<(5 * vocabulary)]), Array(after[..<(5 * vocabulary)]))
        XCTAssertNotEqual(Array(before[(5 * vocabulary)...]), Array(after[(5 * vocabulary)...]))
    }

    private func logits(_ model: Model, _ tokens: [Float]) -> [Float] {
        let network = try! Sequential(model.spec.layers(inputShape: model.inputShape, classes: model.classes).layers,
                                      name: "copy")
        network.bind(model.store)
        network.reserve(batch: 1)
        return tokens.withUnsafeBufferPointer { x in
            let output = network.forward(x.baseAddress!, batch: 1, context: .evaluation)
            return Array(UnsafeBufferPointer(start: output, count: network.outputShape.reduce(1, *)))
        }
    }

    func testEmbeddingAndBiasFreeLayers() throws {
        let embedding = try TokenPositionEmbedding(name: "transformer", inputShape: [5], vocabulary: 7, width: 4, blockSize: 6)
        XCTAssertEqual(embedding.parameterSpecs.map(\.name), ["transformer.wte.weight", "transformer.wpe.weight"])
        checkLayerGradients(embedding, batch: 2, input: [0, 3, 6, 3, 1, 2, 2, 5, 0, 4], checkInput: false)
        let linear = try Linear(name: "c_fc", inputShape: [3, 5], outFeatures: 4, bias: false)
        XCTAssertEqual(linear.parameterSpecs.map(\.name), ["c_fc.weight"])
        checkLayerGradients(linear, batch: 2, input: randomNormals(30, seed: 24))
        let norm = LayerNorm(name: "ln_1", inputShape: [3, 5], bias: false)
        XCTAssertEqual(norm.parameterSpecs.map(\.name), ["ln_1.weight"])
        checkLayerGradients(norm, batch: 2, input: randomNormals(30, seed: 25), epsilon: 1e-3)
        XCTAssertThrowsError(try TokenPositionEmbedding(name: "transformer", inputShape: [7], vocabulary: 7, width: 4,
                                                         blockSize: 6))
    }

    /// The whole model, the tied head included (its gradient and the embedding's share one buffer).
    func testGPTGradients() throws {
        for (bias, dropout) in [(true, 0.0), (false, 0.2)] {
            let model = try Model(spec: .gpt(blockSize: 8, layers: 2, heads: 2, width: 8, bias: bias, dropout: dropout),
                                  inputShape: [6], targetsPerSample: 6, classes: 11)
            model.initializeParameters(seed: 3)
            // Larger weights than GPT-2's 0.02, so every path carries a gradient well above rounding.
            for slot in model.layout.slots where slot.role == .weight || slot.role == .embedding {
                let values = model.store.parameters(slot)
                for i in 0..<values.count { values[i] *= 4 }
            }
            let data = Sequences(count: 3, length: 6, vocabulary: 11, seed: 4, ignoredTail: 2)
            model.store.zeroGradients()
            let center = forwardBackward(model, data)
            XCTAssertEqual(center.items, 3 * 4, "ignored targets are not counted")
            let analytic = model.store.gradients.array
            let epsilon: Float = 1e-3
            for slot in model.layout.slots {
                var comparison = DerivativeComparison()
                let values = model.store.parameters(slot)
                for i in coordinates(slot.count, limit: 12, seed: 3) {
                    let saved = values[i]
                    values[i] = saved + epsilon
                    let plus = forwardBackward(model, data).sum
                    values[i] = saved - epsilon
                    let minus = forwardBackward(model, data).sum
                    values[i] = saved
                    comparison.add(analytic: Double(analytic[slot.offset + i]), plus: plus, minus: minus,
                                   center: center.sum, epsilon: Double(epsilon))
                }
                comparison.check("\(slot.name) (bias \(bias), dropout \(dropout))", tolerance: 2e-2)
            }
        }
    }

    func testParameterNamesAndShapesAreNanoGPTs() throws {
        let model = try Model(spec: .gpt(blockSize: 16, layers: 2, heads: 2, width: 8), inputShape: [16],
                              targetsPerSample: 16, classes: 50)
        var expected: [(String, [Int])] = [("transformer.wte.weight", [50, 8]), ("transformer.wpe.weight", [16, 8])]
        for i in 0..<2 {
            let h = "transformer.h.\(i)"
            expected += [("\(h).ln_1.weight", [8]), ("\(h).ln_1.bias", [8]),
                         ("\(h).attn.c_attn.weight", [24, 8]), ("\(h).attn.c_attn.bias", [24]),
                         ("\(h).attn.c_proj.weight", [8, 8]), ("\(h).attn.c_proj.bias", [8]),
                         ("\(h).ln_2.weight", [8]), ("\(h).ln_2.bias", [8]),
                         ("\(h).mlp.c_fc.weight", [32, 8]), ("\(h).mlp.c_fc.bias", [32]),
                         ("\(h).mlp.c_proj.weight", [8, 32]), ("\(h).mlp.c_proj.bias", [8])]
        }
        expected += [("transformer.ln_f.weight", [8]), ("transformer.ln_f.bias", [8])]
        XCTAssertEqual(model.layout.slots.map(\.name), expected.map(\.0))
        XCTAssertEqual(model.layout.slots.map(\.shape), expected.map(\.1))
        // 12·L·C² + … as nanoGPT counts (the tied head once).
        XCTAssertEqual(model.layout.totalCount, expected.map { $0.1.reduce(1, *) }.reduce(0, +))
    }

    func testGPT2Initialization() throws {
        let model = try Model(spec: .gpt(blockSize: 64, layers: 4, heads: 4, width: 64), inputShape: [64],
                              targetsPerSample: 64, classes: 256)
        model.initializeParameters(seed: 9)
        func std(_ name: String) -> Double {
            let values = model.store.parameters(model.layout.slot(named: name)!)
            let mean = values.reduce(0.0) { $0 + Double($1) } / Double(values.count)
            return (values.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(values.count)).squareRoot()
        }
        XCTAssertEqual(std("transformer.wte.weight"), 0.02, accuracy: 0.001)
        XCTAssertEqual(std("transformer.h.1.mlp.c_fc.weight"), 0.02, accuracy: 0.001)
        XCTAssertEqual(std("transformer.h.1.attn.c_proj.weight"), 0.02 / 8.0.squareRoot(), accuracy: 0.0005)
        XCTAssertEqual(std("transformer.h.3.mlp.c_proj.weight"), 0.02 / 8.0.squareRoot(), accuracy: 0.0005)
        let norm = model.store.parameters(model.layout.slot(named: "transformer.ln_f.weight")!)
        XCTAssertTrue(norm.allSatisfy { $0 == 1 })
        let bias = model.store.parameters(model.layout.slot(named: "transformer.h.0.attn.c_attn.bias")!)
        XCTAssertTrue(bias.allSatisfy { $0 == 0 })
    }

    func testConfigurationAndTaskErrors() throws {
        let yaml = "kind: gpt\nblock_size: 32\nn_layer: 2\nn_head: 3\nn_embd: 16\n"
        XCTAssertThrowsError(try ModelSpec(section: ConfigSection(ConfigValue.parse(yaml: yaml, source: "t"), path: "model"))) {
            XCTAssertTrue("\($0)".contains("model.n_head"), "\($0)")
        }
        let spec = try ModelSpec(section: ConfigSection(
            ConfigValue.parse(yaml: "kind: gpt\nblock_size: 32\nn_layer: 1\nn_head: 2\nn_embd: 16\nvocab_size: 100\n",
                              source: "t"), path: "model"))
        XCTAssertThrowsError(try Model(spec: spec, inputShape: [32], targetsPerSample: 32, classes: 256)) {
            XCTAssertTrue("\($0)".contains("vocab_size = 100"), "\($0)")
        }
        XCTAssertThrowsError(try Model(spec: .mlp(), inputShape: [32], targetsPerSample: 32, classes: 256)) {
            XCTAssertTrue("\($0)".contains("kind: gpt"), "\($0)")
        }
        let model = try Model(spec: spec, inputShape: [32], targetsPerSample: 32, classes: 64)
        XCTAssertEqual(model.classes, 100)
    }

    /// The cached one-position-at-a-time path gives the full forward pass's logits at every position.
    func testGeneratorMatchesTheFullForwardPass() throws {
        for bias in [true, false] {
            let model = try Model(spec: .gpt(blockSize: 8, layers: 2, heads: 2, width: 8, bias: bias), inputShape: [8],
                                  targetsPerSample: 8, classes: 13)
            model.initializeParameters(seed: 6)
            for slot in model.layout.slots where slot.role != .scale {
                let values = model.store.parameters(slot)
                for i in 0..<values.count { values[i] = 20 * values[i] + (slot.role == .bias ? 0.1 : 0) }
            }
            let tokens: [Float] = [3, 1, 4, 1, 5, 9, 2, 6]
            let full = logits(model, tokens)
            let generator = try GPTGenerator(model: model)
            for (position, token) in tokens.enumerated() {
                let cached = generator.advance(Int(token))
                for v in 0..<13 {
                    XCTAssertEqual(cached[v], full[position * 13 + v], accuracy: 1e-4 * max(1, abs(full[position * 13 + v])),
                                   "position \(position), token \(v), bias \(bias)")
                }
            }
            // Past the block size the cache is rebuilt, and generation goes on.
            let long = generator.generate(prompt: [1, 2, 3], count: 20, temperature: 0.8, topK: 5, seed: 2)
            XCTAssertEqual(long.count, 20)
            XCTAssertTrue(long.allSatisfy { (0..<13).contains($0) })
            XCTAssertEqual(generator.generate(prompt: [1, 2, 3], count: 20, temperature: 0.8, topK: 5, seed: 2), long)
        }
    }

    func testSampling() {
        let logits: [Float] = [0.5, 2, -1, 1.9]
        XCTAssertEqual(GPTGenerator.sample(logits, temperature: 0, topK: 0, random: 0.99), 1)
        XCTAssertEqual(GPTGenerator.sample(logits, temperature: 1, topK: 1, random: 0.99), 1)
        // Top 2 at temperature 1: p(1) = e^2/(e^2 + e^1.9) ≈ 0.525.
        XCTAssertEqual(GPTGenerator.sample(logits, temperature: 1, topK: 2, random: 0.52), 1)
        XCTAssertEqual(GPTGenerator.sample(logits, temperature: 1, topK: 2, random: 0.53), 3)
        let counts = (0..<4000).reduce(into: [0, 0, 0, 0]) { counts, n in
            counts[GPTGenerator.sample(logits, temperature: 1, topK: 0, random: KeyedRandom(1, UInt64(n)).uniform(0))] += 1
        }
        let total = logits.map { exp(Double($0)) }.reduce(0, +)
        for (index, count) in counts.enumerated() {
            XCTAssertEqual(Double(count) / 4000, exp(Double(logits[index])) / total, accuracy: 0.03)
        }
    }
}
