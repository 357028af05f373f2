import Foundation

/// Picks OpenBLAS's best kernels for this CPU.
///
/// On virtual machines that hide the CPU model, OpenBLAS's dynamic dispatch falls back to generic
/// kernels several times slower than the ones the CPU supports. The choice is read from
/// `OPENBLAS_CORETYPE` while OpenBLAS loads — before `main` — so the executable sets it from the
/// CPU's feature flags and re-executes itself once. A value the user set is left alone.
public enum BLASCoreSelection {
    /// The variable OpenBLAS reads at load time.
    public static let environmentKey = "OPENBLAS_CORETYPE"
    /// Marks a process that already re-executed, so a failing exec can never loop.
    static let markerKey = "BIGBATCH_BLAS_CORE_SELECTED"

    /// The OpenBLAS core type for a set of `/proc/cpuinfo` flags and vendor, or nil to keep
    /// OpenBLAS's own choice.
    public static func bestCore(flags: Set<String>, vendor: String) -> String? {
        let avx512 = ["avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"].allSatisfy(flags.contains)
        if avx512 { return "SkylakeX" }
        if flags.contains("avx2") && flags.contains("fma") { return vendor == "AuthenticAMD" ? "Zen" : "Haswell" }
        if flags.contains("avx") { return "Sandybridge" }
        return nil
    }

    /// This CPU's flags and vendor, from `/proc/cpuinfo`.
    public static func currentCPU() -> (flags: Set<String>, vendor: String)? {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
        var flags: Set<String> = []
        var vendor = ""
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { continue }
            if parts[0] == "flags", flags.isEmpty { flags = Set(parts[1].split(separator: " ").map(String.init)) }
            if parts[0] == "vendor_id", vendor.isEmpty { vendor = parts[1] }
        }
        return (flags, vendor)
    }

    /// Sets `OPENBLAS_CORETYPE` and re-executes the program if that changes anything.
    /// Returns normally when no re-execution is needed (or possible).
    public static func reexecutingWithBestCoreIfNeeded() {
        let environment = ProcessInfo.processInfo.environment
        guard environment[environmentKey] == nil, environment[markerKey] == nil,
              let cpu = currentCPU(), let core = bestCore(flags: cpu.flags, vendor: cpu.vendor),
              core.lowercased() != BLAS.coreName.lowercased()
        else { return }
        setenv(environmentKey, core, 1)
        setenv(markerKey, "1", 1)
        let arguments = CommandLine.arguments
        var cArguments = arguments.map { strdup($0) } + [nil]
        // The resolved path rather than /proc/self/exe itself, so the process keeps its name in ps,
        // top and pgrep ("bigbatch", not "exe").
        var target = [CChar](repeating: 0, count: 4097)
        let length = readlink("/proc/self/exe", &target, target.count - 1)
        execv(length > 0 ? target : Array("/proc/self/exe".utf8CString), &cArguments)
        // exec failed: carry on with OpenBLAS's own choice.
        for pointer in cArguments { free(pointer) }
    }
}
