import Foundation

/// What `ReportBuilder.render` produced.
public struct ReportSummary: Sendable {
    public var variants: [VariantSummary]
    public var markdownURL: URL
    public var htmlURL: URL
    public var plotURLs: [URL]
}
