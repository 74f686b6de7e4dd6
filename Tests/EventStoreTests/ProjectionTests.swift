import Foundation
import LMDB
import Testing
@testable import EventStore

@Suite("Inline projections and group commit")
struct ProjectionTests {
    @Test("a projection's rejection rejects only its caller's batch, with the projection's error, inside one group")
    func rejectionIsolationInOneGroup() async throws {
        try await withStore(projections: [EventTypeIndex(), RejectingCounter(slowType: "slow")]) { store, _ in
            // Hold the writer on a slow event so that every batch below queues up and lands in the next group.
            async let slow = store.append(sampleEvent(stream: "s", type: "slow"))
            try await Task.sleep(for: .milliseconds(100))
            let batches: [[NewEvent]] = [
                [sampleEvent(stream: "a", type: "good"), sampleEvent(stream: "b", type: "good")],
                [sampleEvent(stream: "a", type: "reject.me")],  // fails before writing anything
                [sampleEvent(stream: "c", type: "good")],
                [sampleEvent(stream: "a", type: "good"), sampleEvent(stream: "d", type: "reject.late")],  // fails after writing
                [sampleEvent(stream: "a", type: "good"), sampleEvent(stream: "e", type: "good"), sampleEvent(stream: "e", type: "reject.me")],
                [sampleEvent(stream: "f", type: "good")],
            ]
            let outcomes = await withTaskGroup(of: (Int, Result<AppendResult, any Error>).self) { group in
                for (index, batch) in batches.enumerated() {
                    group.addTask { (index, await outcome { try await store.append(batch) }) }
                }
                return await group.reduce(into: [Int: Result<AppendResult, any Error>]()) { $0[$1.0] = $1.1 }
            }
            _ = try await slow
            for index in [0, 2, 5] {
                let result = try #require(try outcomes[index]?.get(), "batch \(index) must land")
                #expect(result.positions.count == batches[index].count)
                for event in batches[index] { #expect(try store.event(id: event.id) != nil) }
            }
            for index in [1, 3, 4] {
                guard case let .failure(error) = outcomes[index] else {
                    Issue.record("batch \(index) must be rejected")
                    continue
                }
                #expect(error is RejectingCounter.Rejected, "the projection's own error reaches the caller: \(error)")
                for event in batches[index] { #expect(try store.event(id: event.id) == nil, "a rejected batch writes nothing") }
            }
            #expect(try store.head() == 5)
            #expect(try RejectingCounter.count("good", in: store) == 4)
            #expect(try RejectingCounter.count("reject.late", in: store) == 0)
            #expect(try store.version(of: "a") == 1)
            #expect(try store.version(of: "e") == 0)
        }
    }

    @Test("the group restart path, driven directly: a batch failing after writing leaves no trace")
    func groupRestartDirect() async throws {
        try await withStore(projections: [RejectingCounter()]) { store, _ async throws in
            let requests = [
                AppendRequest(events: [sampleEvent(stream: "x", type: "good")], expected: [:]),
                AppendRequest(events: [sampleEvent(stream: "x", type: "good"), sampleEvent(stream: "y", type: "reject.late")], expected: [:]),
                AppendRequest(events: [sampleEvent(stream: "x", type: "good")], expected: ["x": .exactly(1)]),
            ]
            let append = GroupAppend(layout: store.layout, clock: Store.systemClock)
            let (head, outcomes) = append.commit(requests, events: requests.reduce(0) { $0 + $1.events.count }, store.environment)
            #expect(head == 2)
            #expect(try outcomes[0].get().positions == [1])
            #expect(throws: RejectingCounter.Rejected.self) { try outcomes[1].get() }
            #expect(try outcomes[2].get().positions == [2], "the expected version sees the group without the failed batch")
            #expect(try RejectingCounter.count("good", in: store) == 2)
        }
    }

    @Test("a projection put with a key LMDB refuses (over 511 bytes) rejects only that caller's batch")
    func oversizedKeyIsolated() async throws {
        struct LongKeys: Projection {
            let name = "long-keys"
            let version: UInt32 = 1
            let databases = [ProjectionDatabase("keys")]
            func apply(_ event: RecordedEvent, _ txn: borrowing Transaction, _ databases: ProjectionDatabases) throws {
                let size = event.type == "too.long" ? 600 : 32
                try txn.put(databases["keys"], [UInt8](repeating: 1, count: size - 8) + BigEndian.bytes(event.position), [1])
            }
        }
        try await withStore(projections: [LongKeys(), RejectingCounter(slowType: "slow")]) { store, _ in
            async let slow = store.append(sampleEvent(stream: "s", type: "slow"))
            try await Task.sleep(for: .milliseconds(100))
            let outcomes = await withTaskGroup(of: (Int, Result<AppendResult, any Error>).self) { group in
                for (index, type) in ["good", "too.long", "good"].enumerated() {
                    group.addTask { (index, await outcome { try await store.append(sampleEvent(stream: "t-\(index)", type: type)) }) }
                }
                return await group.reduce(into: [Int: Result<AppendResult, any Error>]()) { $0[$1.0] = $1.1 }
            }
            _ = try await slow
            #expect((try? outcomes[0]?.get()) != nil && (try? outcomes[2]?.get()) != nil, "the other callers land")
            guard case let .failure(error)? = outcomes[1], case let .storage(lmdb)? = error as? EventStoreError else {
                Issue.record("the long key's batch fails with a storage error: \(String(describing: outcomes[1]))")
                return
            }
            #expect(lmdb.kind == .badValueSize)
            #expect(try store.head() == 3)
        }
    }

    @Test("queries see the log and the projections at one position")
    func consistentSnapshot() async throws {
        try await withStore { store, _ in
            let writer = Task {
                for i in 0..<300 { try await store.append(sampleEvent(stream: "s-\(i % 7)", type: i.isMultiple(of: 2) ? "even" : "odd")) }
            }
            for _ in 0..<200 {
                try store.read { snapshot in
                    let head = try snapshot.head()
                    let even = try EventTypeIndex.positions(ofType: "even", in: snapshot)
                    let odd = try EventTypeIndex.positions(ofType: "odd", in: snapshot)
                    #expect(even.count + odd.count == Int(head))
                    #expect(try snapshot.checkpoint(of: "event-types") == head)
                }
            }
            try await writer.value
        }
    }

    @Test("a projection added later, or whose version changed, is rebuilt from the log when the store opens")
    func rebuildOnOpen() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        do {
            let store = try Store.open(at: directory.path, projections: [])
            for i in 0..<50 { try await store.append(sampleEvent(stream: "s", type: i < 20 ? "good" : "other")) }
            try store.close()
        }
        do {
            // Read-only, a projection the store has never folded cannot be built: the log is served, the projection's
            // queries say why they cannot be, and the audit says it was not checked.
            var readOnly = StoreOptions()
            readOnly.readOnly = true
            let reader = try Store.open(at: directory.path, projections: [RejectingCounter()], options: readOnly)
            #expect(try reader.head() == 50)
            #expect(try reader.events(from: 1, limit: 100).count == 50)
            #expect(throws: EventStoreError.projectionNotBuilt(name: "counter", missing: "mdb_dbi_open(proj.counter.counts)")) {
                try RejectingCounter.count("good", in: reader)
            }
            let unchecked = try reader.verifyProjections()
            #expect(unchecked.map(\.description) == [
                "projection counter: not checked: projection counter has not been built in this store (mdb_dbi_open(proj.counter.counts)); "
                    + "open the store writable once (any writing command, such as `reel rebuild`) to build it"
            ])
            #expect(try reader.verify().isEmpty, "the log itself is sound")
            try reader.close()
        }
        do {
            let store = try Store.open(at: directory.path, projections: [RejectingCounter(), EventTypeIndex()], options: {
                var options = StoreOptions()
                options.rebuildChunk = 7
                return options
            }())
            #expect(try RejectingCounter.count("good", in: store) == 20)
            #expect(try store.read { try EventTypeIndex.positions(ofType: "other", in: $0) } == Array(21...50))
            try expectSound(store)
            try store.close()
        }
        struct CounterV2: Projection {
            let name = "counter"
            let version: UInt32 = 2
            let databases = [ProjectionDatabase("counts")]
            func apply(_ event: RecordedEvent, _ txn: borrowing Transaction, _ databases: ProjectionDatabases) throws {
                // Version 2 counts only "other", keyed the same way.
                guard event.type == "other" else { return }
                let key = Array(event.type.utf8)
                let count = try txn.get(databases["counts"], key).flatMap { $0.withUnsafeBytes { BigEndian.u64($0) } } ?? 0
                try txn.put(databases["counts"], key, BigEndian.bytes(count + 1))
            }
        }
        // Read-only, the store cannot rebuild it: it refuses to serve version 1's databases to version 2's code, and
        // serves the rest.
        var readOnly = StoreOptions()
        readOnly.readOnly = true
        do {
            let outdated = try Store.open(at: directory.path, projections: [CounterV2(), EventTypeIndex()], options: readOnly)
            #expect(throws: EventStoreError.projectionOutdated(name: "counter", built: 1, current: 2)) {
                try RejectingCounter.count("other", in: outdated)
            }
            #expect(try outdated.read { try EventTypeIndex.positions(ofType: "other", in: $0) }.count == 30)
            #expect(try outdated.verifyProjections().map(\.location) == [.projection("counter")])
            try outdated.close()
        }
        let store = try Store.open(at: directory.path, projections: [CounterV2()])
        #expect(try RejectingCounter.count("good", in: store) == 0, "version 1's data is gone")
        #expect(try RejectingCounter.count("other", in: store) == 30)
        try expectSound(store)
        try store.close()
        let reader = try Store.open(at: directory.path, projections: [CounterV2()], options: readOnly)
        #expect(try RejectingCounter.count("other", in: reader) == 30, "once rebuilt, read-only opens serve it")
        try reader.close()
    }

    @Test("read-only, a projection behind the log (a writer without it appended) is not served; a writable open catches it up")
    func projectionBehindNotServed() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        do {
            let store = try Store.open(at: directory.path, projections: [RejectingCounter(), EventTypeIndex()])
            for _ in 0..<10 { try await store.append(sampleEvent(stream: "s", type: "good")) }
            try store.close()
        }
        do {
            // A writer that does not register the counter appends more.
            let store = try Store.open(at: directory.path, projections: [EventTypeIndex()])
            for _ in 0..<5 { try await store.append(sampleEvent(stream: "s", type: "good")) }
            try store.close()
        }
        var readOnly = StoreOptions()
        readOnly.readOnly = true
        do {
            let reader = try Store.open(at: directory.path, projections: [RejectingCounter(), EventTypeIndex()], options: readOnly)
            #expect(throws: EventStoreError.projectionBehind(name: "counter", folded: 10, head: 15)) { try RejectingCounter.count("good", in: reader) }
            #expect(reader.unservedProjections.keys.sorted() == ["counter"])
            #expect(try reader.read { try EventTypeIndex.positions(ofType: "good", in: $0) }.count == 15)
            #expect(try reader.verifyProjections().map(\.location) == [.projection("counter")])
            try reader.close()
        }
        let writer = try Store.open(at: directory.path, projections: [RejectingCounter(), EventTypeIndex()])
        #expect(try RejectingCounter.count("good", in: writer) == 15, "caught up when opened writable")
        try expectSound(writer)
        try writer.close()
        let reader = try Store.open(at: directory.path, projections: [RejectingCounter(), EventTypeIndex()], options: readOnly)
        #expect(reader.unservedProjections.isEmpty)
        #expect(try RejectingCounter.count("good", in: reader) == 15)
        try reader.close()
    }

    @Test("a version that stops declaring a database drops it in both generations; other databases stay")
    func undeclaredDatabasesDropped() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        /// Version 1 keeps every position in two databases; version 2 only in the first.
        struct Positions: Projection {
            let name = "positions"
            var version: UInt32 = 1
            var databases = [ProjectionDatabase("kept"), ProjectionDatabase("dropped")]
            func apply(_ event: RecordedEvent, _ txn: borrowing Transaction, _ databases: ProjectionDatabases) throws {
                for database in self.databases {
                    try txn.put(databases[database.name], BigEndian.bytes(event.position), Array(event.type.utf8))
                }
            }
        }
        func databaseNames() throws -> Set<String> {
            let environment = try Environment(path: directory.path)
            return try environment.read { txn in
                var names = Set<String>()
                try txn.withCursor(txn.openDatabase(nil)) { cursor in
                    try cursor.forEach { key, _ in
                        names.insert(String(decoding: key, as: UTF8.self))
                        return true
                    }
                }
                return names
            }
        }
        do {
            let store = try Store.open(at: directory.path, projections: [Positions(), EventTypeIndex()])
            for i in 0..<30 { try await store.append(sampleEvent(stream: "s\(i % 3)", type: "t\(i % 2)")) }
            try store.close()
        }
        let before = try databaseNames()
        #expect(before.isSuperset(of: ["proj.positions.dropped", "proj.positions.dropped~b", "proj.positions.kept"]))
        let version2 = Positions(version: 2, databases: [ProjectionDatabase("kept")])
        let store = try Store.open(at: directory.path, projections: [version2, EventTypeIndex()])
        let kept = try store.read { snapshot in
            try snapshot.query("positions") { txn, databases in try txn.statistics(databases["kept"]).entries }
        }
        #expect(kept == 30)
        #expect(try store.read { try EventTypeIndex.positions(ofType: "t1", in: $0) }.count == 15)
        try expectSound(store)
        try store.close()
        let after = try databaseNames()
        #expect(after == before.subtracting(["proj.positions.dropped", "proj.positions.dropped~b"]), "only the undeclared ones went")
    }
}
