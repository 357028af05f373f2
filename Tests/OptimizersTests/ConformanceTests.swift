import Foundation
import Optimizers
import XCTest

/// Every reference trajectory must replay within its tolerance.
final class ConformanceTests: XCTestCase {
    private func replay(_ url: URL) throws {
        let result = try Conformance.run(file: url)
        XCTAssertTrue(result.passed, "\(result.caseName): worst deviation \(result.worstDeviation) × tolerance at step \(result.worstStep), \(result.worstParameter)")
        print("conformance \(result.caseName): worst \(result.worstDeviation) of tolerance")
    }

    /// The repository's own trajectories (torch.optim and pytorch_optimizer, other seeds and settings
    /// than the shared set's): a plain clone replays these.
    func testRepositoryReferences() throws {
        let files = try ReferenceFiles.files(in: ReferenceFiles.repository())
        // Every catalogue algorithm torch.optim or pytorch_optimizer has, with several settings each
        // (launch/bench/reference_trajectories.py); a missing or extra file fails here.
        XCTAssertEqual(files.map { $0.deletingPathExtension().lastPathComponent },
                       ["adafactor_decay", "adafactor_no_first_moment", "adam_amsgrad", "adam_coupled_decay",
                        "adam_decoupled", "adamw_amsgrad", "adamw_groups", "adanorm_ams_bound_coupled",
                        "adanorm_default", "adapnm_default", "adapnm_no_ams_bound_coupled", "amos_default",
                        "amos_momentum", "diffgrad_ams_bound_decay", "diffgrad_default", "diffgrad_rectify",
                        "lamb_adam_coupled", "lamb_default", "lamb_no_clip", "lookahead_adamw",
                        "lookahead_sgd_pullback", "lookahead_sgd_reset", "muon_adjusted", "muon_groups", "nadam",
                        "nadam_decoupled", "pnm_default", "pnm_fixed_decay", "sgd_momentum", "sgd_nesterov_decay",
                        "sgd_plain", "sm3_default", "sm3_momentum"])
        for file in files { try replay(file) }
    }

    /// The independent shared set, when the checkout has `../shared` beside it.
    func testSharedReferences() throws {
        guard let directory = try? ReferenceFiles.directory() else {
            throw XCTSkip("no shared/reference/optimizers beside the checkout: the second, independent set is not replayed")
        }
        let files = try ReferenceFiles.files(in: directory)
        XCTAssertEqual(files.map(\.lastPathComponent), ["adafactor.json", "adalo_adversarial.json", "adamw.json",
                                                        "lamb.json", "sgd_nesterov.json", "sm3.json"])
        for file in files { try replay(file) }
    }

    func testUnmappableHyperparameterIsAClearError() throws {
        let source = try Data(contentsOf: ReferenceFiles.repository().appendingPathComponent("adamw_amsgrad.json"))
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
