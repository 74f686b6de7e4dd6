import Foundation
import Testing

@testable import EventStore
@testable import LMDB

@Suite("Durability modes")
struct DurabilityTests {
    @Test(
        "each durability opens LMDB with its syncs: synced both, deferred the data pages' (never MDB_NOSYNC, which a system crash can turn into a damaged file), unsynced none; what was committed is there after reopening",
        arguments: [Durability.synced, .deferred, .unsynced])
    func commitSyncs(_ durability: Durability) async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var options = StoreOptions()
        options.durability = durability
        let store = try Store.open(at: directory.path, projections: [EventTypeIndex()], options: options)
        let syncs = try #require(store.environment.commitSyncs)
        switch durability {
        case .synced: #expect(syncs.data && syncs.meta)
        case .deferred: #expect(syncs.data && !syncs.meta)
        case .unsynced: #expect(!syncs.data && !syncs.meta)
        case .disposable: Issue.record("not a case of this test")
        }
        let result = try await store.append((0..<100).map { sampleEvent(stream: "s-\($0 % 3)") })
        try store.close()
        let reopened = try Store.open(at: directory.path, projections: [EventTypeIndex()])
        #expect(try reopened.head() == result.positions.last)
        #expect(try reopened.stream("s-1").count == 33)
        try expectSound(reopened)
        try reopened.close()
    }
}
