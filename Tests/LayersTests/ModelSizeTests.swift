import Configuration
import Layers
import Tensors
import XCTest

/// Model sizes come from configurations and data files: counted with checked arithmetic and
/// refused, naming the setting, when they overflow or cannot fit in memory.
final class ModelSizeTests: XCTestCase {
    private func spec(_ yaml: String) throws -> ModelSpec {
        try ModelSpec(section: ConfigSection(ConfigValue.parse(yaml: yaml, source: "test"), path: "model"))
    }

    private func message(_ body: () throws -> Any) -> String {
        do {
            _ = try body()
            return "(no error)"
        } catch {
            return "\(error)"
        }
    }

    func testConfiguredSizesBeyondTheLimitsAreRefusedByKey() {
        // Each of these once trapped or aborted: overflow in Conv2d, in ParameterLayout, a 318 TB allocation.
        let padding = message { try self.spec("kind: cnn\npadding: 4611686018427387904\n") }
        XCTAssertTrue(padding.contains("'model.padding' = 4611686018427387904 is out of range"), padding)
        let huge = message { try self.spec("kind: mlp\nhidden: [512, 4611686018427387904]\n") }
        XCTAssertTrue(huge.contains("'model.hidden[1]' = 4611686018427387904 is out of range"), huge)
        let wide = message { try self.spec("kind: mlp\nhidden: [100000000000]\n") }
        XCTAssertTrue(wide.contains("'model.hidden[0]' = 100000000000"), wide)
        let kernel = message { try self.spec("kind: cnn\nkernel_size: 100000\n") }
        XCTAssertTrue(kernel.contains("'model.kernel_size'"), kernel)
    }

    func testParametersBeyondTheMemoryBudgetNameTheSetting() throws {
        let spec = try self.spec("kind: mlp\nhidden: [512, 100000, 512]\n")
        let budget = 1 << 29
        let refused = message { try spec.size(inputShape: [1, 28, 28], classes: 10, memoryBudget: budget) }
        // 784·512 + 512·100000 + 100000·512 ≈ 102.8 M parameters, 0.77 GiB with gradients: the third layer crosses 0.5 GiB.
        XCTAssertTrue(refused.hasPrefix("model.hidden[2] = 512 needs 0.8 GiB for parameters and their gradients"), refused)
        XCTAssertTrue(refused.contains("0.5 GiB of memory is available"), refused)
        let size = try spec.size(inputShape: [1, 28, 28], classes: 10)
        XCTAssertEqual(size.parameters, 784 * 512 + 512 + 512 * 100_000 + 100_000 + 100_000 * 512 + 512 + 512 * 10 + 10)
        // Any machine refuses 16 M × 16 M weights, and before allocating them.
        let enormous = try self.spec("kind: mlp\nhidden: [8, 16000000, 16000000]\n")
        let built = message { try Model(spec: enormous, inputShape: [1, 28, 28], classes: 10) }
        XCTAssertTrue(built.contains("model.hidden[") && built.contains("GiB of memory is available"), built)
    }

    func testSizesThatOverflowAreErrorsNotTraps() {
        // Through the API, bypassing the configuration's limits.
        let overflow = message { try ModelSpec.mlp(hidden: [1 << 62]).size(inputShape: [784], classes: 10) }
        XCTAssertTrue(overflow.contains("model.hidden[0] = 4611686018427387904 makes the parameter count overflow"), overflow)
        let output = message { try ModelSpec.mlp(hidden: []).size(inputShape: [1 << 24, 1 << 20], classes: 1 << 20) }
        XCTAssertTrue(output.contains("the output layer (1048576 outputs) makes the parameter count overflow"), output)
        let activations = message { try ModelSpec.mlp(hidden: []).size(inputShape: [1 << 40, 1 << 20], classes: 10) }
        XCTAssertTrue(activations.contains("memory too large to count"), activations)
        let padding = message { try ModelSpec.cnn(padding: 1 << 62).size(inputShape: [1, 28, 28], classes: 10) }
        XCTAssertTrue(padding.contains("must each be at most"), padding)
        let columns = message {
            try ModelSpec.cnn(channels: [1 << 20], kernelSize: 1 << 12, padding: 1 << 11).size(inputShape: [1 << 20, 28, 28], classes: 10)
        }
        XCTAssertTrue(columns.contains("column matrix") || columns.contains("overflow"), columns)
    }

    func testActivationBytesGrowWithTheBatch() throws {
        let size = try ModelSpec.mlp(hidden: [512, 512]).size(inputShape: [784], classes: 10)
        let one = try XCTUnwrap(size.bytes(batch: 1, replicas: 1))
        let thousand = try XCTUnwrap(size.bytes(batch: 1001, replicas: 1))
        XCTAssertEqual(thousand - one, 1000 * size.perSample * 4)
        XCTAssertNil(size.bytes(batch: Int.max / 2, replicas: 2))
    }
}

extension ModelSizeTests {
    func testInputThatCannotBeCountedIsAnError() {
        let input = message { try ModelSpec.mlp().size(inputShape: [1 << 40, 1 << 30], classes: 10) }
        XCTAssertTrue(input.contains("has more elements per sample than can be counted"), input)
    }
}
