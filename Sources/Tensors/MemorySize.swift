import Foundation

/// Sizes computed from untrusted numbers (configuration, file headers) without trapping.
public enum CheckedSize {
    /// The product of `factors`, or nil if it overflows `Int` (or any factor is negative).
    public static func product(_ factors: [Int]) -> Int? {
        var result = 1
        for factor in factors {
            guard factor >= 0 else { return nil }
            let (value, overflow) = result.multipliedReportingOverflow(by: factor)
            if overflow { return nil }
            result = value
        }
        return result
    }

    /// The sum of `terms`, or nil if it overflows `Int`.
    public static func sum(_ terms: [Int]) -> Int? {
        var result = 0
        for term in terms {
            let (value, overflow) = result.addingReportingOverflow(term)
            if overflow { return nil }
            result = value
        }
        return result
    }

    /// `bytes` in GiB with one decimal, for messages.
    public static func gibibytes(_ bytes: Int) -> String {
        String(format: "%.1f GiB", Double(bytes) / Double(1 << 30))
    }
}

/// The memory this process may still allocate, for refusing a model or batch that cannot fit
/// before allocating it rather than being killed (or trapping) halfway through.
public enum SystemMemory {
    /// `MemAvailable` from `/proc/meminfo` (what the kernel can give without swapping), else the
    /// physical memory.
    public static var availableBytes: Int {
        if let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) {
            for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
                let fields = line.split(separator: " ")
                if fields.count >= 2, let kibibytes = Int(fields[1]) { return kibibytes &* 1024 }
            }
        }
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
        return pages > 0 && size > 0 ? pages &* size : Int.max
    }
}
