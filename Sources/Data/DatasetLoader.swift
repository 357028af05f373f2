/// Loads a split of the configured data set into memory, validating every file.
public enum DatasetLoader {
    public static func load(_ config: DataConfig, split: Split) throws(DataError) -> Dataset {
        if config.kind.isTokenSequence { return try loadTokens(config, split: split) }
        let (imagesPath, labelsPath) = try files(config, split: split)
        let shape: [Int]
        let pixels: Pixels
        let labels: [Int32]
        switch config.kind {
        case .fashionMNIST, .mnist, .idx:
            let images = try IDXReader.readImages(imagesPath)
            (shape, pixels) = (images.shape, .bytes(images.pixels))
            labels = try IDXReader.readLabels(labelsPath, classes: config.classes)
        case .npy:
            (shape, pixels) = try NumpyReader.readImages(imagesPath)
            labels = try NumpyReader.readLabels(labelsPath, classes: config.classes)
        case .text, .tokens:
            preconditionFailure("token data is loaded by loadTokens")
        }
        guard shape[0] == labels.count else {
            throw .countMismatch(imagesFile: imagesPath, images: shape[0], labelsFile: labelsPath, labels: labels.count)
        }
        return Dataset(sampleShape: Array(shape.dropFirst()), classes: config.classes, pixels: pixels, targets: labels)
    }

    /// Windows of `text` or `tokens` data. Training windows follow `pack` and the documents; the
    /// validation split is always consecutive non-overlapping windows over its whole stream (the
    /// last partial one dropped), as bits per byte are measured.
    static func loadTokens(_ config: DataConfig, split: Split) throws(DataError) -> Dataset {
        guard let length = config.sequenceLength else {
            preconditionFailure("token data without a sequence length (the training configuration sets it)")
        }
        let path: String, tokens: [UInt16]
        switch config.kind {
        case .text:
            path = config.directory
            let all = try TokenData.readText(path)
            let held = Int((Double(all.count) * config.validationFraction).rounded(.down))
            tokens = split == .train ? Array(all[..<(all.count - held)]) : Array(all[(all.count - held)...])
        default:
            path = join(config.directory, split == .train ? "train.bin" : "val.bin")
            tokens = try TokenData.readBinary(path, vocabulary: config.classes)
        }
        let vocabulary = config.kind == .text ? 256 : config.classes
        let label = config.kind == .text ? "\(path) (\(split == .train ? "training" : "validation") part)" : path
        if split == .test || config.pack {
            return try TokenData.windows(tokens, ranges: [0..<tokens.count], length: length, vocabulary: vocabulary,
                                         padTails: false, file: label)
        }
        let separator = config.documentSeparator.map { Array($0.utf8).map(UInt16.init) } ?? []
        let documents = TokenData.documents(tokens, separator: separator)
        if !config.pad, let short = documents.firstIndex(where: { $0.count < length + 1 }) {
            throw DataError.badTokens(file: label, reason: "document \(short) holds \(documents[short].count) tokens, fewer "
                                      + "than a window of \(length) needs (\(length + 1)) with data.pack: false and "
                                      + "data.pad: false; allow padding, pack the documents or shorten the window")
        }
        return try TokenData.windows(tokens, ranges: documents, length: length, vocabulary: vocabulary,
                                     padTails: config.pad, file: label)
    }

    /// The image and label paths of `split`: configured names as given, standard names with or without `.gz`.
    public static func files(_ config: DataConfig, split: Split) throws(DataError) -> (images: String, labels: String) {
        guard DataFile.isDirectory(config.directory) else { throw .directoryNotFound(directory: config.directory) }
        let configured = split == .train ? (config.trainImages, config.trainLabels) : (config.testImages, config.testLabels)
        let standard = standardNames(config.kind, split: split)
        var candidates: [[String]] = []
        for (name, fallback) in [(configured.0, standard.images), (configured.1, standard.labels)] {
            candidates.append(name.map { [$0] } ?? fallback)
        }
        var chosen: [String] = []
        for options in candidates {
            let paths = options.map { join(config.directory, $0) }
            if options.count == 1 {
                chosen.append(paths[0])  // configured or single standard name: reading reports a missing file
            } else if let found = paths.first(where: DataFile.isRegularFile) {
                chosen.append(found)
            } else {
                let expected = candidates.filter { $0.count > 1 }.map { $0.joined(separator: " or ") }
                throw .missingFiles(directory: config.directory, expected: expected, found: DataFile.listing(config.directory))
            }
        }
        return (chosen[0], chosen[1])
    }

    static func standardNames(_ kind: DatasetKind, split: Split) -> (images: [String], labels: [String]) {
        switch kind {
        case .fashionMNIST, .mnist, .idx:
            let prefix = split == .train ? "train" : "t10k"
            let images = "\(prefix)-images-idx3-ubyte", labels = "\(prefix)-labels-idx1-ubyte"
            return ([images + ".gz", images], [labels + ".gz", labels])
        case .npy:
            let prefix = split.rawValue
            return (["\(prefix)_images.npy", "\(prefix)_images.npy.gz"], ["\(prefix)_labels.npy", "\(prefix)_labels.npy.gz"])
        case .text, .tokens:
            return ([], [])
        }
    }

    static func join(_ directory: String, _ name: String) -> String {
        if name.hasPrefix("/") { return name }
        return directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }
}
