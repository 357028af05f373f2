import Tensors
import XCTest

final class ParallelTests: XCTestCase {
    /// Every task runs exactly once, also when there are more tasks than threads.
    func testEveryTaskRunsOnce() {
        for tasks in [0, 1, 2, 7] {
            let counts = UnsafeMutableBufferPointer<Int>.allocate(capacity: max(tasks, 1))
            defer { counts.deallocate() }
            counts.initialize(repeating: 0)
            Parallel.forEachTask(tasks) { counts[$0] += 1 }
            XCTAssertEqual(Array(counts.prefix(tasks)), Array(repeating: 1, count: tasks), "\(tasks) tasks")
        }
    }

    /// The ranges tile `0..<count` whether the loop is split (two BLAS threads, enough work) or not.
    func testRangesCoverEachIndexOnce() {
        BLAS.withThreadCount(2) {
            for (count, work) in [(0, 0), (5, 10), (1001, Parallel.minimumWork)] {
                let counts = UnsafeMutableBufferPointer<Int>.allocate(capacity: max(count, 1))
                defer { counts.deallocate() }
                counts.initialize(repeating: 0)
                Parallel.forEachRange(count, work: work) { range in
                    for i in range { counts[i] += 1 }
                }
                XCTAssertEqual(Array(counts.prefix(count)), Array(repeating: 1, count: count), "count \(count)")
            }
        }
    }

    /// The previous thread count comes back after the body, also when it throws.
    func testWithThreadCountRestores() {
        let before = BLAS.threadCount
        let inside = BLAS.withThreadCount(1) { BLAS.threadCount }
        XCTAssertEqual(inside, 1)
        XCTAssertEqual(BLAS.threadCount, before)
        struct Failure: Error {}
        XCTAssertThrowsError(try BLAS.withThreadCount(before + 1) { throw Failure() })
        XCTAssertEqual(BLAS.threadCount, before)
    }
}
