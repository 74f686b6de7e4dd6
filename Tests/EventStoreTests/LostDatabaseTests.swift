import Foundation
import LMDB
import Testing
@testable import EventStore

@Suite("Databases whose entry in the main tree was lost")
struct LostDatabaseTests {
    /// Removes a named database from the store's main tree, as damage to its entry would.
    static func removeDatabase(_ name: String, in path: String) throws {
        let environment = try Environment(path: path)
        defer { environment.close() }
        let database = try environment.openDatabases { try $0.openDatabase(name) }
        try environment.write { try $0.drop(database, removeDatabase: true) }
    }

    @Test("a projection's database lost while it has a checkpoint is rebuilt from the log by a writable open, never served empty")
    func projectionDatabaseRebuilt() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        do {
            let store = try Store.open(at: directory.path, projections: [RejectingCounter()])
            for n in 0..<50 { _ = try await store.append([sampleEvent(stream: "s-\(n % 3)", type: n % 2 == 0 ? "a.even" : "a.odd")]) }
            try store.close()
        }
        try Self.removeDatabase("proj.counter.counts", in: directory.path)
        // Read-only, the projection is not served and verify says why.
        var readOnly = StoreOptions()
        readOnly.readOnly = true
        let reader = try Store.open(at: directory.path, projections: [RejectingCounter()], options: readOnly)
        #expect(!(try reader.verifyProjections()).isEmpty)
        try reader.close()
        // Its pages are sound: a projection's missing databases are a projection not built, which verify reports.
        #expect(try Store.checkPages(at: directory.path, projections: [RejectingCounter()]).isEmpty)
        // Writable: rebuilt from the log, whole.
        let store = try Store.open(at: directory.path, projections: [RejectingCounter()])
        #expect(try RejectingCounter.count("a.even", in: store) == 25)
        #expect(try RejectingCounter.count("a.odd", in: store) == 25)
        try expectSound(store)
        try store.close()
    }

    @Test("an engine database lost is refused as damage by every open, and named by the page check")
    func engineDatabaseRefused() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        do {
            let store = try Store.open(at: directory.path, projections: [EventTypeIndex()])
            for n in 0..<10 { _ = try await store.append([sampleEvent(stream: "s-\(n)")]) }
            try store.close()
        }
        try Self.removeDatabase("reel.ids", in: directory.path)
        let problems = try Store.checkPages(at: directory.path, projections: [EventTypeIndex()])
        #expect(problems.contains { "\($0)".contains("reel.ids") && "\($0)".contains("missing") }, "\(problems)")
        for readOnly in [false, true] {
            var options = StoreOptions()
            options.readOnly = readOnly
            #expect {
                _ = try Store.open(at: directory.path, projections: [EventTypeIndex()], options: options)
            } throws: { error in
                "\(error)".contains("reel.ids")
            }
        }
        // Nothing was created in its place.
        #expect(try Store.checkPages(at: directory.path, projections: [EventTypeIndex()]) == problems)
    }
}
