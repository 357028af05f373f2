import CLibFuzzer
import Foundation

// One executable for every fuzz target (one sanitized build), chosen by BIGBATCH_FUZZ_TARGET so
// that libFuzzer's own arguments pass through untouched, also to the processes it forks.
let name = ProcessInfo.processInfo.environment["BIGBATCH_FUZZ_TARGET"] ?? ""
guard let chosen = FuzzTarget(rawValue: name) else {
    let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
    FileHandle.standardError.write(Data("set BIGBATCH_FUZZ_TARGET to one of: \(names) (found '\(name)')\n".utf8))
    exit(2)
}
nonisolated(unsafe) let target = chosen

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    target.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzOneInput(data, size) })
