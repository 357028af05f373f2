import Checkpoints
import Foundation
import TestSupport
import Training
import XCTest

/// Training across hosts for real: `launch/cluster.sh` makes test hosts out of network namespaces
/// joined by a bridge, and OpenMPI runs over TCP between them, its remote commands started inside
/// each host's namespace. Needs root (CI runs as root); elsewhere the tests are skipped, and say so.
final class MultiHostTests: XCTestCase {
    private var directory: URL!
    /// The cluster's name: this process's, so that concurrent test runs never share hosts.
    private let cluster = "t\(getpid() % 10_000_000)"

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static var clusterScript: String { repository.appendingPathComponent("launch/cluster.sh").path }

    override func setUpWithError() throws {
        guard getuid() == 0 else { throw XCTSkip("network namespaces need root: the test hosts cannot be made") }
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("bigbatch-hosts-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        if getuid() == 0 { _ = try? ProcessRunner.runTool(Self.clusterScript, ["down", "--name", cluster]) }
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }

    private func up(_ hosts: Int, _ extra: [String] = []) throws -> String {
        let result = try ProcessRunner.runTool(Self.clusterScript, ["up", "\(hosts)", "--name", cluster] + extra)
        XCTAssertEqual(result.status, 0, result.error)
        let hostfile = "/run/bigbatch-cluster/\(cluster)/hostfile"
        XCTAssertEqual(try String(contentsOfFile: hostfile, encoding: .utf8).split(separator: "\n").count, hosts)
        return hostfile
    }

    private func configuration(steps: Int, reproducible: Bool, timeout: Double? = nil) throws -> URL {
        let url = directory.appendingPathComponent("\(UUID().uuidString.prefix(8)).yaml")
        try """
        model: {kind: mlp, hidden: [48], activation: relu, dropout: 0.2}
        data: {dataset: fashion-mnist, last_batch: drop}
        batch: {global: 80, micro: 16}
        train: {steps: \(steps), seed: 11, eval_every: 1000000, checksum_every: 10}
        optimizer: {name: adamw, lr: 0.003, weight_decay: 0.01}
        checkpoint: {every: 10, keep: 2}
        distributed: {\(reproducible ? "reproducible: true, chunk: 16, " : "")timeout_s: \(timeout ?? 600)}
        """.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    /// `bigbatch ARGUMENTS` on `ranks` ranks, one per test host, started from host 0 over TCP.
    private func startAcrossHosts(_ ranks: Int, hostfile: String, _ arguments: [String]) throws -> RunningProcess {
        try ProcessRunner.startTool(Self.clusterScript, ["run", "--name", cluster, "mpirun", "--hostfile", hostfile,
                                                         "-np", "\(ranks)", "-x", "OPENBLAS_NUM_THREADS=1",
                                                         try ProcessRunner.executable.path] + arguments)
    }

    private func trainAcrossHosts(_ ranks: Int, hostfile: String, config: URL, run: URL, _ extra: [String] = [])
        throws -> [String: [Float]]
    {
        let job = try startAcrossHosts(ranks, hostfile: hostfile,
                                       ["train", "--config", config.path, "--run-dir", run.path, "--quiet"] + extra)
        let result = job.wait(timeout: 300)
        XCTAssertEqual(result.status, 0, "\(ranks) hosts:\n\(result.error)")
        return try TrainingRun.tensors(in: run.appendingPathComponent("final.safetensors"))
    }

    /// The reproducible mode on 2 and 3 hosts — 5 chunks of 16 per step, shared 3 + 2 and 2 + 2 + 1 —
    /// gives the one-process run's bits; the float mode across 2 hosts gives the bits of the same 2 ranks
    /// on one host, since TCP changes where sums travel, not their order, and on 2 and 3 hosts it stays
    /// within the equivalence bound of one process. The sharded optimizer keeps those bits.
    func testTrainingAcrossHostsMatchesOneHost() throws {
        let hostfile = try up(3)
        let exact = try configuration(steps: 12, reproducible: true)
        let single = try TrainingRun.finalTensors(config: exact, runDirectory: directory.appendingPathComponent("one"), ranks: 1)
        for hosts in [2, 3] {
            let across = try trainAcrossHosts(hosts, hostfile: hostfile, config: exact,
                                              run: directory.appendingPathComponent("exact-\(hosts)"))
            XCTAssertEqual(Set(across.keys), Set(single.keys))
            for (tensor, values) in single {
                XCTAssertEqual(across[tensor]?.map(\.bitPattern), values.map(\.bitPattern), "\(tensor) on \(hosts) hosts")
            }
        }
        let float = try configuration(steps: 12, reproducible: false)
        let local = try TrainingRun.finalTensors(config: float, runDirectory: directory.appendingPathComponent("local"), ranks: 2)
        let across = try trainAcrossHosts(2, hostfile: hostfile, config: float, run: directory.appendingPathComponent("float-2"))
        // The sharded optimizer's reduce-scatter and all-gather travel over TCP too: on 2 hosts, two terms
        // in either order, the all-reduced bits; on 3 in the reproducible mode, the one process's.
        let sharded = try trainAcrossHosts(2, hostfile: hostfile, config: float, run: directory.appendingPathComponent("sharded-2"),
                                           ["--set", "distributed.shard_optimizer=true"])
        let shardedExact = try trainAcrossHosts(3, hostfile: hostfile, config: exact, run: directory.appendingPathComponent("sharded-3"),
                                                ["--set", "distributed.shard_optimizer=true"])
        for (tensor, values) in local {
            XCTAssertEqual(across[tensor]?.map(\.bitPattern), values.map(\.bitPattern), "\(tensor): float sums across hosts")
            XCTAssertEqual(sharded[tensor]?.map(\.bitPattern), values.map(\.bitPattern), "\(tensor): sharded across hosts")
        }
        for (tensor, values) in single {
            XCTAssertEqual(shardedExact[tensor]?.map(\.bitPattern), values.map(\.bitPattern), "\(tensor): sharded on 3 hosts")
        }
        // And against one process, within EquivalenceTests' measured bound: the amplification times the
        // noise floor of the one-process run split over 2 and 3 threads.
        let threads = try ["1", "2", "3"].map { count in
            try TrainingRun.finalTensors(config: float, runDirectory: directory.appendingPathComponent("threads-\(count)"),
                                         ranks: 1, environment: ["OPENBLAS_NUM_THREADS": count])
        }
        let floor = max(DecompositionCheck.worstDeviation(threads[1], from: threads[0]),
                        DecompositionCheck.worstDeviation(threads[2], from: threads[0]), 1e-8)
        XCTAssertLessThan(floor, EquivalenceTests.largestFloor)
        let three = try trainAcrossHosts(3, hostfile: hostfile, config: float, run: directory.appendingPathComponent("float-3"))
        for (hosts, state) in [(2, across), (3, three)] {
            let deviation = DecompositionCheck.worstDeviation(state, from: threads[0])
            XCTAssertLessThanOrEqual(deviation, EquivalenceTests.amplification * floor, "\(hosts) hosts vs one process (floor \(floor))")
        }
    }

    /// `bigbatch bench allreduce` across hosts: the trainer's reduction and a bare MPI_Allreduce of the
    /// same buffer, over TCP between 2 test hosts.
    func testAllReduceBenchmarkRunsAcrossHosts() throws {
        let hostfile = try up(2)
        let job = try startAcrossHosts(2, hostfile: hostfile, ["bench", "allreduce", "--bytes", "1048576", "--rounds", "5",
                                                               "--bucket-bytes", "262144", "--json"])
        let result = job.wait(timeout: 120)
        XCTAssertEqual(result.status, 0, result.error)
        let line = try XCTUnwrap(result.output.split(separator: "\n").last { $0.hasPrefix("{") }, result.output)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        XCTAssertEqual(report["ranks"] as? Int, 2, "\(report)")
        XCTAssertGreaterThan(report.values.compactMap { $0 as? Double }.max() ?? 0, 0, "\(report)")
    }

    /// Over links limited to 50 Mbit/s (`--rate`, a token bucket on each host's interface) the job is
    /// slower and its bits the same; a 5 s collective deadline never trips while every step completes.
    func testRateLimitedLinksTrainTheSameBits() throws {
        let hostfile = try up(2, ["--rate", "50mbit"])
        let qdisc = try ProcessRunner.runTool("ip", ["netns", "exec", "\(cluster)-h1", "tc", "qdisc", "show", "dev", "eth0"])
        XCTAssertTrue(qdisc.output.contains("tbf") && qdisc.output.contains("50Mbit"), qdisc.output)
        let exact = try configuration(steps: 6, reproducible: true, timeout: 5)
        let single = try TrainingRun.finalTensors(config: exact, runDirectory: directory.appendingPathComponent("one"), ranks: 1)
        let across = try trainAcrossHosts(2, hostfile: hostfile, config: exact, run: directory.appendingPathComponent("slow"))
        for (tensor, values) in single {
            XCTAssertEqual(across[tensor]?.map(\.bitPattern), values.map(\.bitPattern), "\(tensor) over 50 Mbit/s")
        }
    }

    /// Host 1's link taken down mid-run: every process on both hosts is gone within the collective
    /// deadline plus 30 s. mpirun and the daemons notice the silent link by TCP keepalive (set by
    /// launch/train.sh and the test hosts), where by default they would wait for TCP's retransmissions.
    func testLinkDownEndsTheJobOnEveryHost() throws {
        let hostfile = try up(2)
        let (job, run) = try startLongRun(hostfile: hostfile, timeout: 30)
        let cut = try ProcessRunner.runTool(Self.clusterScript, ["link", "\(cluster)-h1", "down", "--name", cluster])
        XCTAssertEqual(cut.status, 0, cut.error)
        let cutAt = Date()
        let result = job.wait(timeout: 90)
        XCTAssertNotEqual(result.status, 0)
        assertEveryProcessGone(since: cutAt, within: 30 + 30)
        XCTAssertFalse(CheckpointDirectory(url: run, keep: 2).checkpoints().isEmpty)
    }

    /// A rank that stops answering while its link is up (SIGSTOP on host 1): rank 0's collective passes
    /// `distributed.timeout_s: 5`, the watchdog ends it with one line naming the step and the collective,
    /// and the job ends on both hosts within the deadline plus 30 s.
    func testStuckRankIsEndedByTheWatchdog() throws {
        let hostfile = try up(2)
        let (job, _) = try startLongRun(hostfile: hostfile, timeout: 5)
        let stoppedAt = signalTheRankOnHost1(SIGSTOP)
        let result = job.wait(timeout: 90)
        XCTAssertNotEqual(result.status, 0)
        assertEveryProcessGone(since: stoppedAt, within: 5 + 30)
        XCTAssertTrue(result.error.contains("bigbatch: rank 0: MPI_Allreduce") && result.error.contains("has not completed after 5.0 s"),
                      result.error)
        XCTAssertTrue(result.error.contains("rank 1 did not answer the watchdog's roll call"), result.error)
    }

    /// A long float-mode run across the hosts, returned once its first checkpoint is written.
    private func startLongRun(hostfile: String, timeout: Double) throws -> (RunningProcess, URL) {
        let config = try configuration(steps: 100_000, reproducible: false, timeout: timeout)
        let run = directory.appendingPathComponent("long")
        let job = try startAcrossHosts(2, hostfile: hostfile, ["train", "--config", config.path, "--run-dir", run.path, "--quiet"])
        let checkpoints = CheckpointDirectory(url: run, keep: 2)
        let deadline = Date().addingTimeInterval(120)
        while checkpoints.checkpoints().isEmpty && Date() < deadline && job.process.isRunning { Thread.sleep(forTimeInterval: 0.05) }
        XCTAssertTrue(job.process.isRunning, "training across the hosts is under way")
        return (job, run)
    }

    private func assertEveryProcessGone(since start: Date, within seconds: Double, file: StaticString = #filePath, line: UInt = #line) {
        while Date().timeIntervalSince(start) < seconds + 5, (0..<2).contains(where: { !processes(named: nil, onHost: $0).isEmpty }) {
            Thread.sleep(forTimeInterval: 0.2)
        }
        let gone = Date().timeIntervalSince(start)
        for host in 0..<2 {
            XCTAssertEqual(processes(named: nil, onHost: host), [], "processes left on host \(host)", file: file, line: line)
        }
        XCTAssertLessThan(gone, seconds, "every process gone within \(seconds) s", file: file, line: line)
    }

    /// A rank killed on host 1 ends the job on every host within 30 s, no process left in any host;
    /// resumed across the hosts from its last checkpoint, the run ends bit-identical to an uninterrupted one.
    func testKilledRankOnOneHostEndsTheJobAndResumeIsExact() throws {
        let hostfile = try up(2)
        let config = try configuration(steps: 600, reproducible: false)
        let whole = try trainAcrossHosts(2, hostfile: hostfile, config: config, run: directory.appendingPathComponent("whole"))
        let run = directory.appendingPathComponent("killed")
        let job = try startAcrossHosts(2, hostfile: hostfile, ["train", "--config", config.path, "--run-dir", run.path, "--quiet"])
        let checkpoints = CheckpointDirectory(url: run, keep: 2)
        let deadline = Date().addingTimeInterval(120)
        while checkpoints.checkpoints().isEmpty && Date() < deadline && job.process.isRunning { Thread.sleep(forTimeInterval: 0.05) }
        XCTAssertFalse(checkpoints.checkpoints().isEmpty, "a checkpoint was written before the kill")
        let killedAt = signalTheRankOnHost1(SIGKILL)
        let result = job.wait(timeout: 60)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertLessThan(Date().timeIntervalSince(killedAt), 30, "the job ends within 30 s of the kill")
        Thread.sleep(forTimeInterval: 1)
        for host in 0..<2 { XCTAssertEqual(processes(named: nil, onHost: host), [], "processes left on host \(host)") }
        XCTAssertLessThan(checkpoints.checkpoints().last?.step ?? 600, 600, "the kill came before the end")

        let resumed = try trainAcrossHosts(2, hostfile: hostfile, config: config, run: run, ["--resume", run.path])
        for (tensor, values) in whole {
            XCTAssertEqual(resumed[tensor]?.map(\.bitPattern), values.map(\.bitPattern), "\(tensor) after kill and resume")
        }
    }

    /// Sends `signal` to the one rank on host 1; returns when.
    private func signalTheRankOnHost1(_ signal: Int32, file: StaticString = #filePath, line: UInt = #line) -> Date {
        let ranks = processes(named: "bigbatch", onHost: 1)
        XCTAssertEqual(ranks.count, 1, "host 1 runs one rank", file: file, line: line)
        let now = Date()
        for pid in ranks { kill(pid, signal) }
        return now
    }

    /// The processes inside test host `index`'s namespace (all of them, or those running the executable `named`).
    private func processes(named command: String?, onHost index: Int) -> [Int32] {
        guard let result = try? ProcessRunner.runTool("ip", ["netns", "pids", "\(cluster)-h\(index)"]) else { return [] }
        return result.output.split(separator: "\n").compactMap { Int32($0) }.filter { pid in
            guard let command else { return true }
            let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")) ?? ""
            return URL(fileURLWithPath: executable).lastPathComponent == command
        }
    }
}
