import EventStore
import Foundation
import Testing

/// The unfinished-import marker: a store an import fills is refused by every other open until the import's last
/// commit, and an import starts over on it by itself.
@Suite("Unfinished imports")
struct ImportMarkerTests {
    /// `count` events appended to a scratch store and read back as an export carries them.
    static func exported(_ count: Int) async throws -> [ExportedEvent] {
        let directory = TemporaryDirectory("source")
        defer { directory.remove() }
        let store = try Store.open(at: directory.path, projections: [EventTypeIndex()])
        for i in 0..<count { try await store.append(sampleEvent(stream: "s-\(i % 5)", type: i.isMultiple(of: 2) ? "even" : "odd")) }
        let events = try store.events(from: 1, limit: count)
        try expectSound(store)
        try store.close()
        return events.map {
            ExportedEvent(
                position: $0.position, stream: $0.stream, version: $0.version, id: $0.id, type: $0.type,
                recordedAtMilliseconds: $0.recordedAtMilliseconds, payload: $0.payload, metadata: $0.metadata, hash: $0.hash)
        }
    }

    static func options(importing: Bool = false, readOnly: Bool = false) -> StoreOptions {
        var options = StoreOptions()
        options.importing = importing
        options.readOnly = readOnly
        return options
    }

    /// Opening without ``StoreOptions/importing`` fails with `importUnfinished` naming the path and the export.
    static func expectRefused(_ path: String, source: String, sourceLocation: SourceLocation = #_sourceLocation) {
        for readOnly in [true, false] {
            #expect(throws: EventStoreError.importUnfinished(path: path, source: source), "read-only: \(readOnly)", sourceLocation: sourceLocation) {
                try Store.open(at: path, projections: [EventTypeIndex()], options: options(readOnly: readOnly))
            }
        }
    }

    @Test("a store an import creates carries the marker from its first commit; until finishImport every other open fails; an import's open starts over")
    func markerFromFirstCommitToLast() async throws {
        let events = try await Self.exported(300)
        let directory = TemporaryDirectory()
        defer { directory.remove() }

        // Created for an import, before anything is restored: marked already.
        var store = try Store.open(at: directory.path, projections: [EventTypeIndex()], options: Self.options(importing: true))
        #expect(try store.importUnfinished())
        try store.close()
        Self.expectRefused(directory.path, source: "")

        // Begun, half restored, then given up without finishing (as a killed import): refused, naming the export.
        store = try Store.open(at: directory.path, projections: [EventTypeIndex()], options: Self.options(importing: true))
        try store.beginImport(source: "/exports/one.ndjson")
        try store.restore(Array(events.prefix(120)))
        try store.close()
        Self.expectRefused(directory.path, source: "/exports/one.ndjson")
        let message = "\(EventStoreError.importUnfinished(path: directory.path, source: "/exports/one.ndjson"))"
        #expect(message.contains("the import into \(directory.path) did not finish"), "\(message)")
        #expect(message.contains("reel import --store \(directory.path) /exports/one.ndjson"), "\(message)")

        // Begun again: what was left is erased in the same commit that marks it, and the import runs from position 1.
        store = try Store.open(at: directory.path, projections: [EventTypeIndex()], options: Self.options(importing: true))
        try store.beginImport(source: "/exports/one.ndjson")
        #expect(try store.head() == 0)
        #expect(try store.importUnfinished())
        try store.restore(Array(events.prefix(200)))
        try store.restore(Array(events.dropFirst(200)))
        try store.finishImport()
        #expect(try !store.importUnfinished())
        try store.close()

        let opened = try Store.open(at: directory.path, projections: [EventTypeIndex()], options: Self.options(readOnly: true))
        #expect(try opened.events(from: 1, limit: 1_000).map(\.hash) == events.map(\.hash))
        try expectSound(opened)
        try opened.close()
    }

    @Test("beginImport refuses a store with events and no marker (notEmpty) and one whose data file another import holds (importRunning), writing nothing")
    func beginImportRefusals() async throws {
        let events = try await Self.exported(50)
        let filled = TemporaryDirectory("filled")
        defer { filled.remove() }
        let existing = try Store.open(at: filled.path, projections: [EventTypeIndex()])
        try await existing.append(sampleEvent(stream: "already"))
        try existing.close()
        let importing = try Store.open(at: filled.path, projections: [EventTypeIndex()], options: Self.options(importing: true))
        #expect(try !importing.importUnfinished())
        #expect(throws: EventStoreError.notEmpty(path: filled.path)) { try importing.beginImport(source: "x") }
        #expect(try importing.head() == 1)
        #expect(try !importing.importUnfinished())
        try expectSound(importing)
        try importing.close()

        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store.open(at: directory.path, projections: [EventTypeIndex()], options: Self.options(importing: true))
        // Another import's lock on the data file (an flock, which LMDB never takes).
        let other = open(directory.path + "/data.mdb", O_RDONLY)
        #expect(flock(other, LOCK_EX | LOCK_NB) == 0)
        #expect(throws: EventStoreError.importRunning(path: directory.path)) { try store.beginImport(source: "x") }
        close(other)
        try store.beginImport(source: "x")
        try store.restore(events)
        try store.finishImport()
        try expectSound(store)
        try store.close()
    }

    @Test("abandonImport leaves an empty store empty and unmarked; discardImport removes the store's files")
    func givingUp() async throws {
        let events = try await Self.exported(80)
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        // An empty store made before the import: given up, it is empty and opens as any store.
        try Store.open(at: directory.path, projections: [EventTypeIndex()]).close()
        var store = try Store.open(at: directory.path, projections: [EventTypeIndex()], options: Self.options(importing: true))
        try store.beginImport(source: "x")
        try store.restore(events)
        try store.abandonImport()
        #expect(try !store.importUnfinished())
        #expect(try store.head() == 0)
        try expectSound(store)
        try store.close()
        let reopened = try Store.open(at: directory.path, projections: [EventTypeIndex()])
        try await reopened.append(sampleEvent(stream: "after"))
        #expect(try reopened.head() == 1)
        try expectSound(reopened)
        try reopened.close()

        // A store the import made: given up, its files are gone.
        let made = TemporaryDirectory("made")
        defer { made.remove() }
        store = try Store.open(at: made.path, projections: [EventTypeIndex()], options: Self.options(importing: true))
        try store.beginImport(source: "x")
        try store.restore(events)
        try store.discardImport()
        #expect(try FileManager.default.contentsOfDirectory(atPath: made.path).isEmpty)
        #expect(throws: EventStoreError.self) { try Store.open(at: made.path, options: Self.options(readOnly: true)) }
    }
}
