import Foundation
import Testing

@testable import InferenceAPI

/// The settings are declared once (`SettingsCatalog`): the code reads exactly those variables
/// with exactly those defaults, and the README's tables document the same.
@Suite("Settings catalog")
struct SettingsCatalogTests {
    static let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("README.md")

    /// Whether what a read applied when unset is the declared default.
    static func agrees(_ applied: SettingsReader.AppliedDefault, _ declared: String?) -> Bool {
        switch applied {
        case .unset: declared == nil
        case .text(let text): declared == text
        case .number(let number): declared.flatMap(Double.init) == number
        case .flag(let on): declared.flatMap(SettingsReader.flag) == on
        }
    }

    @Test func testConfigurationReadsEveryDeclaredVariableWithItsDeclaredDefault() async throws {
        let log = SettingsReader.Log()
        // EMS Core's bounds are read only when the integration is on.
        let reader = try await SettingsReader.fromEnvironmentAndFiles(["EMS_CORE_URL": "http://127.0.0.1:9"], log: log)
        _ = try Configuration(reader: reader)
        let declared = Set(SettingsCatalog.variables.map(\.name))
        #expect(SettingsCatalog.variables.count == declared.count, "a variable is declared twice")
        #expect(Set(log.defaults.keys).subtracting(declared).isEmpty, "read but not declared")
        #expect(declared.subtracting(log.defaults.keys).sorted() == [], "declared but never read")
        for variable in SettingsCatalog.variables {
            guard let applied = log.defaults[variable.name] else { continue }
            #expect(Self.agrees(applied, variable.value), "\(variable.name): the code applies \(applied), the catalog says \(variable.value ?? "unset")")
        }
    }

    /// The README's settings tables: every row's variables, and its default per variable
    /// (`a` / `b` when a row names two, backticks and a trailing `(...)` dropped).
    static func documentedDefaults() throws -> [(name: String, documented: String)] {
        let text = try String(contentsOf: readme, encoding: .utf8)
        var rows: [(String, String)] = []
        var inTable = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("| variable | default |") {
                inTable = true
                continue
            }
            guard inTable, line.hasPrefix("|") else {
                inTable = false
                continue
            }
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 4, !cells[1].hasPrefix("---") else { continue }
            let names = cells[1].split(separator: "`", omittingEmptySubsequences: false).enumerated().filter { $0.offset % 2 == 1 }.map { String($0.element) }
            var defaults = cells[2].components(separatedBy: " / ").map { cell -> String in
                var value = cell.replacingOccurrences(of: "`", with: "")
                if let open = value.range(of: " (") { value = String(value[..<open.lowerBound]) }
                return value.trimmingCharacters(in: .whitespaces)
            }
            if defaults.count == 1 { defaults = Array(repeating: defaults[0], count: names.count) }
            #expect(defaults.count == names.count, "README row \(cells[1]): \(names.count) variables, \(defaults.count) defaults")
            for (name, value) in zip(names, defaults) { rows.append((name, value)) }
        }
        return rows
    }

    @Test func testREADMEDocumentsEveryDeclaredVariableWithItsDefault() throws {
        let rows = try Self.documentedDefaults()
        let documented = Dictionary(rows.map { ($0.name, $0.documented) }, uniquingKeysWith: { first, _ in first })
        #expect(documented.count == rows.count, "a variable has two README rows")
        let declared = Set(SettingsCatalog.variables.map(\.name))
        #expect(Set(documented.keys).subtracting(declared).sorted() == [], "in the README, not declared")
        #expect(declared.subtracting(documented.keys).sorted() == [], "declared, not in the README")
        for variable in SettingsCatalog.variables {
            guard let shown = documented[variable.name] else { continue }
            #expect(shown == variable.documented, "\(variable.name): README says \(shown), the catalog \(variable.documented)")
        }
    }

    /// The environment comes first, then `CONFIG_FILE`, then `SECRETS_DIR` (a file per variable,
    /// newline-terminated as `echo` writes it).
    @Test func testSettingsFileAndSecretsFolderFillWhatTheEnvironmentLeaves() async throws {
        let folder = try TestApp.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let secrets = folder.appendingPathComponent("secrets")
        try FileManager.default.createDirectory(at: secrets, withIntermediateDirectories: true)
        let file = folder.appendingPathComponent("inference.env")
        try "# settings\nPORT=9090\nLOG_LEVEL=debug\nJWT_EXPIRES_IN=120\n".write(to: file, atomically: true, encoding: .utf8)
        let secret = String(repeating: "k", count: 40)
        try "\(secret)\n".write(to: secrets.appendingPathComponent("JWT_SECRET"), atomically: true, encoding: .utf8)
        try "120\n".write(to: secrets.appendingPathComponent("JWT_EXPIRES_IN"), atomically: true, encoding: .utf8)
        // `port` in lower case is not `PORT` (the environment's names are exact, as they always were).
        let configuration = try await Configuration.load(environment: ["CONFIG_FILE": file.path, "SECRETS_DIR": secrets.path, "PORT": "8081", "port": "1"])
        #expect(configuration.port == 8081, "the environment wins over the file, and `port` is not `PORT`")
        #expect(try Configuration(environment: ["port": "1"]).port == 8080, "only exact names are read")
        #expect(configuration.logLevel == .debug, "the file fills what the environment leaves")
        #expect(configuration.jwtSecret == secret, "a secret file, its newline dropped")
        #expect(configuration.tokenLifetimeSeconds == 120)

        // A bad value in a file is refused naming the variable, as in the environment.
        try "PORT=http\n".write(to: file, atomically: true, encoding: .utf8)
        do {
            _ = try await Configuration.load(environment: ["CONFIG_FILE": file.path])
            Issue.record("PORT=http in the file was accepted")
        } catch let error as ConfigurationError {
            #expect(error.variable == "PORT" && error.description.contains("got 'http'"), "\(error)")
        }
        for (variable, path) in [("CONFIG_FILE", folder.appendingPathComponent("missing.env").path), ("SECRETS_DIR", file.path)] {
            do {
                _ = try await Configuration.load(environment: [variable: path])
                Issue.record("\(variable)=\(path) was accepted")
            } catch let error as ConfigurationError {
                #expect(error.variable == variable, "\(error)")
            }
        }
    }
}
