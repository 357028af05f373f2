import Foundation

/// What `ReportBuilder.render` produced.
public struct ReportSummary: Sendable {
    public var variants: [VariantSummary]
    public var markdownURL: URL
    public var htmlURL: URL
    public var plotURLs: [URL]
    /// Steps and examples to the target per effective batch, and the fitted critical batch size.
    public var scaling: CriticalBatchAnalysis
}
