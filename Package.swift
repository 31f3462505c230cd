// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "battery-inference",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "inference-api", targets: ["inference-api"]),
        .library(name: "Artifacts", targets: ["Artifacts"]),
        .library(name: "AnomalyDetection", targets: ["AnomalyDetection"]),
        .library(name: "Storage", targets: ["Storage"]),
        .library(name: "InferenceAPI", targets: ["InferenceAPI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/vapor/sqlite-nio.git", from: "1.13.2"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.7.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        // SHA-256 for API-key hashes; jwt-kit already builds it.
        .package(url: "https://github.com/apple/swift-crypto.git", "4.1.0"..<"6.0.0"),
        // The server's TLS configuration; HummingbirdTLS already builds it.
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        // Outgoing HTTP: EMS Core, the MLflow tracking server's REST API and artifact proxy (timeouts, TLS, redirects),
        // and the fleet test's load generator (pooled keep-alive connections).
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        // gzip for stored idempotency receipts (a 780 KB detect answer was kept as is for 24 h).
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
        // Settings: the environment, a `.env`-style file and a secrets folder behind one reader
        // (Hummingbird's own ConfigReader support builds on it; no traits: we parse no JSON or YAML).
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.4.0", traits: []),
        // FilePath, which swift-configuration's file providers take.
        .package(url: "https://github.com/apple/swift-system.git", from: "1.8.1"),
        // The Open Inference Protocol over gRPC (GRPC_PORT): the server, its HTTP/2 transport, and
        // the protobuf runtime of the code generated once from Sources/InferenceAPI/GRPC/Protos.
        .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
    ],
    targets: [
        // <xgboost/c_api.h> from Debian's libxgboost-dev (1.7.4); the only C dependency.
        .systemLibrary(
            name: "CXGBoost",
            providers: [.apt(["libxgboost-dev"])]
        ),
        // zlib, for compressed joblib files (`joblib.dump(..., compress=3)`).
        .systemLibrary(
            name: "CZlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        // glibc's <malloc.h> (malloc_trim: the anomaly model cache returns evicted forests' pages).
        .systemLibrary(name: "CMalloc"),
        // Splitting work across cores, the seeded generator, and deadlines on calls to other
        // processes: what Artifacts, ModelSources and AnomalyDetection share without depending
        // on each other.
        .target(name: "ComputeSupport", swiftSettings: swiftSettings),
        // The compiled forest's AVX-512 walk (gathers and two-table permutes Swift cannot
        // express), chosen at run time when the CPU has AVX-512F.
        .target(name: "CForestKernel"),
        .target(
            name: "Artifacts",
            dependencies: [
                "ComputeSupport",
                "CForestKernel",
                "CXGBoost",
                "CZlib",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Where MLflow keeps models besides a file store: its backend database (SQLite,
        // PostgreSQL) and a tracking server (REST + artifact proxy, with a local download cache).
        // Kept apart so Artifacts reads files only and never imports NIO or an HTTP client.
        .target(
            name: "ModelSources",
            dependencies: [
                "Artifacts",
                "ComputeSupport",
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // Detection only: detectors, asset models, feature windows, the episode state machine.
        // Nothing here reads or writes a database.
        .target(
            name: "AnomalyDetection",
            dependencies: [
                "ComputeSupport",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // Everything the service keeps: the database layer (PostgreSQL, SQLite, memory), its
        // migrations, and every store (samples and scores, episodes and the EMS Core outbox,
        // feedback, fleet state, login failures, idempotency receipts, the model audit log).
        .target(
            name: "Storage",
            dependencies: [
                "AnomalyDetection",
                "ComputeSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        // EMS Core, the customer's system: its HTTP client, the outbox deliverer, the metrics pager.
        .target(
            name: "EMSCore",
            dependencies: [
                "Storage",
                "ComputeSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "InferenceAPI",
            dependencies: [
                "Artifacts",
                "CMalloc",
                "ComputeSupport",
                "ModelSources",
                "AnomalyDetection",
                "Storage",
                "EMSCore",
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            exclude: ["GRPC/Protos"],
            resources: [.copy("Resources/openapi.json"), .copy("Resources/web")],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "inference-api",
            dependencies: [
                "InferenceAPI",
                "Artifacts",
                "ModelSources",
                "AnomalyDetection",
                "Storage",
                "ComputeSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ComputeSupportTests",
            dependencies: ["ComputeSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ArtifactsTests",
            dependencies: ["Artifacts", "ComputeSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ModelSourcesTests",
            dependencies: [
                "ModelSources",
                "Artifacts",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AnomalyDetectionTests",
            dependencies: [
                "AnomalyDetection",
                "ComputeSupport",
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "StorageTests",
            dependencies: [
                "Storage",
                "AnomalyDetection",
                "ComputeSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "EMSCoreTests",
            dependencies: [
                "EMSCore",
                "InferenceAPI",
                "AnomalyDetection",
                "Storage",
                "ComputeSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "InferenceAPITests",
            dependencies: [
                "InferenceAPI",
                "Artifacts",
                "ModelSources",
                "AnomalyDetection",
                "Storage",
                "ComputeSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
