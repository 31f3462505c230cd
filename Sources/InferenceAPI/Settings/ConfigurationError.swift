/// A configuration variable with a bad value; `description` is the one line start-up prints.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public let variable: String
    public let message: String
    /// One line naming the variable once, whether or not `message` already starts with it.
    public var description: String {
        message.hasPrefix(variable) ? "configuration error: \(message)" : "configuration error: \(variable) \(message)"
    }
}
