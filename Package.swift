// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Reel",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "EventStore", targets: ["EventStore"]),
        .library(name: "LMDB", targets: ["LMDB"]),
        .library(name: "MediaPipeline", targets: ["MediaPipeline"]),
        .library(name: "ReelCluster", targets: ["ReelCluster"]),
        .library(name: "ReelServer", targets: ["ReelServer"]),
        .executable(name: "reel", targets: ["reel"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // The documentation (`tools/docs`: `swift package generate-documentation`); no target depends on it.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
        // The HTTP service (`reel serve`, Sources/ReelServer) and what it reports through. The engine does not use them.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        // The cluster's log of record in PostgreSQL (Sources/ReelCluster).
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CLMDB",
            pkgConfig: "lmdb",
            providers: [.apt(["liblmdb-dev"])]
        ),
        .target(name: "LMDB", dependencies: ["CLMDB"]),
        .target(
            name: "EventStore",
            dependencies: ["LMDB", .product(name: "Crypto", package: "swift-crypto")]
        ),
        // A cluster's log of record in PostgreSQL, beneath the engine's LogOfRecord: the engine and an embedded single
        // store do not depend on it.
        .target(
            name: "ReelCluster",
            dependencies: [
                "EventStore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "MediaPipeline", dependencies: ["EventStore", "LMDB"]),
        // `reel serve`: the store as an HTTP service. Depends on the modules above, never the other way round.
        .target(
            name: "ReelServer",
            dependencies: [
                "EventStore", "MediaPipeline",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "reel",
            dependencies: [
                "LMDB", "EventStore", "MediaPipeline", "ReelCluster", "ReelServer", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The README's embedding example, built with the package so that it always compiles (`swift run reel-example`).
        .executableTarget(name: "reel-example", dependencies: ["EventStore", "MediaPipeline"], path: "Examples/Embedding"),
        // A small program the tests start as a real second process (multi-process appends, snapshot checks, soak runs).
        .executableTarget(name: "reel-test-driver", dependencies: ["LMDB", "EventStore", "MediaPipeline"], path: "Tests/Driver"),
        // A PostgreSQL 15 server of a test's own, for the cluster's tests (in-process and end to end).
        .target(name: "PostgresFixture", path: "Tests/PostgresFixture"),
        .testTarget(name: "LMDBTests", dependencies: ["LMDB"]),
        .testTarget(name: "EventStoreTests", dependencies: ["EventStore", "LMDB", "reel-test-driver"]),
        .testTarget(name: "MediaPipelineTests", dependencies: ["MediaPipeline", "EventStore", "LMDB"]),
        .testTarget(
            name: "ReelClusterTests",
            dependencies: ["ReelCluster", "MediaPipeline", "EventStore", "PostgresFixture", .product(name: "PostgresNIO", package: "postgres-nio")]
        ),
        // End-to-end tests of the built `reel` binary, run as a real process.
        // (MediaPipeline: to compare the library's answers with what the command prints.)
        .testTarget(
            name: "ReelTests",
            dependencies: ["reel", "reel-test-driver", "reel-example", "MediaPipeline", "PostgresFixture", .product(name: "Crypto", package: "swift-crypto")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
