/// Series colours from the Okabe–Ito palette, distinguishable under the common colour-vision deficiencies.
///
/// Ordered for contrast on white (yellow last). Beyond eight series the colours repeat with a dash pattern, so
/// every series stays distinct.
public enum Palette {
    public static let okabeIto: [String] = [
        "#0072B2",  // blue
        "#D55E00",  // vermillion
        "#009E73",  // bluish green
        "#CC79A7",  // reddish purple
        "#E69F00",  // orange
        "#56B4E9",  // sky blue
        "#000000",  // black
        "#F0E442",  // yellow
    ]

    private static let dashes: [String?] = [nil, "6 3", "2 3", "8 3 2 3"]

    public static func color(at index: Int) -> String {
        okabeIto[index % okabeIto.count]
    }

    /// An SVG `stroke-dasharray` for the index, nil (solid) for the first eight.
    public static func dash(at index: Int) -> String? {
        dashes[(index / okabeIto.count) % dashes.count]
    }
}
