import Foundation

/// The asset model's stored form: the calibration travels in the artifact with the forest, so
/// whatever stores the forest's bytes stores it too, and a model scores the same wherever read.
///
/// ```
/// "ASMD" u16 version=1 | u32 headerLength | header JSON (metrics, window, calibration) | forest ("IFOR" ...)
/// ```
/// A bare forest ("IFOR", written before calibration) still reads, as an uncalibrated model.
extension AssetModel {
    public static let formatVersion: UInt16 = 1

    private struct Header: Codable {
        let metrics: [String]
        let window: Int
        let calibration: AssetCalibration
    }

    public func serialized() -> [UInt8] {
        guard let calibration else { return forest.serialized() }
        let header = (try? JSONEncoder().encode(Header(metrics: metrics, window: window.window, calibration: calibration))).map { [UInt8]($0) } ?? []
        var out: [UInt8] = Array("ASMD".utf8)
        withUnsafeBytes(of: Self.formatVersion.littleEndian) { out += $0 }
        withUnsafeBytes(of: UInt32(header.count).littleEndian) { out += $0 }
        return out + header + forest.serialized()
    }

    /// Reads an artifact; `metrics` and `window` describe a bare forest (the stored parameters).
    public init(serialized bytes: [UInt8], metrics: [String], window: Int) throws {
        guard bytes.starts(with: Array("ASMD".utf8)) else {
            self.init(metrics: metrics, window: FeatureWindow(metrics: metrics, window: window), forest: try IsolationForest(serialized: bytes), calibration: nil)
            return
        }
        guard bytes.count >= 10 else { throw IsolationForest.FormatError(description: "asset model artifact is truncated") }
        let version = UInt16(bytes[4]) | UInt16(bytes[5]) << 8
        guard version == Self.formatVersion else { throw IsolationForest.FormatError(description: "unsupported asset model format version \(version)") }
        let length = (6..<10).reduce(0) { $0 | Int(bytes[$1]) << (8 * ($1 - 6)) }
        guard length <= bytes.count - 10 else { throw IsolationForest.FormatError(description: "asset model artifact is truncated") }
        guard let header = try? JSONDecoder().decode(Header.self, from: Data(bytes[10..<(10 + length)])) else {
            throw IsolationForest.FormatError(description: "asset model header is unreadable")
        }
        let forest = try IsolationForest(serialized: Array(bytes[(10 + length)...]))
        let count = header.metrics.count, c = header.calibration
        let window = FeatureWindow(metrics: header.metrics, window: header.window)
        guard c.profile.levels.count == count, c.profile.scales.count == count, c.residual.count == count, c.level.count == count,
            c.repeatChance.count == count, c.profile.slots >= 1, c.profile.levels.allSatisfy({ $0.count == c.profile.slots }), c.profile.logFloors.map({ $0.count == count }) ?? true,
            forest.featureCount == window.featureCount
        else { throw IsolationForest.FormatError(description: "asset model header does not match its forest") }
        self.init(metrics: header.metrics, window: window, forest: forest, calibration: c)
    }
}
