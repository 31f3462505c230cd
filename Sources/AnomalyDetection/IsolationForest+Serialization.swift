import Foundation

/// The forest's stored form: versioned, compact, little-endian.
///
/// ```
/// "IFOR" u16 version=1 | u32 featureCount | u32 samplesPerTree | f64 offset
/// u32 parametersLength | parameters JSON | u32 treeCount
/// per tree: u32 nodeCount | nodeCount x (i32 feature, f64 threshold, i32 left, i32 right)
/// ```
/// Reading validates every index (children after their parent, inside the tree), so a damaged
/// artifact is refused rather than looping or trapping.
extension IsolationForest {
    public static let formatVersion: UInt16 = 1

    public struct FormatError: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    public func serialized() -> [UInt8] {
        var out: [UInt8] = Array("IFOR".utf8)
        out.reserveCapacity(64 + trees.reduce(0) { $0 + 4 + $1.feature.count * 20 })
        Self.append(Self.formatVersion, to: &out)
        Self.append(UInt32(featureCount), to: &out)
        Self.append(UInt32(samplesPerTree), to: &out)
        Self.append(offset.bitPattern, to: &out)
        let parameterBytes = (try? JSONEncoder().encode(parameters)).map { [UInt8]($0) } ?? []
        Self.append(UInt32(parameterBytes.count), to: &out)
        out += parameterBytes
        Self.append(UInt32(trees.count), to: &out)
        for tree in trees {
            Self.append(UInt32(tree.feature.count), to: &out)
            for n in tree.feature.indices {
                Self.append(UInt32(bitPattern: tree.feature[n]), to: &out)
                Self.append(tree.threshold[n].bitPattern, to: &out)
                Self.append(UInt32(bitPattern: tree.left[n]), to: &out)
                Self.append(UInt32(bitPattern: tree.right[n]), to: &out)
            }
        }
        return out
    }

    public init(serialized bytes: [UInt8]) throws {
        var reader = Reader(bytes: bytes)
        guard try reader.take(4) == Array("IFOR".utf8) else { throw FormatError(description: "not an Isolation Forest artifact") }
        let version: UInt16 = try reader.integer()
        guard version == Self.formatVersion else { throw FormatError(description: "unsupported forest format version \(version)") }
        let featureCount = Int(try reader.integer() as UInt32)
        let psi = Int(try reader.integer() as UInt32)
        let offset = Double(bitPattern: try reader.integer())
        let parameterLength = Int(try reader.integer() as UInt32)
        guard let parameters = try? JSONDecoder().decode(Parameters.self, from: Data(try reader.take(parameterLength))) else {
            throw FormatError(description: "forest parameters are unreadable")
        }
        let treeCount = Int(try reader.integer() as UInt32)
        guard featureCount >= 1, psi >= 1, treeCount >= 1, treeCount <= 10_000 else {
            throw FormatError(description: "forest header is out of range")
        }
        var trees: [Tree] = []
        trees.reserveCapacity(treeCount)
        for _ in 0..<treeCount {
            let nodes = Int(try reader.integer() as UInt32)
            guard nodes >= 1, nodes * 20 <= reader.remaining else { throw FormatError(description: "tree size is out of range") }
            var tree = Tree()
            for n in 0..<nodes {
                let feature = Int32(bitPattern: try reader.integer())
                let threshold = Double(bitPattern: try reader.integer())
                let left = Int32(bitPattern: try reader.integer())
                let right = Int32(bitPattern: try reader.integer())
                if feature >= 0 {
                    guard Int(feature) < featureCount, left > n, right > n, Int(left) < nodes, Int(right) < nodes else {
                        throw FormatError(description: "tree node \(n) is inconsistent")
                    }
                } else {
                    guard feature == -1 else { throw FormatError(description: "tree node \(n) is inconsistent") }
                }
                tree.feature.append(feature)
                tree.threshold.append(threshold)
                tree.left.append(left)
                tree.right.append(right)
            }
            trees.append(tree)
        }
        guard reader.remaining == 0 else { throw FormatError(description: "trailing bytes after the forest") }
        self.init(parameters: parameters, featureCount: featureCount, samplesPerTree: psi, offset: offset, trees: trees)
    }

    private static func append<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out += $0 }
    }

    private struct Reader {
        let bytes: [UInt8]
        var offset = 0
        var remaining: Int { bytes.count - offset }

        mutating func take(_ n: Int) throws -> [UInt8] {
            guard n >= 0, n <= remaining else { throw FormatError(description: "forest artifact is truncated") }
            defer { offset += n }
            return Array(bytes[offset..<(offset + n)])
        }

        mutating func integer<T: FixedWidthInteger>() throws -> T {
            let raw = try take(MemoryLayout<T>.size)
            var value: T = 0
            for (i, b) in raw.enumerated() { value |= T(b) << (8 * i) }
            return value
        }
    }
}
