import Tensors
import XCTest

@testable import Layers

/// Compares Conv2d's im2col paths (shifted planes, strided rows, a 1×1 kernel reading its input
/// as columns, products on several BLAS threads) against a direct convolution computed in Double.
final class Conv2dReferenceTests: XCTestCase {
    struct Geometry {
        var channels: Int, height: Int, width: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int
    }

    /// Output, input gradient and parameter gradients of the direct convolution for upstream gradient `g`.
    func reference(_ layer: Conv2d, weight: [Float], bias: [Float], input: [Float], upstream g: [Float],
                   batch: Int) -> (output: [Double], inputGradient: [Double], weight: [Double], bias: [Double]) {
        let (c, h, w) = (layer.inChannels, layer.height, layer.width)
        let (k, kh, kw, oh, ow) = (layer.outChannels, layer.kernelHeight, layer.kernelWidth, layer.outHeight,
                                   layer.outWidth)
        var output = [Double](repeating: 0, count: batch * k * oh * ow)
        var inputGradient = [Double](repeating: 0, count: input.count)
        var weightGradient = [Double](repeating: 0, count: weight.count)
        var biasGradient = [Double](repeating: 0, count: k)
        for s in 0..<batch {
            for o in 0..<k {
                for y in 0..<oh {
                    for x in 0..<ow {
                        let out = ((s * k + o) * oh + y) * ow + x
                        var sum = Double(bias[o])
                        for i in 0..<c {
                            for a in 0..<kh {
                                for b in 0..<kw {
                                    let iy = y * layer.stride - layer.padding + a
                                    let ix = x * layer.stride - layer.padding + b
                                    guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                                    let at = ((s * c + i) * h + iy) * w + ix
                                    let wi = ((o * c + i) * kh + a) * kw + b
                                    sum += Double(weight[wi]) * Double(input[at])
                                    inputGradient[at] += Double(weight[wi]) * Double(g[out])
                                    weightGradient[wi] += Double(input[at]) * Double(g[out])
                                }
                            }
                        }
                        output[out] = sum
                        biasGradient[o] += Double(g[out])
                    }
                }
            }
        }
        return (output, inputGradient, weightGradient, biasGradient)
    }

    func check(_ g: Geometry, batch: Int, inputGradient wanted: Bool = true, file: StaticString = #filePath,
               line: UInt = #line) throws {
        let layer = try Conv2d(name: "layers.0", inputShape: [g.channels, g.height, g.width],
                               outChannels: g.outChannels, kernelSize: g.kernel, stride: g.stride, padding: g.padding)
        let store = ParameterStore(layout: ParameterLayout(layer.parameterSpecs))
        layer.bind(store)
        let weightSlot = try XCTUnwrap(store.layout.slot(named: "layers.0.weight"))
        let biasSlot = try XCTUnwrap(store.layout.slot(named: "layers.0.bias"))
        let weight = randomNormals(weightSlot.count, seed: 11, scale: 0.5)
        let bias = randomNormals(biasSlot.count, seed: 12)
        for i in 0..<weight.count { store.parameters[weightSlot.offset + i] = weight[i] }
        for i in 0..<bias.count { store.parameters[biasSlot.offset + i] = bias[i] }
        // Gradients start non-zero: backward must add to them.
        for i in 0..<store.gradients.count { store.gradients[i] = 0.25 }
        let input = randomNormals(batch * layer.inputCount, seed: 13)
        let upstream = randomNormals(batch * layer.outputCount, seed: 14)
        layer.reserve(batch: batch)
        var output = [Float](repeating: .nan, count: batch * layer.outputCount)
        var inputGradient = [Float](repeating: .nan, count: input.count)
        input.withUnsafeBufferPointer { x in
            output.withUnsafeMutableBufferPointer { y in
                layer.forward(x.baseAddress!, into: y.baseAddress!, batch: batch, context: .evaluation)
            }
            output.withUnsafeBufferPointer { y in
                upstream.withUnsafeBufferPointer { dy in
                    inputGradient.withUnsafeMutableBufferPointer { dx in
                        layer.backward(input: x.baseAddress!, output: y.baseAddress!, outputGradient: dy.baseAddress!,
                                       inputGradient: wanted ? dx.baseAddress! : nil, batch: batch, context: .evaluation)
                    }
                }
            }
        }
        let expected = reference(layer, weight: weight, bias: bias, input: input, upstream: upstream, batch: batch)
        func compare(_ what: String, _ actual: (Int) -> Float, _ expected: [Double], offset: Double = 0) {
            let scale = max(1, expected.map(abs).max() ?? 0)
            var worst = 0.0
            for i in expected.indices { worst = max(worst, abs(Double(actual(i)) - offset - expected[i])) }
            XCTAssertLessThan(worst / scale, 1e-5, "\(what) of \(g), batch \(batch)", file: file, line: line)
        }
        compare("output", { output[$0] }, expected.output)
        if wanted {
            compare("input gradient", { inputGradient[$0] }, expected.inputGradient)
        } else {
            XCTAssertTrue(inputGradient.allSatisfy(\.isNaN), "no input gradient asked for, none written", file: file, line: line)
        }
        compare("weight gradient", { store.gradients[weightSlot.offset + $0] }, expected.weight, offset: 0.25)
        compare("bias gradient", { store.gradients[biasSlot.offset + $0] }, expected.bias, offset: 0.25)
    }

    let geometries = [
        Geometry(channels: 3, height: 10, width: 9, outChannels: 5, kernel: 3, stride: 1, padding: 1),
        Geometry(channels: 2, height: 9, width: 11, outChannels: 4, kernel: 5, stride: 1, padding: 2),
        Geometry(channels: 3, height: 8, width: 8, outChannels: 3, kernel: 1, stride: 1, padding: 0),
        Geometry(channels: 2, height: 10, width: 9, outChannels: 4, kernel: 3, stride: 1, padding: 0),
        Geometry(channels: 2, height: 7, width: 6, outChannels: 3, kernel: 2, stride: 1, padding: 1),
        Geometry(channels: 3, height: 11, width: 10, outChannels: 4, kernel: 3, stride: 2, padding: 1),
        Geometry(channels: 3, height: 9, width: 8, outChannels: 2, kernel: 1, stride: 2, padding: 0),
        Geometry(channels: 2, height: 6, width: 7, outChannels: 3, kernel: 1, stride: 1, padding: 1),
    ]

    func testEveryGeometry() throws {
        for g in geometries { try check(g, batch: 5) }
    }

    /// The first layer's backward: weight gradient only.
    func testWeightGradientWithoutInputGradient() throws {
        for g in geometries { try check(g, batch: 3, inputGradient: false) }
    }

    /// Products large enough for OpenBLAS to split over its threads (a model with one replica uses them).
    func testProductsOnSeveralBLASThreads() throws {
        let g = Geometry(channels: 16, height: 14, width: 14, outChannels: 32, kernel: 3, stride: 1, padding: 1)
        try BLAS.withThreadCount(2) { try check(g, batch: 3) }
    }
}
