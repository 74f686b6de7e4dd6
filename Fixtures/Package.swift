// swift-tools-version: 6.1
// The seeded production both Benchmarks/ and Compare/ build their data sets from, kept out of Reel's own package so
// that `swift test` never builds it.
import PackageDescription

let package = Package(
    name: "ReelFixtures",
    platforms: [.macOS(.v15)],
    products: [.library(name: "ProductionFixtures", targets: ["ProductionFixtures"])],
    dependencies: [.package(name: "Reel", path: "..")],
    targets: [
        .target(
            name: "ProductionFixtures",
            dependencies: [.product(name: "EventStore", package: "Reel"), .product(name: "MediaPipeline", package: "Reel")]
        )
    ],
    swiftLanguageModes: [.v6]
)
