import Foundation
import Tensors

// OpenBLAS reads its kernel choice while loading, before this line runs; pick the best kernels for
// this CPU and restart once if they differ from what it chose.
BLASCoreSelection.reexecutingWithBestCoreIfNeeded()
/// The environment before MPI adds to it, for programs this one launches (`compare` runs mpirun).
let launchEnvironment = ProcessInfo.processInfo.environment
BigBatchCommand.main()
