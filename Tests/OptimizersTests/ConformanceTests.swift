import Foundation
import Optimizers
import XCTest

/// Every reference trajectory must replay within its tolerance.
final class ConformanceTests: XCTestCase {
    private func replay(_ file: String) throws {
        let result = try Conformance.run(file: ReferenceFiles.url(file))
        XCTAssertTrue(result.passed, "\(result.caseName): worst deviation \(result.worstDeviation) × tolerance at step \(result.worstStep), \(result.worstParameter)")
        print("conformance \(result.caseName): worst \(result.worstDeviation) of tolerance")
    }

    func testAdamW() throws { try replay("adamw.json") }
    func testSGDNesterov() throws { try replay("sgd_nesterov.json") }
    func testLAMB() throws { try replay("lamb.json") }
    func testAdafactor() throws { try replay("adafactor.json") }
    func testSM3() throws { try replay("sm3.json") }
    func testAdaLoAdversarial() throws { try replay("adalo_adversarial.json") }

    func testEveryReferenceFileHasATest() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: ReferenceFiles.directory().path)
            .filter { $0.hasSuffix(".json") }.sorted()
        XCTAssertEqual(files, ["adafactor.json", "adalo_adversarial.json", "adamw.json", "lamb.json", "sgd_nesterov.json",
                               "sm3.json"])
    }

    func testUnmappableHyperparameterIsAClearError() throws {
        let source = try Data(contentsOf: ReferenceFiles.url("adamw.json"))
        var text = String(decoding: source, as: UTF8.self)
        text = text.replacingOccurrences(of: "\"amsgrad\"", with: "\"foreach_fused\"")
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("adamw-unmappable-\(getpid()).json")
        try Data(text.utf8).write(to: copy)
        defer { try? FileManager.default.removeItem(at: copy) }
        XCTAssertThrowsError(try Conformance.run(file: copy)) { error in
            XCTAssertTrue("\(error)".contains("foreach_fused"), "\(error)")
        }
    }
}
