import CMPI
import Distributed
import Tensors

/// The trainer's gradient reduction against a bare `MPI_Allreduce` of the same buffer, interleaved
/// in one run so that both see the same machine state.
public enum AllReduceBenchmark {
    public struct Result: Sendable {
        public var bytes: Int
        /// Algorithm bandwidth (bytes / second / 1e9) of the trainer's reduction and of bare MPI.
        public var bigbatchGBps: Double
        public var mpiGBps: Double
    }

    public static func run(world: any Communicator, bytes: Int, rounds: Int = 21, bucketBytes: Int = 0) throws -> Result {
        let count = max(1, bytes / MemoryLayout<Float>.stride)
        let buffer = FloatBuffer(count: count)
        buffer.fill(1)
        let reducer = GradientReducer(communicator: world, bucketBytes: bucketBytes)
        var scalars = [1.0, 1.0, 0.0, 0.0]
        var ours: [Double] = [], bare: [Double] = []
        for round in 0..<(rounds + 1) {
            try world.barrier()
            var start = world.wallClock()
            try reducer.reduce(buffer.pointer, scalars: &scalars)
            let oursSeconds = world.wallClock() - start
            try world.barrier()
            start = world.wallClock()
            try MPICommunicator.check(cmpi_allreduce(buffer.baseAddress, Int64(count), CMPI_FLOAT, CMPI_SUM), "MPI_Allreduce")
            let bareSeconds = world.wallClock() - start
            buffer.fill(1)  // keep values bounded
            if round > 0 {  // the first round warms up connections
                ours.append(oursSeconds)
                bare.append(bareSeconds)
            }
        }
        // The slowest rank decides a collective's time.
        var times = [median(ours), median(bare)]
        try times.withUnsafeMutableBufferPointer { try world.allReduce($0, .max) }
        let moved = Double(count * MemoryLayout<Float>.stride)
        return Result(bytes: count * MemoryLayout<Float>.stride, bigbatchGBps: moved / times[0] / 1e9,
                      mpiGBps: moved / times[1] / 1e9)
    }
}
