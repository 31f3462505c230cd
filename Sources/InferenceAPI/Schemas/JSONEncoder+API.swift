import Foundation

extension JSONEncoder {
    /// The encoder of every `Codable` answer: Foundation's default writes `/` as `\/`, which no
    /// client needs and which makes run URIs and paths in answers harder to read and grep; and
    /// its key order varies from one encoding to the next, so keys are sorted: an idempotent
    /// replay is the first answer byte for byte, and two replicas answer alike.
    static var api: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return encoder
    }
}
