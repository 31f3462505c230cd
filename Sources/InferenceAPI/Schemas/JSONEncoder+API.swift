import Foundation

extension JSONEncoder {
    /// The encoder of every `Codable` answer: Foundation's default writes `/` as `\/`, which no
    /// client needs and which makes run URIs and paths in answers harder to read and grep.
    static var api: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }
}
