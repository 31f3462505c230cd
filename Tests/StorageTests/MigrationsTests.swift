import Storage
import Testing

/// The same expectations against both back ends.
@Suite("Migrations")
struct MigrationsTests {
    static let everyVersion = Migrations.all.map(\.version)

    static func checkMigrations(_ store: some StoreDatabase) async throws {
        #expect(try await store.migrate() == everyVersion, "first start-up applies every migration")
        #expect(try await store.migrate() == [], "a second start-up applies nothing")
        #expect(try await Introspection.appliedMigrations(store) == everyVersion)
        for (table, expected) in Migrations.expectedColumns {
            #expect(try await Introspection.columns(store, of: table) == expected, "\(store.backend): columns of \(table)")
        }
        try await store.ping()
    }

    @Test func testSQLiteMigrationsAreIdempotentAndCreateTheDesignedTables() async throws {
        try await TestDatabases.withSQLite { try await Self.checkMigrations($0) }
    }

    @Test(.enabled(if: TestDatabases.postgresEnabled, TestDatabases.skipReason))
    func testPostgresMigrationsAreIdempotentAndCreateTheDesignedTables() async throws {
        try await TestDatabases.withPostgres { try await Self.checkMigrations($0) }
    }

    @Test(.enabled(if: TestDatabases.postgresEnabled, TestDatabases.skipReason))
    func testConcurrentPostgresStartupsApplyEachMigrationOnce() async throws {
        try await TestDatabases.withPostgres { store in
            let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
                for _ in 0..<4 { group.addTask { try await store.migrate() } }
                return try await group.reduce(into: [Int]()) { $0 += $1 }
            }
            #expect(applied.sorted() == Self.everyVersion)
            #expect(try await Introspection.appliedMigrations(store) == Self.everyVersion)
        }
    }
}
