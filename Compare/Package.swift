// swift-tools-version: 6.1
// Reel side by side with PostgreSQL 15 and SQLite running the relational designs Reel replaces (Compare/README.md).
// Its own package, so the engine's `swift test` never builds it. Run it through `tools/compare` from the repository
// root.
//
// W7 and W8 (HTTP) add SwiftNIO clients to the harness (the load generator, the SSE subscribers) and a second
// executable, `pg-append-service`: the same append route served by Hummingbird over PostgreSQL (postgres-nio). The
// harness builds the repository's own `reel` binary too (`swift build --product reel`) and runs `reel serve`.
import PackageDescription

let package = Package(
    name: "ReelCompare",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Reel", path: ".."),
        .package(name: "ReelFixtures", path: "../Fixtures"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
    ],
    targets: [
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CSQLite3", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .executableTarget(
            name: "reel-compare",
            dependencies: [
                "CLibPQ", "CSQLite3",
                .product(name: "EventStore", package: "Reel"),
                .product(name: "MediaPipeline", package: "Reel"),
                .product(name: "LMDB", package: "Reel"),
                .product(name: "ProductionFixtures", package: "ReelFixtures"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // W7's PostgreSQL side: `POST /v1/events` (one input line, as `reel serve` takes it) answered by the projects
        // design's upsert through a postgres-nio connection pool. Started by reel-compare, which passes its settings.
        .executableTarget(
            name: "pg-append-service",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
