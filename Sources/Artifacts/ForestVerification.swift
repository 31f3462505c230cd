/// The compiled forest compared with the C API, bit for bit, on probe rows: the margins (so a
/// difference the sigmoid would hide still shows) and the probabilities.
struct ForestVerification: Sendable {
    /// Rows compared.
    let rows: Int
    /// The first differences found, readable; empty when the forest equals the C API.
    let mismatches: [String]
    /// How many rows differed in margin or probability.
    let mismatchCount: Int

    var passed: Bool { mismatchCount == 0 }

    /// - Parameter probes: scaled rows, row-major, `booster.featureCount` wide.
    /// - Throws: what the C API throws (the C API is the oracle: no answer, no verdict).
    init(forest: CompiledForest, booster: Booster, probes: [Float]) throws {
        let rows = probes.count / max(1, booster.featureCount)
        let width = booster.featureCount
        let (expectedMargins, expectedProbabilities, margins, single) = try probes.withUnsafeBufferPointer { p in
            // The forest once in blocks of rows, once a row at a time: the two walks differ
            // (rows as lanes, trees as lanes), and both serve.
            let single = try (0..<rows).map { row in
                try forest.margins(UnsafeBufferPointer(rebasing: p[(row * width)..<((row + 1) * width)]), rows: 1)[0]
            }
            return (try booster.margins(p, rows: rows), try booster.predict(p, rows: rows), try forest.margins(p, rows: rows), single)
        }
        // What `forest.probabilities` does, without walking the trees twice.
        let probabilities = margins.map(CompiledForest.sigmoid)
        var found: [String] = []
        var count = 0
        for row in 0..<rows {
            let marginSame = margins[row].bitPattern == expectedMargins[row].bitPattern && single[row].bitPattern == expectedMargins[row].bitPattern
            let probabilitySame = probabilities[row].bitPattern == expectedProbabilities[row].bitPattern
            if marginSame && probabilitySame { continue }
            count += 1
            if found.count < 5 {
                found.append(
                    "probe row \(row): compiled margin \(margins[row]) (one row at a time \(single[row])) probability \(probabilities[row]), "
                        + "C API margin \(expectedMargins[row]) probability \(expectedProbabilities[row])")
            }
        }
        self.rows = rows
        self.mismatches = found
        self.mismatchCount = count
    }
}
