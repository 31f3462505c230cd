import AnomalyDetection
import Foundation

/// The opaque `next` cursors of the history routes: base64url of a versioned, `|`-separated
/// keyset position. They carry the query's time range, so following one keeps the range fixed
/// while time moves on. Not signed: a forged cursor can only name a position in the caller's
/// own tenant's rows, and one that does not parse is a 400.
enum PageCursor: Equatable {
    /// `GET /anomaly/scores/{asset_id}`: the last row of the page (newest first) and the range.
    case scores(asset: String, since: Int64?, until: Int64?, micros: Int64, id: Int64)
    /// `GET /anomaly/scores`: every asset of the tenant, by id.
    case sync(afterId: Int64)
    /// `GET /anomaly/episodes`: the last episode of the page.
    case episodes(micros: Int64, id: String)

    var encoded: String {
        let text: String
        switch self {
        case .scores(let asset, let since, let until, let micros, let id):
            text = ["s1", asset, since.map(String.init) ?? "", until.map(String.init) ?? "", String(micros), String(id)].joined(separator: "|")
        case .sync(let afterId): text = "y1|\(afterId)"
        case .episodes(let micros, let id): text = "e1|\(micros)|\(id)"
        }
        return Data(text.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    init?(_ encoded: String) {
        guard encoded.count <= 512 else { return nil }
        var base64 = encoded.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64), let text = String(data: data, encoding: .utf8) else { return nil }
        let parts = text.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        switch parts.first {
        case "s1" where parts.count == 6:
            guard AnomalyRequests.isAssetId(parts[1]), let micros = Int64(parts[4]), let id = Int64(parts[5]) else { return nil }
            let since = parts[2].isEmpty ? nil : Int64(parts[2]), until = parts[3].isEmpty ? nil : Int64(parts[3])
            guard parts[2].isEmpty || since != nil, parts[3].isEmpty || until != nil else { return nil }
            self = .scores(asset: parts[1], since: since, until: until, micros: micros, id: id)
        case "y1" where parts.count == 2:
            guard let id = Int64(parts[1]), id >= 0 else { return nil }
            self = .sync(afterId: id)
        case "e1" where parts.count == 3:
            guard let micros = Int64(parts[1]), parts[2].hasPrefix("ep_"), parts[2].count <= 64 else { return nil }
            self = .episodes(micros: micros, id: parts[2])
        default:
            return nil
        }
    }
}
