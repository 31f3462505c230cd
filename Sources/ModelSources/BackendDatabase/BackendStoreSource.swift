import Artifacts
import ComputeSupport
import Foundation
import Logging

/// MLflow's backend database (`sqlite:///mlflow.db`, `postgresql://...`: what `mlflow server
/// --backend-store-uri` and a client with such a tracking URI write), read with SELECTs only,
/// and its artifacts read in place under the artifact root.
///
/// Only tables and columns that MLflow 2.x and 3.x both have are read (experiments, runs, params,
/// latest_metrics, tags, registered_models, model_versions); `registered_model_aliases` (2.3+)
/// and `logged_models` (3.x) are read only when the schema has them.
public final class BackendStoreSource: ModelSource, MLflowCatalog {
    private let reader: any SQLReader
    private let artifacts: ArtifactRoot
    private let tables: Set<String>
    private let timeout: Duration
    public let description: String

    /// Opens `sqlite:///path` or `postgresql://...` with artifacts under `artifactRoot`; every
    /// query answers within `timeout` (a PostgreSQL pool waits for a server that is down without end).
    static func open(reader: any SQLReader, artifactRoot: String, timeout: Duration) async throws -> BackendStoreSource {
        let tables: Set<String>
        do { tables = try await Deadline.run(timeout) { try await reader.tableNames() } } catch {
            await reader.close()
            throw ModelSourceError.unreachable("cannot read \(reader.description): \(String(describing: error).prefix(200))")
        }
        guard tables.isSuperset(of: ["experiments", "runs", "params", "latest_metrics", "tags"]) else {
            await reader.close()
            throw ModelSourceError.configuration("\(reader.description) is not an MLflow backend database (no experiments/runs tables)")
        }
        do {
            return BackendStoreSource(reader: reader, artifacts: try ArtifactRoot(path: artifactRoot), tables: tables, timeout: timeout)
        } catch {
            await reader.close()
            throw error
        }
    }

    private init(reader: any SQLReader, artifacts: ArtifactRoot, tables: Set<String>, timeout: Duration) {
        self.reader = reader
        self.artifacts = artifacts
        self.tables = tables
        self.timeout = timeout
        self.description = "\(reader.description) (artifacts \(artifacts.path))"
    }

    public func close() async { await reader.close() }

    // MARK: - Listing

    public func experiments() async throws -> [Experiment] {
        try await query("SELECT experiment_id, name, lifecycle_stage, creation_time FROM experiments ORDER BY experiment_id", [])
            .map { row in
                Experiment(id: row[0].string ?? "", name: row[1].string ?? "", lifecycleStage: row[2].string ?? "active", creationTime: row[3].double)
            }
    }

    private static let runColumns = """
        SELECT r.run_uuid, r.name, r.experiment_id, e.name, r.status, r.lifecycle_stage, r.start_time, r.end_time, r.artifact_uri
        FROM runs r JOIN experiments e ON e.experiment_id = r.experiment_id
        """

    public func runs(page: PageRequest) async throws -> Page<Run> {
        // Integers are ours, not the client's, so they are written into the SQL (PostgreSQL would
        // not take a text bind for LIMIT).
        let rows = try await query(
            Self.runColumns + """
                 WHERE r.lifecycle_stage = 'active' AND e.lifecycle_stage = 'active'
                ORDER BY r.start_time DESC, r.run_uuid LIMIT \(page.maxResults + 1) OFFSET \(page.offset)
                """, [])
        let runs = try await self.runs(from: rows.prefix(page.maxResults))
        return Page(items: runs, nextToken: rows.count > page.maxResults ? String(page.offset + page.maxResults) : nil)
    }

    public func registeredModels(page: PageRequest) async throws -> Page<RegisteredModel> {
        let names = try await query(
            "SELECT name FROM registered_models ORDER BY name LIMIT \(page.maxResults + 1) OFFSET \(page.offset)", []
        ).compactMap { $0[0].string }
        let shown = Array(names.prefix(page.maxResults))
        guard !shown.isEmpty else { return Page(items: [], nextToken: nil) }
        let list = Self.placeholders(shown.count)
        var versions: [String: [ModelVersion]] = [:]
        for version in try await modelVersions(where: "name IN (\(list))", shown) {
            versions[version.name, default: []].append(version)
        }
        var aliases: [String: [String: Int]] = [:]
        if tables.contains("registered_model_aliases") {
            for row in try await query("SELECT name, alias, version FROM registered_model_aliases WHERE name IN (\(list))", shown) {
                if let name = row[0].string, let alias = row[1].string, let version = row[2].int { aliases[name, default: [:]][alias] = version }
            }
        }
        let models = shown.map { name in
            RegisteredModel(name: name, versions: (versions[name] ?? []).sorted { $0.version < $1.version }, aliases: aliases[name] ?? [:])
        }
        return Page(items: models, nextToken: names.count > page.maxResults ? String(page.offset + page.maxResults) : nil)
    }

    public func servability(of run: Run) async -> Servability? {
        do {
            let location = try await resolveReference(run.id)
            return Servability.check({ location }, runId: run.id)
        } catch {
            return Servability(modelURI: nil, modelFormat: nil, servable: false, reason: "\(error)")
        }
    }

    public func resolve(_ reference: String) async throws -> ModelLocation {
        try await resolveReference(reference)
    }

    // MARK: - Catalog

    func run(id: String) async throws -> Run {
        let rows = try await query(Self.runColumns + " WHERE r.run_uuid = $1", [id])
        guard let run = try await runs(from: rows[...]).first else {
            throw ArtifactError(.notFound, "no run with id \(id) in \(reader.description)")
        }
        return run
    }

    func modelVersion(name: String, version: Int) async throws -> ModelVersion {
        guard let found = try await modelVersions(where: "name = $1 AND version = \(version)", [name]).first else {
            throw ArtifactError(.notFound, "registered model '\(name)' has no version \(version)")
        }
        return found
    }

    public func aliasVersion(model: String, alias: String) async throws -> Int {
        if tables.contains("registered_model_aliases"),
            let version = try await query(
                "SELECT version FROM registered_model_aliases WHERE name = $1 AND alias = $2", [model, alias]
            ).first?[0].int
        {
            return version
        }
        throw ArtifactError(.notFound, "registered model '\(model)' has no alias '\(alias)'")
    }

    private static let loggedModelColumns =
        "SELECT model_id, name, experiment_id, source_run_id, artifact_location, creation_timestamp_ms FROM logged_models"

    func loggedModel(id: String) async throws -> LoggedModelRecord {
        guard tables.contains("logged_models"),
            let model = try await query(Self.loggedModelColumns + " WHERE model_id = $1", [id]).first.map(Self.loggedModel)
        else { throw ArtifactError(.notFound, "no logged model with id \(id)") }
        return model
    }

    func loggedModels(ofRun run: Run) async throws -> [LoggedModelRecord] {
        guard tables.contains("logged_models") else { return [] }
        return try await query(
            Self.loggedModelColumns + " WHERE source_run_id = $1 AND lifecycle_stage = 'active' ORDER BY creation_timestamp_ms DESC", [run.id]
        ).map(Self.loggedModel)
    }

    func localArtifacts(of run: Run) async throws -> LocalFolder? {
        let location = try await experimentLocation(of: "runs", idColumn: "run_uuid", id: run.id)
        return artifacts.folder(
            recorded: run.recordedArtifactURI, experimentLocation: location, experimentId: run.experimentId, entityId: run.id, kind: .run
        ).map { LocalFolder(path: $0, root: artifacts.path) }
    }

    func localArtifacts(of model: LoggedModelRecord) async throws -> LocalFolder {
        let location = try await experimentLocation(of: "logged_models", idColumn: "model_id", id: model.id)
        guard let folder = artifacts.folder(
            recorded: model.artifactLocation, experimentLocation: location, experimentId: model.experimentId, entityId: model.id,
            kind: .loggedModel)
        else {
            throw ArtifactError(
                .notFound, "logged model \(model.id): no artifacts under \(artifacts.path) (recorded at \(model.artifactLocation ?? "?"))")
        }
        return LocalFolder(path: folder, root: artifacts.path)
    }

    /// The recorded `artifact_location` of the experiment that holds the row of `table` whose
    /// `idColumn` is `id`: the root its runs' and logged models' locations are rebased from.
    private func experimentLocation(of table: String, idColumn: String, id: String) async throws -> String? {
        try await query(
            "SELECT e.artifact_location FROM \(table) t JOIN experiments e ON e.experiment_id = t.experiment_id WHERE t.\(idColumn) = $1", [id]
        ).first?[0].string
    }

    // MARK: - Rows

    private static func loggedModel(_ row: [SQLValue]) -> LoggedModelRecord {
        LoggedModelRecord(
            id: row[0].string ?? "", name: row[1].string, experimentId: row[2].string ?? "", sourceRunId: row[3].string,
            artifactLocation: row[4].string, creationTime: row[5].double ?? 0)
    }

    private func modelVersions(where condition: String, _ binds: [String]) async throws -> [ModelVersion] {
        try await query(
            "SELECT name, version, run_id, source, current_stage, status FROM model_versions WHERE \(condition) ORDER BY name, version", binds
        ).compactMap { row in
            guard let name = row[0].string, let version = row[1].int, row[4].string != "Deleted_Internal" else { return nil }
            let source = row[3].string
            return ModelVersion(
                name: name, version: version, runId: row[2].string, source: source,
                modelId: source.flatMap { $0.hasPrefix("models:/m-") ? String($0.dropFirst("models:/".count)) : nil },
                stage: row[4].string, status: row[5].string)
        }
    }

    /// Runs from `runColumns` rows, with their params, latest metrics and tags (three queries).
    private func runs(from rows: ArraySlice<[SQLValue]>) async throws -> [Run] {
        let ids = rows.compactMap { $0[0].string }
        guard !ids.isEmpty else { return [] }
        let list = Self.placeholders(ids.count)
        var params: [String: [String: String]] = [:]
        var tags: [String: [String: String]] = [:]
        var metrics: [String: [String: Metric]] = [:]
        for row in try await query("SELECT run_uuid, key, value FROM params WHERE run_uuid IN (\(list))", ids) {
            if let id = row[0].string, let key = row[1].string { params[id, default: [:]][key] = row[2].string ?? "" }
        }
        for row in try await query("SELECT run_uuid, key, value FROM tags WHERE run_uuid IN (\(list))", ids) {
            if let id = row[0].string, let key = row[1].string { tags[id, default: [:]][key] = row[2].string ?? "" }
        }
        for row in try await query("SELECT run_uuid, key, value, timestamp, step FROM latest_metrics WHERE run_uuid IN (\(list))", ids) {
            if let id = row[0].string, let key = row[1].string, let value = row[2].double {
                metrics[id, default: [:]][key] = Metric(
                    value: value, timestamp: Int64(row[3].int ?? 0), step: Int64(row[4].int ?? 0))
            }
        }
        return rows.map { row in
            let id = row[0].string ?? ""
            return Run(
                id: id, name: row[1].string ?? tags[id]?["mlflow.runName"], experimentId: row[2].string ?? "",
                experimentName: row[3].string ?? "", status: Run.statusName(row[4].string), lifecycleStage: row[5].string ?? "active",
                startTime: row[6].double, endTime: row[7].double, recordedArtifactURI: row[8].string,
                directory: URL(fileURLWithPath: artifacts.path, isDirectory: true), artifactsDirectory: nil,
                params: params[id] ?? [:], metrics: metrics[id] ?? [:], tags: tags[id] ?? [:])
        }
    }

    private static func placeholders(_ count: Int) -> String {
        (1...max(count, 1)).map { "$\($0)" }.joined(separator: ", ")
    }

    /// Every query goes through here: driver errors become `ModelSourceError.unreachable` with no SQL in them.
    private func query(_ sql: String, _ binds: [String]) async throws -> [[SQLValue]] {
        let reader = self.reader
        do {
            return try await Deadline.run(timeout) { try await reader.rows(sql, binds) }
        } catch is DeadlineExceeded {
            throw ModelSourceError.unreachable("\(reader.description) gave no answer within \(timeout)")
        } catch {
            throw ModelSourceError.unreachable("cannot read \(reader.description): \(String(describing: error).prefix(200))")
        }
    }
}
