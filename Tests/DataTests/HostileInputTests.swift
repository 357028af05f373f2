import Data
import XCTest

/// Inputs found by fuzzing that trapped on integer overflow: each is now an error naming the file.
final class HostileInputTests: XCTestCase {
    /// A `.npy` shape of Int.max bytes: the payload end overflowed when added to the header length.
    func testNumpyShapeNearIntMaxIsAnError() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("huge.npy", npy(descr: "|u1", shape: [Int.max], payload: []))
        assertDataError(try NumpyReader.readImages(path), names: "huge.npy")
        assertDataError(try NumpyReader.readLabels(path, classes: 10), names: "huge.npy", "impossibly large")
    }

    /// IDX dimensions 49 × 218934409 × 859764727, whose product is exactly Int.max.
    func testIDXDimensionsNearIntMaxAreAnError() throws {
        let directory = try TemporaryDirectory()
        let bytes: [UInt8] = [0x00, 0x00, 0x08, 0x03, 0x00, 0x00, 0x00, 0x31, 0x0d, 0x0c, 0xac, 0x89, 0x33, 0x3e, 0xf7, 0xf7]
        let path = try directory.write("train-images-idx3-ubyte", bytes)
        assertDataError(try IDXReader.readImages(path), names: "train-images-idx3-ubyte", "impossibly large")
    }
}
