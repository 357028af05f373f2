import Configuration
import Data
import XCTest

final class DataConfigTests: XCTestCase {
    func section(_ yaml: String) throws -> ConfigSection {
        try ConfigSection(ConfigValue.parse(yaml: yaml, source: "test"), path: "data")
    }

    func testDefaultsAreFashionMNIST() throws {
        let config = try DataConfig(section: section(""))
        XCTAssertEqual(config, DataConfig())
        XCTAssertEqual(config.kind, .fashionMNIST)
        XCTAssertEqual(config.directory, "/usr/share/datasets/fashion-mnist")
        XCTAssertEqual(config.classes, 10)
        XCTAssertEqual(config.lastBatch, .drop)
        XCTAssertEqual(config.normalization, .none)
        XCTAssertFalse(config.augmentation.isEnabled)
    }

    func testFullSection() throws {
        let config = try DataConfig(section: section("""
            dataset: npy
            path: /tmp/mine
            train_images: a.npy
            train_labels: b.npy
            test_images: c.npy
            test_labels: d.npy
            classes: 5
            last_batch: keep
            normalize: {mean: 0.2860, std: 0.3530}
            augment: {crop_padding: 2, flip: true}
            """))
        XCTAssertEqual(config.kind, .npy)
        XCTAssertEqual(config.directory, "/tmp/mine")
        XCTAssertEqual([config.trainImages, config.trainLabels, config.testImages, config.testLabels], ["a.npy", "b.npy", "c.npy", "d.npy"])
        XCTAssertEqual(config.classes, 5)
        XCTAssertEqual(config.lastBatch, .keep)
        XCTAssertEqual(config.normalization, .fixed(mean: [0.2860], std: [0.3530]))
        XCTAssertEqual(config.augmentation, Augmentation(cropPadding: 2, flip: true))
        XCTAssertEqual(try DataConfig(section: section("normalize: auto")).normalization, .fromTrainingSet)
        XCTAssertEqual(try DataConfig(section: section("normalize: {mean: [0.1, 0.2], std: [1, 2]}")).normalization,
                       .fixed(mean: [0.1, 0.2], std: [1, 2]))
    }

    func testRejectsBadValues() throws {
        XCTAssertThrowsError(try DataConfig(section: section("datset: mnist"))) {
            guard case .unknownKey(let key, let suggestion, _)? = $0 as? ConfigError else { return XCTFail("\($0)") }
            XCTAssertEqual(key, "data.datset")
            XCTAssertEqual(suggestion, "data.dataset")
        }
        XCTAssertThrowsError(try DataConfig(section: section("last_batch: pad"))) {
            XCTAssertTrue("\($0)".contains("data.last_batch"))
        }
        XCTAssertThrowsError(try DataConfig(section: section("dataset: npy"))) {
            XCTAssertEqual($0 as? ConfigError, .missingKey(key: "data.path"))
        }
        XCTAssertThrowsError(try DataConfig(section: section("normalize: {mean: 0.5, std: 0}"))) {
            XCTAssertTrue("\($0)".contains("data.normalize.std"))
        }
        XCTAssertThrowsError(try DataConfig(section: section("normalize: {mean: 0.5, sd: 1}"))) {
            XCTAssertTrue("\($0)".contains("data.normalize"))
        }
        XCTAssertThrowsError(try DataConfig(section: section("augment: {crop_padding: -1}"))) {
            XCTAssertTrue("\($0)".contains("data.augment.crop_padding"))
        }
        XCTAssertThrowsError(try DataConfig(section: section("augment: {flipp: true}"))) {
            XCTAssertTrue("\($0)".contains("data.augment.flip"))
        }
    }

    func testPreprocessingChecksChannelsAndMeasuresStatistics() throws {
        let pixels: [UInt8] = [0, 255, 0, 255, 51, 51, 51, 51]  // two 1×2×2 samples
        let set = Dataset(sampleShape: [1, 2, 2], classes: 2, pixels: .bytes(pixels), targets: [0, 1])
        let auto = try Preprocessing(config: DataConfig(normalization: .fromTrainingSet), trainingSet: set)
        let values = pixels.map { Double($0) / 255 }
        let mean = values.reduce(0, +) / 8
        let std = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 8).squareRoot()
        XCTAssertEqual(Double(auto.mean[0]), mean, accuracy: 1e-6)
        XCTAssertEqual(Double(auto.std[0]), std, accuracy: 1e-6)
        XCTAssertThrowsError(try Preprocessing(config: DataConfig(normalization: .fixed(mean: [0.1, 0.2, 0.3], std: [1])),
                                               trainingSet: set)) {
            XCTAssertTrue("\($0)".contains("data.normalize.mean"))
        }
        XCTAssertThrowsError(try Preprocessing(config: DataConfig(augmentation: Augmentation(cropPadding: 3)), trainingSet: set)) {
            XCTAssertTrue("\($0)".contains("data.augment.crop_padding"))
        }
    }
}
