import Foundation
import LMDB
import Testing
@testable import EventStore

@Suite("Appending")
struct AppendTests {
    @Test("16 tasks × 1,000 concurrent appends: every acknowledged event stored exactly once")
    func concurrentAppends() async throws {
        try await withStore { store, _ in
            let acknowledged = try await withThrowingTaskGroup(of: [(UUID, UInt64)].self) { group in
                for task in 0..<16 {
                    group.addTask {
                        var acks: [(UUID, UInt64)] = []
                        for i in 0..<1_000 {
                            let event = sampleEvent(stream: "writer-\(task)-\(i % 10)")
                            let result = try await store.append(event)
                            acks.append((event.id, result.positions[0]))
                        }
                        return acks
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(acknowledged.count == 16_000)
            #expect(Set(acknowledged.map(\.1)).count == 16_000, "each acknowledgement has its own position")
            #expect(try store.head() == 16_000)
            for (id, position) in acknowledged {
                let stored = try #require(try store.event(id: id))
                #expect(stored.position == position)
            }
            let all = try store.events(from: 1, limit: 20_000)
            #expect(all.map(\.position) == Array(1...16_000))
            #expect(Set(all.map(\.id)).count == 16_000)
        }
    }

    @Test("a group commit takes at most StoreOptions.maxEventsPerGroup queued events, and every batch lands in order")
    func groupBound() async throws {
        /// Records the size of each write transaction's group: an event folded before anything else was written in its
        /// transaction starts a group (the writer folds each event before writing it to the log).
        struct GroupRecorder: Projection {
            let sizes: Locked<[Int]>
            let name = "groups"
            let version: UInt32 = 1
            let databases: [ProjectionDatabase] = []
            func apply(_ event: RecordedEvent, _ txn: borrowing Transaction, _ databases: ProjectionDatabases) throws {
                let starts = txn.changeCount == 0
                sizes.withLock { if starts { $0.append(1) } else { $0[$0.count - 1] += 1 } }
            }
        }
        let sizes = Locked<[Int]>([])
        var options = StoreOptions()
        options.maxEventsPerGroup = 4
        try await withStore(projections: [GroupRecorder(sizes: sizes), EventTypeIndex()], options: options) { store, _ in
            // Forty one-event batches and two of three, queued at once: the writer finds them waiting.
            let batches = (0..<40).map { [sampleEvent(stream: "s-\($0 % 7)")] } + [(0..<3).map { _ in sampleEvent(stream: "t") }, (0..<3).map { _ in sampleEvent(stream: "u") }]
            let answered = Locked<[Int: UInt64]>([:])
            await withCheckedContinuation { (allAnswered: CheckedContinuation<Void, Never>) in
                for (index, batch) in batches.enumerated() {
                    store.enqueue(batch) { outcome in
                        let position = (try? outcome.get())?.positions[0] ?? 0
                        let count = answered.withLock { answers in
                            answers[index] = position
                            return answers.count
                        }
                        if count == batches.count { allAnswered.resume() }
                    }
                }
            }
            let recorded = sizes.withLock { $0 }
            #expect(recorded.reduce(0, +) == 46)
            #expect(recorded.allSatisfy { $0 <= 4 }, "group sizes \(recorded)")
            // In queue order, each batch's events consecutive.
            var position: UInt64 = 1
            for index in batches.indices {
                #expect(answered.withLock { $0[index] } == position)
                position += UInt64(batches[index].count)
            }
            let ids = batches.flatMap { $0.map(\.id) }
            let stored = try store.events(from: 1, limit: 100)
            #expect(stored.map(\.id) == ids)
        }
    }

    @Test("batches withdrawn once an earlier one was answered: a prefix lands, the rest is answered with the withdrawal's error and written nowhere")
    func withdrawnBatches() async throws {
        struct Stopped: Error {}
        var options = StoreOptions()
        options.maxEventsPerGroup = 4
        try await withStore(options: options) { (store: Store, _: TemporaryDirectory) async throws in
            let batches = (0..<60).map { [sampleEvent(stream: "s-\($0 % 5)")] }
            let stopped = Locked(false)
            let answered = Locked<[Int: Result<AppendResult, any Error>]>([:])
            await withCheckedContinuation { (allAnswered: CheckedContinuation<Void, Never>) in
                for (index, batch) in batches.enumerated() {
                    store.enqueue(batch, withdrawal: { stopped.withLock { $0 } ? Stopped() : nil }) { outcome in
                        if index == 10 { stopped.withLock { $0 = true } }
                        let count = answered.withLock { answers in
                            answers[index] = outcome
                            return answers.count
                        }
                        if count == batches.count { allAnswered.resume() }
                    }
                }
            }
            let outcomes = answered.withLock { $0 }
            let landed = batches.indices.prefix { (try? outcomes[$0]?.get()) != nil }.count
            // Batch 10 and the others of its group land; every later batch is withdrawn.
            #expect(landed > 10 && landed <= 14, "\(landed) batches landed")
            for index in landed..<batches.count {
                #expect(throws: Stopped.self) { try outcomes[index]?.get() }
            }
            #expect(try store.head() == UInt64(landed))
            #expect(try store.events(from: 1, limit: 100).map(\.id) == batches.prefix(landed).map { $0[0].id })
            #expect(try store.verify().isEmpty)
        }
    }

    /// Counts the events it is given without their hash, writes an entry for each, refuses `reject.me` before writing
    /// and `reject.late` after writing (the group's restart path).
    struct SealWitness: Projection {
        let unhashed: Locked<Int>
        var readsHash: Bool
        let name = "witness"
        let version: UInt32 = 1
        let databases = [ProjectionDatabase("seen")]

        func apply(_ event: RecordedEvent, _ txn: borrowing Transaction, _ databases: ProjectionDatabases) throws {
            if event.hash.isEmpty { unhashed.withLock { $0 += 1 } }
            if event.type == "reject.me" { throw RejectingCounter.Rejected(position: event.position) }
            try txn.put(databases["seen"], BigEndian.bytes(event.position), [])
            if event.type == "reject.late" { throw RejectingCounter.Rejected(position: event.position) }
        }
    }

    @Test(
        "a large group's hash chain is sealed on a second thread while it folds: the chain holds, a batch retried in the group is answered with its first positions, one refused before writing takes no position and one refused after writing leaves no trace"
    )
    func sealedAside() async throws {
        let unhashed = Locked<Int>(0)
        try await withStore(projections: [SealWitness(unhashed: unhashed, readsHash: false), EventTypeIndex()]) { store, _ in
            try await store.append(sampleEvent(stream: "before"))  // the group's chain starts from a stored hash
            let first = (0..<3_000).map { sampleEvent(stream: "s-\($0 % 50)") }
            let second = (0..<1_500).map { sampleEvent(stream: "s-\($0 % 7)") }
            let requests = [
                AppendRequest(events: first, expected: [:]),
                // Refused before writing anything: it takes no position, and the group goes on.
                AppendRequest(events: [sampleEvent(stream: "v", type: "reject.me")], expected: [:]),
                AppendRequest(events: second, expected: [:]),
                AppendRequest(events: first, expected: [:]),  // a retry of the first
                AppendRequest(events: [sampleEvent(stream: "t"), sampleEvent(stream: "t", type: "reject.late")], expected: [:]),
                // s-0 has 60 events of the first batch and 215 of the second by now.
                AppendRequest(events: (0..<100).map { sampleEvent(stream: "s-\($0 % 3)") }, expected: ["s-0": .exactly(275)]),
                AppendRequest(events: second, expected: [:]),  // a retry of the second, found after the refused batch
            ]
            let count = requests.reduce(0) { $0 + $1.events.count }
            #expect(count >= GroupAppend.sealAsideMinimum)
            let (head, outcomes) = GroupAppend(layout: store.layout, clock: Store.systemClock).commit(requests, events: count, store.environment)
            #expect(head == 4_601)
            let original = try outcomes[0].get()
            #expect(original.positions == Array(2...3_001))
            #expect(throws: RejectingCounter.Rejected.self) { try outcomes[1].get() }
            let secondResult = try outcomes[2].get()
            #expect(secondResult.positions == Array(3_002...4_501))
            let retried = try outcomes[3].get()
            #expect(retried.isDuplicate)
            #expect(retried.positions == original.positions)
            #expect(retried.versions == original.versions)
            #expect(throws: RejectingCounter.Rejected.self) { try outcomes[4].get() }
            #expect(try outcomes[5].get().positions == Array(4_502...4_601))
            let retriedSecond = try outcomes[6].get()
            #expect(retriedSecond.isDuplicate)
            #expect(retriedSecond.positions == secondResult.positions)
            #expect(retriedSecond.versions == secondResult.versions)
            #expect(try store.version(of: "v") == 0)
            #expect(try store.version(of: "t") == 0)
            #expect(unhashed.withLock { $0 } > 0, "the group was folded with its hashes left to the sealer")
            // A bulk load's shape: one-event batches, handed to the sealer a thousand or more at a time, and a retry of
            // one of them in the same group.
            let singles = (0..<5_000).map { AppendRequest(events: [sampleEvent(stream: "w-\($0 % 13)")], expected: [:]) }
            let (singlesHead, singleOutcomes) = GroupAppend(layout: store.layout, clock: Store.systemClock).commit(
                singles + [singles[2_500]], events: 5_001, store.environment)
            #expect(singlesHead == 9_601)
            #expect(try singleOutcomes.map { try $0.get().positions[0] } == Array(4_602...9_601) + [7_102])
            #expect(try singleOutcomes[5_000].get().isDuplicate)
            // One large batch through the writer, too.
            try await store.append((0..<5_000).map { sampleEvent(stream: "u-\($0 % 11)") })
            let stored = try store.events(from: 1, limit: 20_000)
            #expect(stored.map(\.position) == Array(1...14_601))
            #expect(stored.allSatisfy { $0.hash.count == 32 })
            #expect(try store.verify().isEmpty, "every stored hash covers the one before it")
        }
    }

    /// Writes 4 KB for each event, so that a group fills the map while it folds, not only when it writes its log.
    struct BulkyWitness: Projection {
        let unhashed: Locked<Int>
        let name = "bulky"
        let version: UInt32 = 1
        let readsHash = false
        let databases = [ProjectionDatabase("pages")]

        func apply(_ event: RecordedEvent, _ txn: borrowing Transaction, _ databases: ProjectionDatabases) throws {
            if event.hash.isEmpty { unhashed.withLock { $0 += 1 } }
            try txn.put(databases["pages"], BigEndian.bytes(event.position), [UInt8](repeating: UInt8(event.position & 0xFF), count: 4_096))
        }
    }

    @Test("a large group sealed aside that fills the map while it folds runs again in a grown map: every batch lands once, the chain holds")
    func sealedAsideMapFull() async throws {
        let unhashed = Locked<Int>(0)
        var options = StoreOptions()
        options.initialMapSize = 1 << 20
        try await withStore(projections: [BulkyWitness(unhashed: unhashed), EventTypeIndex()], options: options) { store, _ in
            try await store.append(sampleEvent(stream: "before"))
            let before = store.environment.info().mapSize
            // About 18 MB folded and 36 MB of records: the first attempts run out of map partway through the fold,
            // after the sealer has been handed (and is hashing) records of the group; each attempt after a growth
            // starts the group over, sealing every record again.
            let requests = (0..<9).map { batch in
                AppendRequest(events: (0..<500).map { sampleEvent(stream: "m-\(($0 + batch) % 17)", size: 8_000) }, expected: [:])
            }
            let (head, outcomes) = GroupAppend(layout: store.layout, clock: Store.systemClock).commit(requests, events: 4_500, store.environment)
            #expect(head == 4_501)
            for (index, outcome) in outcomes.enumerated() {
                #expect(try outcome.get().positions == Array(UInt64(2 + index * 500)...UInt64(1 + (index + 1) * 500)))
            }
            #expect(store.environment.info().mapSize >= before * 32, "the map grew several times during the group")
            #expect(unhashed.withLock { $0 } > 0, "the group was folded with its hashes left to the sealer")
            let stored = try store.events(from: 1, limit: 6_000)
            #expect(stored.map(\.position) == Array(1...4_501))
            #expect(stored.dropFirst().map(\.id) == requests.flatMap { $0.events.map(\.id) })
            #expect(try store.read { try EventTypeIndex.positions(ofType: "sample.happened", in: $0) }.count == 4_501)
            #expect(try store.verify().isEmpty, "every stored hash covers the one before it")
            try expectSound(store)
        }
    }

    @Test("a projection that reads hashes is given them in a large group")
    func hashesForReaders() async throws {
        let unhashed = Locked<Int>(0)
        try await withStore(projections: [SealWitness(unhashed: unhashed, readsHash: true), EventTypeIndex()]) { store, _ in
            try await store.append((0..<5_000).map { sampleEvent(stream: "u-\($0 % 11)") })
            #expect(unhashed.withLock { $0 } == 0)
            let stored = try store.events(from: 1, limit: 10)
            #expect(stored.allSatisfy { $0.hash.count == 32 })
        }
    }

    @Test("a batch spans streams atomically with consecutive positions and per-stream versions")
    func multiStreamBatch() async throws {
        try await withStore { store, _ in
            try await store.append(sampleEvent(stream: "a"))
            let batch = [sampleEvent(stream: "a"), sampleEvent(stream: "b"), sampleEvent(stream: "a")]
            let result = try await store.append(batch, expected: ["a": .exactly(1), "b": .noStream])
            #expect(result.positions == [2, 3, 4])
            #expect(result.versions == [2, 1, 3])
            #expect(try store.version(of: "a") == 3)
            #expect(try store.stream("a").map(\.id) == [try store.events(from: 1, limit: 1)[0].id, batch[0].id, batch[2].id])
            let recorded = try store.events(from: 1, limit: 10)
            #expect(recorded.map(\.recordedAtMilliseconds) == recorded.map(\.recordedAtMilliseconds).sorted())
        }
    }

    @Test("exactly one of N racing appenders with the same expected version wins")
    func expectedVersionContention() async throws {
        try await withStore { store, _ in
            for round in 0..<20 {
                let stream = "contended-\(round % 3)"
                let before = try store.version(of: stream)
                let outcomes = await withTaskGroup(of: Result<AppendResult, any Error>.self) { group in
                    for _ in 0..<8 {
                        group.addTask {
                            await outcome { try await store.append(sampleEvent(stream: stream), expectedVersion: .exactly(before)) }
                        }
                    }
                    return await group.reduce(into: []) { $0.append($1) }
                }
                let winners = outcomes.filter { if case .success = $0 { true } else { false } }
                #expect(winners.count == 1, "round \(round)")
                for case let .failure(error) in outcomes {
                    #expect(error as? EventStoreError == .wrongExpectedVersion(stream: stream, expected: before, actual: before + 1))
                }
                #expect(try store.version(of: stream) == before + 1)
            }
        }
    }

    @Test("a wrong expected version names the stream, the expected and the actual version, and writes nothing")
    func wrongExpectedVersionMessage() async throws {
        try await withStore { store, _ in
            try await store.append([sampleEvent(stream: "s"), sampleEvent(stream: "s")])
            let error = await #expect(throws: EventStoreError.self) {
                try await store.append([sampleEvent(stream: "t"), sampleEvent(stream: "s")], expected: ["s": .exactly(1)])
            }
            #expect(error?.description == "wrong expected version for stream s: expected 1, actual 2")
            #expect(try store.head() == 2)
            #expect(try store.version(of: "t") == 0)
        }
    }

    @Test("invalid batches are refused before reaching the writer")
    func invalidBatches() async throws {
        try await withStore { store, _ in
            let id = UUID()
            await #expect(throws: EventStoreError.self) { try await store.append([]) }
            await #expect(throws: EventStoreError.self) {
                try await store.append([sampleEvent(stream: "a", id: id), sampleEvent(stream: "b", id: id)])
            }
            await #expect(throws: EventStoreError.self) { try await store.append(sampleEvent(stream: "")) }
            await #expect(throws: EventStoreError.self) { try await store.append(sampleEvent(stream: String(repeating: "s", count: 256))) }
            let head = try store.head()
            #expect(head == 0)
        }
    }
}

@Suite("Idempotency")
struct IdempotencyTests {
    @Test("the same id with the same content is a no-op that returns the original positions")
    func duplicateIsNoOp() async throws {
        try await withStore { store, _ in
            let batch = [sampleEvent(stream: "a"), sampleEvent(stream: "b")]
            let first = try await store.append(batch)
            try await store.append(sampleEvent(stream: "c"))
            let again = try await store.append(batch)
            #expect(again.isDuplicate)
            #expect(again.positions == first.positions)
            #expect(again.versions == first.versions)
            // A retry is a no-op even when its expected version no longer holds.
            let retry = try await store.append(batch, expected: ["a": .noStream])
            #expect(retry.isDuplicate)
            #expect(try store.head() == 3)
        }
    }

    @Test("the same id with other content is an error naming the id, and writes nothing")
    func conflictingContent() async throws {
        try await withStore { store, _ in
            let original = sampleEvent(stream: "a")
            try await store.append(original)
            var changed = original
            changed.payload = Array("{\"other\":true}".utf8)
            await #expect(throws: EventStoreError.idempotencyConflict(id: original.id, position: 1)) {
                try await store.append(changed)
            }
            var moved = original
            moved.stream = "b"
            await #expect(throws: EventStoreError.idempotencyConflict(id: original.id, position: 1)) {
                try await store.append(moved)
            }
            await #expect(throws: EventStoreError.partialDuplicate(id: original.id, position: 1)) {
                try await store.append([sampleEvent(stream: "a"), original])
            }
            #expect(try store.head() == 1)
        }
    }

    @Test("two callers racing with the same new id: one writes, the other gets the original position")
    func racingDuplicates() async throws {
        try await withStore { store, _ in
            let event = sampleEvent(stream: "race")
            let results = try await withThrowingTaskGroup(of: AppendResult.self) { group in
                for _ in 0..<8 { group.addTask { try await store.append(event) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.filter { !$0.isDuplicate }.count == 1)
            #expect(Set(results.map(\.positions)) == [[1]])
            #expect(try store.head() == 1)
        }
    }
}
