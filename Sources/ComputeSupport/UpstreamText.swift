/// What an upstream service (EMS Core, a tracking server) said, made fit to repeat in an answer,
/// a log line or a parked message's reason: its bodies are not ours to echo whole. Control
/// characters (newlines, escapes, NUL) become spaces, runs of whitespace one space, and the text is
/// cut at `limit` characters with an ellipsis. Hand-written: a dozen lines over the standard
/// library's `Character` properties, where a package would bring a whole text toolkit.
public enum UpstreamText {
    public static let defaultLimit = 200

    public static func excerpt(_ text: some StringProtocol, limit: Int = defaultLimit) -> String {
        var out = ""
        out.reserveCapacity(min(text.utf8.count, limit + 3))
        var count = 0
        var pendingSpace = false
        for character in text {
            let blank = character.isWhitespace || character.unicodeScalars.contains { $0.properties.generalCategory == .control || $0.properties.generalCategory == .format }
            if blank {
                pendingSpace = count > 0
                continue
            }
            if pendingSpace {
                guard count + 1 < limit else { return out + "…" }
                out.append(" ")
                count += 1
                pendingSpace = false
            }
            guard count < limit else { return out + "…" }
            out.append(character)
            count += 1
        }
        return out
    }
}
