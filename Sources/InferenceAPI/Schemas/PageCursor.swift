import ComputeSupport
import Foundation
import Storage

/// The opaque `next` cursors of the history routes: base64url of a versioned, `|`-separated
/// keyset position. They carry the query's time range, so following one keeps the range fixed
/// while time moves on. Not signed: a forged cursor can only name a position in the caller's
/// own tenant's rows, and one that does not parse is a 400. Every number is range-checked here
/// (times inside `ISO8601.acceptedMicros`, ids not negative), so what a cursor carries converts
/// and formats without overflow in every store.
enum PageCursor: Equatable {
    /// `GET /anomaly/scores/{asset_id}`: the last row of the page (newest first) and the range.
    case scores(asset: String, since: Int64?, until: Int64?, micros: Int64, id: Int64)
    /// `GET /anomaly/scores`: every asset of the tenant, by id.
    case sync(afterId: Int64)
    /// `GET /anomaly/episodes`: the last episode of the page and the query's filters (`e2`; an
    /// `e1` cursor of an older replica carries none: its filters are the query's).
    case episodes(micros: Int64, id: String, filters: EpisodeFilters?)

    /// What `GET /anomaly/episodes` filters by, carried in its cursor so that the next page is of
    /// the same list.
    struct EpisodeFilters: Equatable {
        var asset: String?
        var state: String?
        var from: Int64?
        var to: Int64?

        /// The query fields of these filters (a later page's query) set to other values than
        /// `carried`'s (its cursor's): an unset field repeats nothing and changes nothing.
        func changed(from carried: EpisodeFilters) -> [String] {
            [
                ("asset_id", asset == nil || asset == carried.asset), ("state", state == nil || state == carried.state),
                ("from", from == nil || from == carried.from), ("to", to == nil || to == carried.to),
            ]
            .compactMap { field, same in same ? nil : field }
        }
    }

    var encoded: String {
        let text: String
        switch self {
        case .scores(let asset, let since, let until, let micros, let id):
            text = ["s1", asset, since.map(String.init) ?? "", until.map(String.init) ?? "", String(micros), String(id)].joined(separator: "|")
        case .sync(let afterId): text = "y1|\(afterId)"
        case .episodes(let micros, let id, nil): text = "e1|\(micros)|\(id)"
        case .episodes(let micros, let id, let f?):
            text = ["e2", String(micros), id, f.asset ?? "", f.state ?? "", f.from.map(String.init) ?? "", f.to.map(String.init) ?? ""]
                .joined(separator: "|")
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
            guard AnomalyRequests.isAssetId(parts[1]), let micros = Self.time(parts[4]), let id = Int64(parts[5]), id >= 0 else { return nil }
            let since = parts[2].isEmpty ? nil : Self.time(parts[2]), until = parts[3].isEmpty ? nil : Self.time(parts[3])
            guard parts[2].isEmpty || since != nil, parts[3].isEmpty || until != nil else { return nil }
            self = .scores(asset: parts[1], since: since, until: until, micros: micros, id: id)
        case "y1" where parts.count == 2:
            guard let id = Int64(parts[1]), id >= 0 else { return nil }
            self = .sync(afterId: id)
        case "e1" where parts.count == 3:
            guard let micros = Self.time(parts[1]), parts[2].hasPrefix("ep_"), parts[2].utf8.count <= 64 else { return nil }
            self = .episodes(micros: micros, id: parts[2], filters: nil)
        case "e2" where parts.count == 7:
            guard let micros = Self.time(parts[1]), parts[2].hasPrefix("ep_"), parts[2].utf8.count <= 64,
                parts[3].isEmpty || AnomalyRequests.isAssetId(parts[3]), ["", "open", "closed"].contains(parts[4])
            else { return nil }
            let from = parts[5].isEmpty ? nil : Self.time(parts[5]), to = parts[6].isEmpty ? nil : Self.time(parts[6])
            guard parts[5].isEmpty || from != nil, parts[6].isEmpty || to != nil else { return nil }
            let filters = EpisodeFilters(
                asset: parts[3].isEmpty ? nil : parts[3], state: parts[4].isEmpty ? nil : parts[4], from: from, to: to)
            self = .episodes(micros: micros, id: parts[2], filters: filters)
        default:
            return nil
        }
    }

    /// A keyset time: whole microseconds inside the accepted years.
    private static func time(_ text: String) -> Int64? {
        guard let micros = Int64(text), ISO8601.acceptedMicros.contains(micros) else { return nil }
        return micros
    }
}
