import EventStore
import Foundation
import LMDB
import Testing

/// The code of the EventStore documentation's articles ("Getting Started with the Engine", "Writing a Projection"),
/// so that it keeps compiling and doing what the articles say. This file imports what the articles import, without
/// `@testable`: it sees the public API only.
@Suite("Documentation examples")
struct DocumentationExampleTests {
    /// The projection of "Writing a Projection", as written there.
    struct UniqueEmails: Projection {
        /// The rejection: an address that already has an account.
        struct Taken: Error, CustomStringConvertible {
            let email: String
            var description: String { "\(email) already has an account" }
        }

        let name = "unique-emails"
        let version: UInt32 = 1
        let databases = [ProjectionDatabase("owners")]
        /// It never reads `event.hash`, so large group commits may compute the chain beside it.
        let readsHash = false

        func apply(_ event: RecordedEvent, _ txn: borrowing Transaction, _ databases: ProjectionDatabases) throws {
            guard event.type == "account.opened" else { return }
            let owners = databases["owners"]
            let email = event.payload  // the address, in UTF-8
            // Check first, write after: a rejection before any write costs the group nothing.
            if try txn.get(owners, email) != nil {
                throw Taken(email: String(decoding: email, as: UTF8.self))
            }
            try txn.put(owners, email, Array(event.stream.utf8))
        }

        /// The account that owns an address, from one snapshot.
        static func owner(of email: String, in store: Store) throws -> String? {
            try store.read { snapshot in
                try snapshot.query("unique-emails") { txn, databases in
                    try txn.get(databases["owners"], Array(email.utf8)).map { String(decoding: $0, as: UTF8.self) }
                }
            }
        }
    }

    @Test("Getting Started with the Engine: open, append, expect versions, retry, read, follow, verify, close")
    func gettingStarted() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path

        let store = try Store.open(at: path, projections: [EventTypeIndex()])

        let placed = NewEvent(
            stream: "order-42", type: "order.placed", payload: Array(#"{"total":1200}"#.utf8),
            metadata: EventMetadata(actor: "checkout"))
        let first = try await store.append(placed, expectedVersion: .noStream)
        #expect("\(first)" == "AppendResult(position: 1, version: 1)")

        try await store.append(
            [
                NewEvent(stream: "order-42", type: "order.paid", payload: Array(#"{"amount":1200}"#.utf8)),
                NewEvent(stream: "order-42", type: "order.shipped", payload: Array(#"{"carrier":"post"}"#.utf8)),
            ],
            expected: ["order-42": .exactly(1)])

        await #expect(throws: EventStoreError.wrongExpectedVersion(stream: "order-42", expected: 1, actual: 3)) {
            try await store.append(NewEvent(stream: "order-42", type: "order.cancelled", payload: []), expectedVersion: .exactly(1))
        }

        let again = try await store.append(placed)
        #expect(again.isDuplicate && again.positions == [1])

        let order = try store.stream("order-42")
        #expect(order.map(\.type) == ["order.placed", "order.paid", "order.shipped"])
        let paid = try store.read { snapshot in
            try EventTypeIndex.positions(ofType: "order.paid", in: snapshot)
        }
        #expect(paid == [2])

        var followed: [String] = []
        for try await event in store.subscribe(from: 1) {
            followed.append("\(event.position) \(event.type)")
            if event.position == 3 { break }
        }
        #expect(followed == ["1 order.placed", "2 order.paid", "3 order.shipped"])

        let problems = try store.verify() + store.verifyProjections()
        #expect(problems.isEmpty, "\(problems)")
        try store.close()
    }

    @Test("Writing a Projection: a rule checked in the write transaction rejects one batch of a group, and a new version rebuilds")
    func writingAProjection() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store.open(at: directory.path, projections: [UniqueEmails()])

        // Sixteen sign-ups at once, two of them for each address: one of each pair lands, the other is rejected.
        let outcomes = await withTaskGroup(of: Result<AppendResult, any Error>.self) { group in
            for signup in 0..<16 {
                group.addTask {
                    await outcome {
                        try await store.append(
                            NewEvent(
                                stream: "account-\(signup)", type: "account.opened", payload: Array("user\(signup / 2)@example.com".utf8)))
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        let rejections = outcomes.compactMap { outcome -> UniqueEmails.Taken? in
            guard case let .failure(error) = outcome else { return nil }
            return error as? UniqueEmails.Taken
        }
        #expect(rejections.count == 8)
        #expect(outcomes.filter { if case .success = $0 { true } else { false } }.count == 8)
        #expect(try store.head() == 8, "a rejected batch writes nothing")
        let owner = try #require(try UniqueEmails.owner(of: "user3@example.com", in: store))
        #expect(["account-6", "account-7"].contains(owner))
        #expect(try store.verifyProjections().isEmpty)
        try store.close()

        // The fold changed (here: only its version): opening with the new version rebuilds it from the log.
        struct UniqueEmailsV2: Projection {
            let name = "unique-emails"
            let version: UInt32 = 2
            let databases = [ProjectionDatabase("owners")]
            let readsHash = false
            func apply(_ event: RecordedEvent, _ txn: borrowing Transaction, _ databases: ProjectionDatabases) throws {
                try UniqueEmails().apply(event, txn, databases)
            }
        }
        let reopened = try Store.open(at: directory.path, projections: [UniqueEmailsV2()])
        #expect(try UniqueEmails.owner(of: "user3@example.com", in: reopened) == owner)
        let problems = try reopened.verify() + reopened.verifyProjections()
        #expect(problems.isEmpty, "\(problems)")
        try reopened.close()
    }
}
