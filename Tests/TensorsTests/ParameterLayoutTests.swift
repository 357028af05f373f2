import Tensors
import XCTest

final class ParameterLayoutTests: XCTestCase {
    func testOffsetsFollowDeclarationOrderWithoutGaps() {
        let layout = ParameterLayout([
            ParameterSpec(name: "layers.0.weight", shape: [4, 3], role: .weight),
            ParameterSpec(name: "layers.0.bias", shape: [4], role: .bias),
            ParameterSpec(name: "conv.weight", shape: [2, 3, 3, 3], role: .weight),
        ])
        XCTAssertEqual(layout.slots.map(\.offset), [0, 12, 16])
        XCTAssertEqual(layout.totalCount, 12 + 4 + 54)
        XCTAssertEqual(layout.slot(named: "conv.weight")?.units, 2)
        XCTAssertEqual(layout.slot(named: "conv.weight")?.fanIn, 27)
        XCTAssertNil(layout.slot(named: "missing"))
        let store = ParameterStore(layout: layout)
        store.parameters(layout.slots[1]).update(repeating: 2)
        XCTAssertEqual(store.parameters.array[11], 0)
        XCTAssertEqual(store.parameters.array[12...15], [2, 2, 2, 2])
        XCTAssertEqual(store.parameters.array[16], 0)
        XCTAssertEqual(Int(bitPattern: store.parameters.baseAddress) % 64, 0, "buffers are cache-line aligned")
    }

    func testSignatureDistinguishesShapes() {
        let a = ParameterLayout([ParameterSpec(name: "w", shape: [2, 3], role: .weight)])
        let b = ParameterLayout([ParameterSpec(name: "w", shape: [3, 2], role: .weight)])
        XCTAssertNotEqual(a.signature, b.signature)
    }
}
