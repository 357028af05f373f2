import Tensors
import XCTest

@testable import Layers

final class LayerGradientTests: XCTestCase {
    func testLinear() throws {
        let flat = try Linear(name: "layers.0", inputShape: [12], outFeatures: 5)
        checkLayerGradients(flat, batch: 4, input: randomNormals(4 * 12, seed: 1))
        // Over the last axis: [2, 3, 2] is six positions of two features, one GEMM row each.
        let layer = try Linear(name: "layers.0", inputShape: [2, 3, 2], outFeatures: 5)
        XCTAssertEqual(layer.inFeatures, 2)
        XCTAssertEqual(layer.positions, 6)
        XCTAssertEqual(layer.outputShape, [2, 3, 5])
        XCTAssertEqual(layer.parameterSpecs.map(\.shape), [[5, 2], [5]])
        checkLayerGradients(layer, batch: 4, input: randomNormals(4 * 12, seed: 1))
    }

    /// A last-axis layer over a [T, D] sample equals the same layer over T samples of [D], bit for bit.
    func testLastAxisLayersActPerPosition() throws {
        let positions = 3, features = 4, batch = 2
        let input = randomNormals(batch * positions * features, seed: 31)
        let cases: [(any Layer, any Layer)] = [
            (try Linear(name: "l", inputShape: [positions, features], outFeatures: 5),
             try Linear(name: "l", inputShape: [features], outFeatures: 5)),
            (LayerNorm(name: "l", inputShape: [positions, features]), LayerNorm(name: "l", inputShape: [features])),
            (RMSNorm(name: "l", inputShape: [positions, features]), RMSNorm(name: "l", inputShape: [features])),
        ]
        for (sequence, single) in cases {
            XCTAssertEqual(sequence.parameterSpecs.map(\.shape), single.parameterSpecs.map(\.shape))
            func run(_ layer: any Layer, batch: Int) -> [Float] {
                let store = ParameterStore(layout: ParameterLayout(layer.parameterSpecs))
                layer.bind(store)
                for i in 0..<store.parameters.count { store.parameters[i] = 0.5 + 0.1 * Float(i % 7) - 0.3 * Float(i % 2) }
                layer.reserve(batch: batch)
                var output = [Float](repeating: .nan, count: batch * layer.outputCount)
                layer.forward(input, into: &output, batch: batch, context: .evaluation)
                return output
            }
            XCTAssertEqual(run(sequence, batch: batch), run(single, batch: batch * positions), "\(type(of: sequence))")
        }
    }

    func testConv2dPadded() throws {
        let layer = try Conv2d(name: "layers.0", inputShape: [3, 6, 5], outChannels: 4, kernelSize: 3, padding: 1)
        XCTAssertEqual(layer.outputShape, [4, 6, 5])
        checkLayerGradients(layer, batch: 3, input: randomNormals(3 * 90, seed: 2), limit: 120)
    }

    func testConv2dStridedUnpadded() throws {
        let layer = try Conv2d(name: "layers.1", inputShape: [2, 7, 8], outChannels: 3, kernelSize: 3, stride: 2)
        XCTAssertEqual(layer.outputShape, [3, 3, 3])
        checkLayerGradients(layer, batch: 2, input: randomNormals(2 * 112, seed: 3))
    }

    func testConv2dStridedPadded() throws {
        let layer = try Conv2d(name: "layers.2", inputShape: [2, 5, 6], outChannels: 2, kernelSize: 3, stride: 2,
                               padding: 1)
        XCTAssertEqual(layer.outputShape, [2, 3, 3])
        checkLayerGradients(layer, batch: 2, input: randomNormals(2 * 60, seed: 4))
    }

    func testConv2dOneByOne() throws {
        // A plain 1×1 kernel multiplies the input itself, without unfolding it.
        let layer = try Conv2d(name: "layers.0", inputShape: [3, 4, 5], outChannels: 2, kernelSize: 1)
        XCTAssertTrue(layer.unfoldsToInput)
        checkLayerGradients(layer, batch: 3, input: randomNormals(3 * layer.inputCount, seed: 5))
    }

    func testActivations() {
        for activation in Activation.allCases {
            let layer = ActivationLayer(name: "layers.1", inputShape: [3, 4], activation: activation)
            checkLayerGradients(layer, batch: 3, input: awayFromZero(36, seed: 6), epsilon: 1e-3)
        }
    }

    func testGELUIsTheTanhApproximation() {
        let layer = ActivationLayer(name: "layers.0", inputShape: [3], activation: .gelu)
        let input: [Float] = [-1, 0.5, 2]
        var output = [Float](repeating: 0, count: 3)
        layer.forward(input, into: &output, batch: 1, context: .evaluation)
        for (x, y) in zip(input, output) {
            let expected = 0.5 * Double(x) * (1 + Foundation.tanh(0.7978845608 * (Double(x) + 0.044715 * pow(Double(x), 3))))
            XCTAssertEqual(Double(y), expected, accuracy: 1e-6)
        }
    }

    func testMaxPool() throws {
        let layer = try MaxPool2d(name: "layers.2", inputShape: [2, 6, 5], kernel: 2)
        XCTAssertEqual(layer.outputShape, [2, 3, 2])
        checkLayerGradients(layer, batch: 2, input: distinctValues(120, seed: 7))
        let overlapping = try MaxPool2d(name: "layers.2", inputShape: [1, 5, 5], kernel: 3, stride: 2)
        checkLayerGradients(overlapping, batch: 2, input: distinctValues(50, seed: 8))
    }

    /// The 2×2 path, on planes with an odd row and column and enough of them to be split over threads,
    /// against windows searched directly; backward must write every input element.
    func testTwoByTwoMaxPoolAgainstDirectWindows() throws {
        let (channels, height, width, batch) = (8, 13, 11, 40)
        let layer = try MaxPool2d(name: "layers.1", inputShape: [channels, height, width], kernel: 2)
        XCTAssertGreaterThanOrEqual(batch * layer.inputCount, Parallel.minimumWork)
        BLAS.setThreadCount(2)
        let input = distinctValues(batch * layer.inputCount, seed: 31)
        let upstream = randomNormals(batch * layer.outputCount, seed: 32)
        layer.reserve(batch: batch)
        var output = [Float](repeating: .nan, count: upstream.count)
        var inputGradient = [Float](repeating: .nan, count: input.count)
        layer.forward(input, into: &output, batch: batch, context: .evaluation)
        layer.backward(input: input, output: output, outputGradient: upstream, inputGradient: &inputGradient,
                       batch: batch, context: .evaluation)
        var expectedGradient = [Float](repeating: 0, count: input.count)
        let (outHeight, outWidth) = (height / 2, width / 2)
        for plane in 0..<(batch * channels) {
            for oh in 0..<outHeight {
                for ow in 0..<outWidth {
                    let candidates = [(0, 0), (0, 1), (1, 0), (1, 1)].map { plane * height * width + (2 * oh + $0.0) * width + 2 * ow + $0.1 }
                    let winner = candidates.max { input[$0] < input[$1] }!
                    let o = (plane * outHeight + oh) * outWidth + ow
                    XCTAssertEqual(output[o], input[winner])
                    expectedGradient[winner] = upstream[o]
                }
            }
        }
        XCTAssertEqual(inputGradient, expectedGradient)
    }

    func testAvgPoolAndGlobalAvgPool() throws {
        let pool = try AvgPool2d(name: "layers.2", inputShape: [2, 6, 4], kernel: 2)
        checkLayerGradients(pool, batch: 2, input: randomNormals(96, seed: 9))
        let overlapping = try AvgPool2d(name: "layers.2", inputShape: [1, 5, 5], kernel: 3, stride: 1)
        checkLayerGradients(overlapping, batch: 2, input: randomNormals(50, seed: 10))
        let global = try GlobalAvgPool(name: "layers.3", inputShape: [3, 4, 5])
        XCTAssertEqual(global.outputShape, [3])
        checkLayerGradients(global, batch: 2, input: randomNormals(120, seed: 11))
    }

    func testFlatten() {
        let layer = Flatten(name: "layers.4", inputShape: [2, 3, 3])
        XCTAssertEqual(layer.outputShape, [18])
        checkLayerGradients(layer, batch: 2, input: randomNormals(36, seed: 12))
    }

    func testLayerNormAndRMSNorm() {
        checkLayerGradients(LayerNorm(name: "layers.1", inputShape: [10]), batch: 3, input: randomNormals(30, seed: 13),
                            epsilon: 1e-3)
        checkLayerGradients(RMSNorm(name: "layers.1", inputShape: [10]), batch: 3, input: randomNormals(30, seed: 14),
                            epsilon: 1e-3)
        // Per position over the last axis of a [4, 5] sample.
        checkLayerGradients(LayerNorm(name: "layers.1", inputShape: [4, 5]), batch: 3, input: randomNormals(60, seed: 15),
                            epsilon: 1e-3)
        checkLayerGradients(RMSNorm(name: "layers.1", inputShape: [4, 5]), batch: 3, input: randomNormals(60, seed: 16),
                            epsilon: 1e-3)
    }

    func testDropoutTraining() throws {
        let layer = try Dropout(name: "layers.3", inputShape: [40], probability: 0.4, layerIndex: 3)
        checkLayerGradients(layer, batch: 3, input: randomNormals(120, seed: 15), training: true)
    }

    func testEmbedding() throws {
        let layer = try Embedding(name: "layers.0", inputShape: [5], vocabulary: 7, dimension: 4)
        let tokens: [Float] = [0, 3, 6, 3, 1, 2, 2, 5, 0, 4]
        checkLayerGradients(layer, batch: 2, input: tokens, checkInput: false)
    }

    func testResidual() throws {
        let body: [any Layer] = [
            try Linear(name: "layers.1.body.0", inputShape: [6], outFeatures: 8),
            ActivationLayer(name: "layers.1.body.1", inputShape: [8], activation: .tanh),
            try Linear(name: "layers.1.body.2", inputShape: [8], outFeatures: 6),
        ]
        let layer = try Residual(name: "layers.1", body: body)
        XCTAssertEqual(layer.parameterSpecs.map(\.name),
                       ["layers.1.body.0.weight", "layers.1.body.0.bias", "layers.1.body.2.weight", "layers.1.body.2.bias"])
        checkLayerGradients(layer, batch: 3, input: randomNormals(18, seed: 16))
    }
}
