// swift-tools-version: 6.1
// Reel side by side with PostgreSQL 15 and SQLite running the relational designs Reel replaces (Compare/README.md).
// Its own package, so the engine's `swift test` never builds it. Run it through `tools/compare` from the repository
// root.
import PackageDescription

let package = Package(
    name: "ReelCompare",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Reel", path: ".."),
        .package(name: "ReelFixtures", path: "../Fixtures"),
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
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
