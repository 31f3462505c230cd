import Configuration
import Foundation
import SystemPackage

/// Reads settings through swift-configuration: the environment first, then the `.env`-style file
/// `CONFIG_FILE` names, then the folder `SECRETS_DIR` names (one file per variable, as a
/// Kubernetes secret volume mounts them). An empty value counts as unset; surrounding whitespace
/// and newlines are dropped.
///
/// The checks stay ours: each value is parsed and range-checked here, and a bad one is one
/// `ConfigurationError` naming the variable (swift-configuration's typed getters would return the
/// default, or throw without the variable's rule).
struct SettingsReader {
    /// What a read applied when the variable was unset, for `SettingsCatalogTests`.
    enum AppliedDefault: Equatable, Sendable {
        case unset
        case text(String)
        case number(Double)
        case flag(Bool)
    }

    /// Every variable read and the default it would get.
    final class Log {
        var defaults: [String: AppliedDefault] = [:]
    }

    private let config: ConfigReader
    private let log: Log?

    init(providers: [any ConfigProvider], log: Log? = nil) {
        config = ConfigReader(providers: providers)
        self.log = log
    }

    /// The environment only (what tests and `Configuration(environment:)` use).
    init(environment: [String: String], log: Log? = nil) {
        self.init(providers: [Self.environmentProvider(environment)], log: log)
    }

    /// The declared variables of `environment`, by their exact names: the provider looks names up
    /// case-insensitively, and a stray `port=1` must not set `PORT` (it never did).
    static func environmentProvider(_ environment: [String: String]) -> EnvironmentVariablesProvider {
        EnvironmentVariablesProvider(
            environmentVariables: environment.filter { SettingsCatalog.byName[$0.key] != nil },
            secretsSpecifier: .dynamic { key, _ in SettingsCatalog.byName[key]?.secret ?? false })
    }

    /// The environment, then `CONFIG_FILE` and `SECRETS_DIR` when the environment names them.
    static func fromEnvironmentAndFiles(_ environment: [String: String], log: Log? = nil) async throws -> SettingsReader {
        let bare = SettingsReader(environment: environment, log: log)
        var providers: [any ConfigProvider] = [environmentProvider(environment)]
        if let path = bare.string("CONFIG_FILE") {
            do {
                providers.append(
                    try await EnvironmentVariablesProvider(
                        environmentFilePath: FilePath(path), secretsSpecifier: .dynamic { key, _ in SettingsCatalog.byName[key]?.secret ?? false }))
            } catch {
                throw ConfigurationError(variable: "CONFIG_FILE", message: "cannot be read (\(path)): \(error)")
            }
        }
        if let path = bare.string("SECRETS_DIR") {
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue else {
                throw ConfigurationError(variable: "SECRETS_DIR", message: "is not a folder (\(path))")
            }
            do {
                providers.append(try await DirectoryFilesProvider(directoryPath: FilePath(path)))
            } catch {
                throw ConfigurationError(variable: "SECRETS_DIR", message: "cannot be read (\(path)): \(error)")
            }
        }
        return SettingsReader(providers: providers, log: log)
    }

    func string(_ name: String) -> String? {
        record(name, .unset)
        return value(name)
    }

    func string(_ name: String, default value: String) -> String {
        record(name, .text(value))
        return self.value(name) ?? value
    }

    /// `on`/`true`/`1`/`yes` or `off`/`false`/`0`/`no`; `words` is how the error names them.
    func flag(_ name: String, default value: Bool, words: String = "on or off") throws -> Bool {
        record(name, .flag(value))
        guard let text = self.value(name) else { return value }
        guard let on = Self.flag(text) else { throw ConfigurationError(variable: name, message: "must be \(words) (got '\(text)')") }
        return on
    }

    static func flag(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "on", "true", "1", "yes": true
        case "off", "false", "0", "no": false
        default: nil
        }
    }

    /// One of an enumeration's raw values, case-insensitively.
    func choice<T: RawRepresentable & CaseIterable>(_ name: String, default value: T) throws -> T where T.RawValue == String {
        record(name, .text(value.rawValue))
        guard let text = self.value(name) else { return value }
        guard let chosen = T(rawValue: text.lowercased()) else {
            throw ConfigurationError(variable: name, message: "must be one of \(T.allCases.map(\.rawValue).joined(separator: ", ")) (got '\(text)')")
        }
        return chosen
    }

    func int(_ name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        record(name, .number(Double(value)))
        guard let text = self.value(name) else { return value }
        guard let v = Int(text), range.contains(v) else {
            throw ConfigurationError(variable: name, message: "must be a whole number in \(range.lowerBound)...\(range.upperBound) (got '\(text)')")
        }
        return v
    }

    func double(_ name: String, default value: Double, range: ClosedRange<Double>) throws -> Double {
        record(name, .number(value))
        guard let text = self.value(name) else { return value }
        guard let v = Double(text), v.isFinite, range.contains(v) else {
            throw ConfigurationError(variable: name, message: "must be a number in \(range.lowerBound)...\(range.upperBound) (got '\(text)')")
        }
        return v
    }

    private func value(_ name: String) -> String? {
        let secret = SettingsCatalog.byName[name]?.secret ?? false
        guard let v = config.string(forKey: ConfigKey([name]), isSecret: secret)?.trimmingCharacters(in: .whitespacesAndNewlines), !v.isEmpty
        else { return nil }
        return v
    }

    private func record(_ name: String, _ applied: AppliedDefault) {
        assert(SettingsCatalog.byName[name] != nil, "\(name) is not declared in SettingsCatalog")
        log?.defaults[name] = applied
    }
}
