import Foundation
import LMDB
import Testing

@testable import EventStore

/// What `close()` does to the work around it: subscriptions end, as documented, whether they wait for new commits or
/// are still reading older ones.
@Suite("Closing a store")
struct CloseTests {
    /// Opens a store, runs `body` on it, then reopens it and checks its invariants.
    private func withClosingStore(_ body: (Store) async throws -> Void) async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        try await body(try Store.open(at: directory.path, projections: [EventTypeIndex()]))
        let reopened = try Store.open(at: directory.path, projections: [EventTypeIndex()])
        try expectSound(reopened)
        try reopened.close()
    }

    @Test("a subscription still reading older events ends, without an error, when the store closes")
    func subscriberBehind() async throws {
        try await withClosingStore { store in
            for _ in 0..<10 { try await store.append((0..<500).map { _ in sampleEvent(stream: "job-\(Int.random(in: 0..<20))") }) }
            let reader = Task { () throws -> Int in
                var seen = 0
                for try await _ in store.subscribe(from: 1) {
                    seen += 1
                    if seen % 100 == 0 { try? await Task.sleep(for: .milliseconds(5)) }
                }
                return seen
            }
            try await Task.sleep(for: .milliseconds(60))
            try store.close()
            let seen = try await reader.value
            #expect(seen <= 5_000)
        }
    }

    @Test("a subscription waiting for new commits ends when the store closes, after the commits queued before the close")
    func subscriberWaiting() async throws {
        try await withClosingStore { store in
            try await store.append(sampleEvent(stream: "job-1"))
            let reader = Task { () throws -> [UInt64] in
                var positions: [UInt64] = []
                for try await event in store.subscribe(from: 1) { positions.append(event.position) }
                return positions
            }
            try await Task.sleep(for: .milliseconds(100))
            try store.close()
            #expect(try await reader.value == [1])
            await #expect(throws: EventStoreError.closed) { try await store.append(sampleEvent(stream: "job-1")) }
            #expect(throws: EventStoreError.closed) { try store.head() }
        }
    }
}
