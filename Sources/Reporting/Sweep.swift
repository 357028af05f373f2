import Foundation

/// One variant of a sweep as found on disk: `<sweep>/<directoryName>/{variant.json, metrics.jsonl, config.yaml}`.
public struct SweepVariant: Sendable, Equatable {
    /// The subdirectory name, which identifies the variant in links and in a requested order.
    public var directoryName: String
    public var info: VariantInfo
    public var metrics: RunMetrics
    /// The resolved `config.yaml`, nil when the trainer has not written it.
    public var configuration: String?
    /// The records of `gradients.jsonl`; empty when histograms were off or none is due yet.
    public var gradientMagnitudes: [GradientMagnitudes]

    public init(directoryName: String, info: VariantInfo, metrics: RunMetrics, configuration: String?,
                gradientMagnitudes: [GradientMagnitudes] = []) {
        self.directoryName = directoryName
        self.info = info
        self.metrics = metrics
        self.configuration = configuration
        self.gradientMagnitudes = gradientMagnitudes
    }

    /// The name shown in tables and legends.
    public var name: String { info.name.isEmpty ? directoryName : info.name }
}

/// All variants of a sweep output directory.
public struct Sweep: Sendable {
    public var directory: URL
    public var variants: [SweepVariant]

    public init(directory: URL, variants: [SweepVariant]) {
        self.directory = directory
        self.variants = variants
    }

    public static let variantFileName = "variant.json"
    public static let metricsFileName = "metrics.jsonl"
    public static let configurationFileName = "config.yaml"
    public static let gradientsFileName = "gradients.jsonl"

    /// Reads every subdirectory holding a `variant.json`; other subdirectories (such as `plots/`) are skipped.
    ///
    /// A variant without `metrics.jsonl` has not logged yet and loads with empty metrics; a malformed file of any
    /// variant fails the whole load, naming the file.
    ///
    /// - Parameter order: the variants to include, by directory or variant name, in this order; nil includes all,
    ///   ordered by effective batch, then name (an empty list counts as nil).
    public static func load(from directory: URL, order: [String]? = nil) throws(ReportError) -> Sweep {
        let manager = FileManager.default
        let entries: [String]
        do {
            entries = try manager.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw .unreadableDirectory(path: directory.path, reason: error.localizedDescription)
        }
        var variants: [SweepVariant] = []
        for entry in entries.sorted() where !entry.hasPrefix(".") {
            let subdirectory = directory.appendingPathComponent(entry, isDirectory: true)
            var isDirectory: ObjCBool = false
            guard manager.fileExists(atPath: subdirectory.path, isDirectory: &isDirectory), isDirectory.boolValue
            else { continue }
            let variantURL = subdirectory.appendingPathComponent(variantFileName)
            let metricsURL = subdirectory.appendingPathComponent(metricsFileName)
            guard manager.fileExists(atPath: variantURL.path) else {
                // Metrics without a description are a broken variant, not an unrelated folder.
                if manager.fileExists(atPath: metricsURL.path) { throw .missingFile(path: variantURL.path) }
                continue
            }
            let info = try VariantInfo.read(from: variantURL)
            let metrics = manager.fileExists(atPath: metricsURL.path)
                ? try RunMetrics.read(from: metricsURL) : RunMetrics()
            let configURL = subdirectory.appendingPathComponent(configurationFileName)
            var configuration: String?
            if manager.fileExists(atPath: configURL.path) {
                do {
                    configuration = try String(contentsOf: configURL, encoding: .utf8)
                } catch {
                    throw .unreadableFile(path: configURL.path, reason: error.localizedDescription)
                }
            }
            let gradientsURL = subdirectory.appendingPathComponent(gradientsFileName)
            let gradients = manager.fileExists(atPath: gradientsURL.path) ? try GradientMagnitudes.read(from: gradientsURL) : []
            variants.append(SweepVariant(directoryName: entry, info: info, metrics: metrics, configuration: configuration,
                                         gradientMagnitudes: gradients))
        }
        guard !variants.isEmpty else { throw .noVariants(directory: directory.path) }
        return Sweep(directory: directory, variants: try arrange(variants, order: order))
    }

    private static func arrange(_ variants: [SweepVariant], order: [String]?) throws(ReportError) -> [SweepVariant] {
        guard let order, !order.isEmpty else {
            return variants.sorted {
                ($0.info.effectiveBatch, $0.name, $0.directoryName) < ($1.info.effectiveBatch, $1.name, $1.directoryName)
            }
        }
        var chosen: [SweepVariant] = []
        var seen = Set<String>()
        for name in order {
            guard let variant = variants.first(where: { $0.directoryName == name })
                ?? variants.first(where: { $0.info.name == name })
            else {
                throw .unknownVariant(name: name, available: variants.map(\.directoryName))
            }
            guard seen.insert(variant.directoryName).inserted else { throw .duplicateVariant(name: name) }
            chosen.append(variant)
        }
        return chosen
    }
}
