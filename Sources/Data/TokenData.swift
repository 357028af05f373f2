/// Token data for language models: the readers and the windows that make samples of them.
///
/// A sample is a window of T tokens with its T next tokens as targets. Windows are fixed by the
/// data alone (their start positions, never where a batch is processed), and the batch plan picks
/// them by (seed, epoch, global sample index), so every decomposition and every resume sees the
/// same tokens.
public enum TokenData {
    /// The bytes of a UTF-8 text file as tokens 0...255 (byte-level: no tokenizer to disagree with).
    public static func readText(_ path: String) throws(DataError) -> [UInt16] {
        let bytes = try DataFile.read(path)
        guard !bytes.isEmpty else { throw .badTokens(file: path, reason: "the text file is empty") }
        return bytes.map(UInt16.init)
    }

    /// nanoGPT's `.bin`: uint16 little-endian token ids, each below `vocabulary`.
    public static func readBinary(_ path: String, vocabulary: Int) throws(DataError) -> [UInt16] {
        try decodeBinary(DataFile.read(path), file: path, vocabulary: vocabulary)
    }

    static func decodeBinary(_ bytes: [UInt8], file: String, vocabulary: Int) throws(DataError) -> [UInt16] {
        guard !bytes.isEmpty else { throw .badTokens(file: file, reason: "the token file is empty") }
        guard bytes.count % 2 == 0 else {
            throw .badTokens(file: file, reason: "\(bytes.count) bytes is an odd length for uint16 token ids")
        }
        var tokens = [UInt16](repeating: 0, count: bytes.count / 2)
        for i in tokens.indices {
            let token = UInt16(bytes[2 * i]) | UInt16(bytes[2 * i + 1]) << 8
            guard Int(token) < vocabulary else {
                throw .tokenOutOfRange(file: file, index: i, token: Int(token), vocabulary: vocabulary)
            }
            tokens[i] = token
        }
        return tokens
    }

    /// The token ranges of the documents `separator` splits `tokens` into (the separator itself
    /// belongs to no document; empty documents are dropped).
    public static func documents(_ tokens: [UInt16], separator: [UInt16]) -> [Range<Int>] {
        guard !separator.isEmpty, tokens.count >= separator.count else { return [0..<tokens.count] }
        var documents: [Range<Int>] = []
        var start = 0, i = 0
        while i + separator.count <= tokens.count {
            if tokens[i] == separator[0] && tokens[i..<(i + separator.count)].elementsEqual(separator) {
                if i > start { documents.append(start..<i) }
                i += separator.count
                start = i
            } else {
                i += 1
            }
        }
        if tokens.count > start { documents.append(start..<tokens.count) }
        return documents
    }

    /// Windows of `length` tokens with their next tokens as targets.
    ///
    /// Over each range of `ranges`, consecutive non-overlapping windows start every `length` tokens.
    /// With `padTails` a range's last, shorter window is kept: inputs padded with token 0 and its
    /// missing targets `ignoreIndex`, so the loss counts only real next tokens (samples then carry
    /// different numbers of counted targets). Without it the partial window is dropped.
    public static func windows(_ tokens: [UInt16], ranges: [Range<Int>], length: Int, vocabulary: Int,
                               padTails: Bool, ignoreIndex: Int32 = -1, file: String) throws(DataError) -> Dataset {
        var inputs: [UInt16] = [], targets: [Int32] = []
        for range in ranges {
            // A window needs its next token too: a range of n tokens has n − 1 (input, target) pairs.
            let pairs = range.count - 1
            guard pairs > 0 else { continue }
            let count = padTails ? (pairs + length - 1) / length : pairs / length
            inputs.reserveCapacity(inputs.count + count * length)
            for w in 0..<count {
                let start = range.lowerBound + w * length
                let real = min(length, range.upperBound - 1 - start)
                for j in 0..<length {
                    if j < real {
                        inputs.append(tokens[start + j])
                        targets.append(Int32(tokens[start + j + 1]))
                    } else {
                        inputs.append(0)
                        targets.append(ignoreIndex)
                    }
                }
            }
        }
        guard !inputs.isEmpty else {
            let longest = ranges.map(\.count).max() ?? 0
            throw .badTokens(file: file, reason: "no window of \(length) tokens fits (the longest stretch holds \(longest) "
                             + "tokens, a window needs \(length + 1)); lower model.block_size or data.sequence_length")
        }
        return Dataset(sampleShape: [length], classes: vocabulary, pixels: .tokens(inputs), targets: targets,
                       targetsPerSample: length)
    }
}
