import Foundation
import LMDB
import Testing
@testable import EventStore

/// A fresh directory under the system temp dir, removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init(_ name: String = "store") {
        path = FileManager.default.temporaryDirectory
            .appendingPathComponent("reel-tests-\(UUID().uuidString.prefix(8))-\(name)").path
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// Opens a store in its own temporary directory, runs `body`, then checks the store's invariants — gapless positions
/// and versions, the hash chain, the indexes, and every projection equal to a fold from scratch — and removes it.
func withStore<R>(
    projections: [any Projection] = [EventTypeIndex()],
    options: StoreOptions = StoreOptions(),
    _ body: (Store, TemporaryDirectory) async throws -> R
) async throws -> R {
    let directory = TemporaryDirectory()
    defer { directory.remove() }
    let store = try Store.open(at: directory.path, projections: projections, options: options)
    let result = try await body(store, directory)
    try expectSound(store)
    try store.close()
    return result
}

/// The invariant check every test ends with.
func expectSound(_ store: Store, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let problems = try store.verify() + store.verifyProjections()
    #expect(problems.isEmpty, "integrity problems: \(problems)", sourceLocation: sourceLocation)
}

/// An event of about `size` payload bytes.
func sampleEvent(stream: String, type: String = "sample.happened", size: Int = 64, id: UUID = UUID()) -> NewEvent {
    let text = "{\"stream\":\"\(stream)\",\"pad\":\"" + String(repeating: "x", count: max(0, size - stream.count - 22)) + "\"}"
    return NewEvent(id: id, stream: stream, type: type, payload: Array(text.utf8), metadata: EventMetadata(actor: "test"))
}

/// Counts events per type; rejects any event whose type is `reject.me`, before writing anything; and rejects
/// `reject.late` only after writing, to drive the group's restart path.
struct RejectingCounter: Projection {
    struct Rejected: Error, Equatable { let position: UInt64 }

    let name = "counter"
    let version: UInt32 = 1
    let databases = [ProjectionDatabase("counts")]
    var slowType: String? = nil

    func apply(_ event: RecordedEvent, _ txn: borrowing Transaction, _ databases: ProjectionDatabases) throws {
        if event.type == "reject.me" { throw Rejected(position: event.position) }
        if event.type == slowType { Thread.sleep(forTimeInterval: 0.3) }
        let key = Array(event.type.utf8)
        let count = try txn.get(databases["counts"], key).flatMap { bytes in bytes.withUnsafeBytes { BigEndian.u64($0) } } ?? 0
        try txn.put(databases["counts"], key, BigEndian.bytes(count + 1))
        if event.type == "reject.late" { throw Rejected(position: event.position) }
    }

    static func count(_ type: String, in store: Store) throws -> UInt64 {
        try store.read { snapshot in
            try snapshot.query("counter") { txn, databases in
                try txn.get(databases["counts"], Array(type.utf8)).flatMap { bytes in bytes.withUnsafeBytes { BigEndian.u64($0) } } ?? 0
            }
        }
    }
}

/// The path of an executable built next to the test bundle.
func builtExecutable(_ name: String) -> String {
    var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    // On Linux the tests run as `.build/<config>/<Package>PackageTests.xctest`.
    if directory.lastPathComponent.hasSuffix(".xctest") { directory.deleteLastPathComponent() }
    return directory.appendingPathComponent(name).path
}

/// The outcome of an async throwing call, as a value.
func outcome<T: Sendable>(_ body: () async throws -> T) async -> Result<T, any Error> {
    do { return .success(try await body()) } catch { return .failure(error) }
}

/// Runs `reel-test-driver append STORE COUNT PREFIX BATCH` — another process appending `count` events through the
/// engine with the event-type index only, its map opened at the default 1 GiB — and returns its exit status.
func driverAppend(_ store: String, count: Int, prefix: String, batch: Int) throws -> Int32 {
    let driver = Process()
    driver.executableURL = URL(fileURLWithPath: builtExecutable("reel-test-driver"))
    driver.arguments = ["append", store, String(count), prefix, String(batch)]
    driver.standardOutput = FileHandle.nullDevice
    try driver.run()
    driver.waitUntilExit()
    return driver.terminationStatus
}
