import EventStore
import Foundation
import MediaPipeline
import PostgresFixture
import PostgresNIO
import Testing

@testable import ReelCluster

/// The library in cluster mode, in process: two `MediaStore`s, each a node with its own store, over one log in a real
/// PostgreSQL 15 — the same API as a single store.
@Suite("A cluster through the library")
struct ClusterLibraryTests {
    static func temporaryStore() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("reel-cluster-\(UUID().uuidString.prefix(8))").path
    }

    static func node(_ path: String, _ postgres: PostgresServer) throws -> MediaStore {
        var options = StoreOptions()
        options.logOfRecord = Cluster.log(try PostgresAddress(postgres.url), store: path)
        return try MediaStore.open(at: path, options: options)
    }

    /// A node's replica opened read-only, on its own: nothing follows the log or repairs the replica meanwhile.
    static func replica(_ path: String) throws -> Store {
        var options = StoreOptions()
        options.readOnly = true
        return try Store.open(at: path, options: options)
    }

    /// Saves the images `range` into scene 0 of `project` through `node`, one append each.
    static func images(_ node: MediaStore, _ project: UUID, _ range: Range<Int>) async throws {
        for index in range {
            try await node.append(
                .sceneImageSaved(SceneImageSaved(projectID: project, sceneIndex: 0, imageIndex: index, imageURL: "https://cdn.example/\(index).png")))
        }
    }

    @Test("appends, queries, subscriptions and rules across two nodes, chosen at open")
    func twoNodes() async throws {
        let postgres = try PostgresServer()
        defer { postgres.stop() }
        let created = try Cluster.initialize(try PostgresAddress(postgres.url))
        #expect(created.created)
        let (pathA, pathB) = (Self.temporaryStore(), Self.temporaryStore())
        defer { for path in [pathA, pathB] { try? FileManager.default.removeItem(atPath: path) } }
        let a = try Self.node(pathA, postgres)
        let b = try Self.node(pathB, postgres)

        // B follows from the start, in order, while A appends.
        let followed = Task {
            var positions: [UInt64] = []
            for try await event in b.store.subscribe(from: 1) {
                positions.append(event.position)
                if positions.count == 65 { break }
            }
            return positions
        }
        let project = UUID()
        try await a.append(.projectCreated(ProjectCreated(projectID: project, title: "Lighthouse trailer")))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for renderer in 0..<16 {
                group.addTask {
                    for scene in 0..<4 {
                        let url = "https://cdn.example/\(scene)/\(renderer).png"
                        try await a.append(
                            .sceneImageSaved(SceneImageSaved(projectID: project, sceneIndex: scene, imageIndex: renderer, imageURL: url)))
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try await followed.value == Array(1...65), "B saw every position once, in order")
        #expect(try b.imagesByScene(project: project) == a.imagesByScene(project: project))
        #expect(try b.imagesByScene(project: project).scenes.reduce(0) { $0 + $1.imageURLs.count } == 64)

        // One email registered from both nodes at once: exactly one wins, the other gets the rule.
        let email = "ana@example.com"
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for node in [a, b] {
                group.addTask {
                    do {
                        try await node.append(.userRegistered(UserRegistered(userID: UUID(), email: email)))
                        return true
                    } catch {
                        return false
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 }.count == 1, "\(outcomes)")
        // An id appended again, from the other node, is the same event at the same position.
        let (id, other) = (UUID(), ProjectCreated(projectID: UUID(), title: "Second unit"))
        let first = try await a.append(.projectCreated(other), id: id)
        let again = try await b.append(.projectCreated(other), id: id)
        #expect(first.lastPosition == again.lastPosition && again.isDuplicate)
        // Metadata of every kind of text, through the log to the other node, byte for byte and under the same hash.
        let metadata = EventMetadata(actor: "render \"farm\"\n\u{1}/ü🎬", correlationID: "c/1", causationID: nil)
        let withMetadata = try await a.append(.projectCreated(ProjectCreated(projectID: UUID())), metadata: metadata)
        var seen: RecordedEvent?
        for try await event in b.store.subscribe(from: withMetadata.lastPosition) {
            seen = event
            break
        }
        let written = try #require(try a.store.events(from: withMetadata.lastPosition, limit: 1).first)
        #expect(seen?.metadata == metadata && seen?.hash == written.hash && seen?.payload == written.payload)
        #expect(try a.store.head() == b.store.head())
        #expect(try a.store.head() == 68)

        for node in [a, b] {
            #expect(try node.audit() == [])
            try node.close()
        }
    }

    @Test("the log's rows read back as the events the node recorded, every cell read directly and as the generic decoder reads it")
    func rowsReadBack() async throws {
        let postgres = try PostgresServer()
        defer { postgres.stop() }
        let address = try PostgresAddress(postgres.url)
        _ = try Cluster.initialize(address)
        let path = Self.temporaryStore()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let node = try Self.node(path, postgres)
        let project = UUID()
        try await node.append(.projectCreated(ProjectCreated(projectID: project, title: "Tide \"pools\" ü🎬")))
        try await node.append(
            .sceneImageSaved(SceneImageSaved(projectID: project, sceneIndex: 2, imageIndex: 7, imageURL: "https://cdn.example/2/7.png")),
            metadata: EventMetadata(actor: "farm/1", correlationID: "c-9", causationID: "b\n1"))
        try await node.append(.userRegistered(UserRegistered(userID: UUID(), email: "ines@example.com")))
        let recorded = try node.store.events(from: 1, limit: 10).map(ExportedEvent.init)
        #expect(recorded.count == 3)

        let connection = try PostgresLog.connect(address)
        defer { PostgresLog.close(connection) }
        let rows = try PostgresLog.wait(
            connection.query(PostgresLog.eventsQuery(after: 0, limit: 10), logger: PostgresLog.logger), seconds: 30
        ).rows
        let direct = try rows.map { try #require(try PostgresLog.directEvent($0), "a row the direct reader did not take") }
        #expect(direct == recorded)
        #expect(try rows.map(PostgresLog.genericEvent) == recorded)
        #expect(try node.audit() == [])
        try node.close()
    }

    @Test("streams and types holding tabs, line breaks, backslashes and any bytes pass through the log to another node exactly")
    func textThroughTheLog() async throws {
        let postgres = try PostgresServer()
        defer { postgres.stop() }
        let address = try PostgresAddress(postgres.url)
        _ = try Cluster.initialize(address)
        let (pathA, pathB) = (Self.temporaryStore(), Self.temporaryStore())
        defer { for path in [pathA, pathB] { try? FileManager.default.removeItem(atPath: path) } }
        func node(_ path: String) throws -> Store {
            var options = StoreOptions()
            options.logOfRecord = Cluster.log(address, store: path)
            return try Store.open(at: path, options: options)
        }
        let (a, b) = (try node(pathA), try node(pathB))
        let names = ["tab\there", "line\nbreak", "carriage\rreturn", "back\\slash\\t", "\\.", "\\x00", "ü🎬 \"quoted\"", "end\\"]
        // Every byte but NUL (which PostgreSQL's text cannot hold) in payloads, which are bytes in the log.
        let payload = (1...255).map { UInt8($0) }
        var events: [NewEvent] = []
        for (index, name) in names.enumerated() {
            // Metadata whose strings begin with a byte-order mark, which Foundation's JSON reader drops on Linux.
            let metadata = EventMetadata(actor: name, correlationID: "\u{FEFF}\(name)", causationID: index.isMultiple(of: 2) ? "\u{FEFF}" : nil)
            events.append(NewEvent(stream: name, type: "type\t\(name)", payload: payload + [UInt8(index)], metadata: metadata))
        }
        let appended = try await a.append(events)
        #expect(appended.positions == Array(1...UInt64(names.count)))
        try await b.append(NewEvent(stream: "after", type: "t", payload: Array("{}".utf8)))
        // B took A's events in under the log's lock before its own.
        let fromA = try a.events(from: 1, limit: names.count)
        let fromB = try b.events(from: 1, limit: 20)
        #expect(fromB.count == names.count + 1)
        #expect(Array(fromB.prefix(names.count)) == fromA)
        #expect(fromB.prefix(names.count).map(\.stream) == names)
        #expect(fromB.prefix(names.count).map(\.type) == names.map { "type\t\($0)" })
        #expect(try PostgresLog(address: address, node: "check").events(after: 0, limit: 20).map(\.hash) == fromB.map(\.hash))
        for store in [a, b] {
            #expect(try store.verify().isEmpty)
            try store.close()
        }
    }

    @Test("a node's store refuses a writable open without its log, and opens read-only")
    func replicaAlone() async throws {
        let postgres = try PostgresServer()
        defer { postgres.stop() }
        _ = try Cluster.initialize(try PostgresAddress(postgres.url))
        let path = Self.temporaryStore()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let node = try Self.node(path, postgres)
        try await node.append(.projectCreated(ProjectCreated(projectID: UUID())))
        try node.close()
        #expect {
            _ = try MediaStore.open(at: path)
        } throws: { error in
            guard case EventStoreError.logOfRecord(let cause) = error, case LogOfRecordError.notAReplica = cause else { return false }
            return true
        }
        var readOnly = StoreOptions()
        readOnly.readOnly = true
        let reader = try MediaStore.open(at: path, options: readOnly)
        #expect(try reader.store.head() == 1)
        #expect(try reader.audit() == [])
        try reader.close()
    }

    @Test("the log's audit: whole, then a row's negative version and a head row set back are named, never trapped on")
    func auditOfTheLog() async throws {
        let postgres = try PostgresServer()
        defer { postgres.stop() }
        let address = try PostgresAddress(postgres.url)
        _ = try Cluster.initialize(address)
        let path = Self.temporaryStore()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let node = try Self.node(path, postgres)
        let project = UUID()
        try await node.append(.projectCreated(ProjectCreated(projectID: project, title: "Audit")))
        try await Self.images(node, project, 0..<10)
        try node.close()
        let replica = try Self.replica(path)
        defer { try? replica.close() }
        let log = Cluster.log(address, store: path)
        #expect(try log.audit(against: replica).isEmpty)
        // The head row set back to an earlier event, its hash with it: the rows after it are left behind.
        _ = try postgres.sql("UPDATE reel_log SET head_position = 9, head_hash = (SELECT hash FROM reel_events WHERE position = 9)")
        #expect(try log.audit(against: replica).map(\.description) == ["log of record: position 10: a row past the head row (9)"])
        _ = try postgres.sql("UPDATE reel_log SET head_position = 11, head_hash = (SELECT hash FROM reel_events WHERE position = 11)")
        _ = try postgres.sql("UPDATE reel_events SET version = -1 WHERE position = 4")
        #expect {
            _ = try log.audit(against: replica)
        } throws: { error in
            guard case let .refused(_, reason)? = error as? LogOfRecordError else { return false }
            return reason.contains("version at position 4 is -1")
        }
        #expect(try replica.verify().isEmpty)
    }

    @Test("a log rewritten so that it chains again where it differs from a replica's head is refused as damaged, never adopted")
    func rewrittenLog() async throws {
        let postgres = try PostgresServer()
        defer { postgres.stop() }
        let address = try PostgresAddress(postgres.url)
        _ = try Cluster.initialize(address)
        let (a, b) = (Self.temporaryStore(), Self.temporaryStore())
        defer { for path in [a, b] { try? FileManager.default.removeItem(atPath: path) } }
        let project = UUID()
        let first = try Self.node(a, postgres)
        try await first.append(.projectCreated(ProjectCreated(projectID: project, title: "Rewritten")))
        try await Self.images(first, project, 0..<10)
        try first.close()
        let second = try Self.node(b, postgres)
        try await Self.images(second, project, 10..<20)
        try second.close()
        // Position `at` rewritten in PostgreSQL with another URL and the hash the chain gives it after the log's event
        // before: the row chains from the one before it, and the rows after it (and the head row) no longer agree.
        let log = Cluster.log(address, store: a)
        func rewrite(_ at: UInt64) throws {
            let event = try #require(try log.event(at: at))
            let before = try #require(try log.event(at: at - 1))
            let payload = Array(String(decoding: event.payload, as: UTF8.self).replacingOccurrences(of: ".png", with: ".jpg").utf8)
            let forged = ExportedEvent(
                position: event.position, stream: event.stream, version: event.version, id: event.id, type: event.type,
                recordedAtMilliseconds: event.recordedAtMilliseconds, payload: payload, metadata: event.metadata, hash: event.hash)
            let hash = forged.expectedHash(after: before.hash)
            _ = try postgres.sql(
                "UPDATE reel_events SET data = decode('\(Envelope.hex(payload))', 'hex'), hash = decode('\(Envelope.hex(hash))', 'hex') WHERE position = \(at)")
        }
        func replicaEvents(_ path: String) throws -> [RecordedEvent] {
            let store = try Self.replica(path)
            defer { try? store.close() }
            return try store.events(from: 1, limit: 100)
        }
        func refusal(_ path: String) -> String? {
            do {
                try Self.node(path, postgres).close()
                return nil
            } catch let LogOfRecordError.refused(_, reason) {
                return reason
            } catch {
                return "\(error)"
            }
        }
        // a's head is position 11, which the log's next event no longer follows.
        let kept = try replicaEvents(a)
        try rewrite(11)
        let reason = refusal(a)
        #expect(reason?.contains("position 12 does not follow its event at position 11") == true, "\(reason ?? "opened")")
        #expect(try replicaEvents(a) == kept)
        // b's head is the log's head, which the head row still names with the hash b holds.
        let held = try replicaEvents(b)
        try rewrite(21)
        let headReason = refusal(b)
        #expect(headReason?.contains("its head row names the replica's event at position 21") == true, "\(headReason ?? "opened")")
        #expect(try replicaEvents(b) == held && held.count == 21)
        // A new node reading the log from the start reads position 21, which the head row contradicts: refused before
        // anything of the read is written.
        let c = Self.temporaryStore()
        defer { try? FileManager.default.removeItem(atPath: c) }
        let contradicted = refusal(c)
        #expect(contradicted?.contains("its head row gives its event at position 21 another hash") == true, "\(contradicted ?? "opened")")
        #expect(try replicaEvents(c).isEmpty)
    }

    @Test("an event of the log that a projection refuses (a type this Reel does not know) is refused with its position, the replica kept")
    func unknownEventInTheLog() async throws {
        let postgres = try PostgresServer()
        defer { postgres.stop() }
        let address = try PostgresAddress(postgres.url)
        _ = try Cluster.initialize(address)
        let (a, b) = (Self.temporaryStore(), Self.temporaryStore())
        defer { for path in [a, b] { try? FileManager.default.removeItem(atPath: path) } }
        let node = try Self.node(a, postgres)
        let project = UUID()
        try await node.append(.projectCreated(ProjectCreated(projectID: project, title: "Newer")))
        try node.close()
        // Position 2, as a newer Reel might write it: a type this one does not know, chained after position 1, and the
        // head row moved to it.
        let log = Cluster.log(address, store: a)
        let first = try #require(try log.event(at: 1))
        let newer = ExportedEvent(
            position: 2, stream: first.stream, version: 2, id: UUID(), type: "project.archived",
            recordedAtMilliseconds: first.recordedAtMilliseconds, payload: Array(#"{"project_id":"\#(project.uuidString.lowercased())"}"#.utf8),
            metadata: EventMetadata(), hash: [])
        let hash = newer.expectedHash(after: first.hash)
        _ = try postgres.sql(
            """
            INSERT INTO reel_events (position, stream, version, id, type, recorded_at, data, metadata, hash)
            VALUES (2, '\(newer.stream)', 2, '\(newer.id.uuidString.lowercased())', 'project.archived', \(newer.recordedAtMilliseconds),
                decode('\(Envelope.hex(newer.payload))', 'hex'), decode('7b7d', 'hex'), decode('\(Envelope.hex(hash))', 'hex'));
            UPDATE reel_log SET head_position = 2, head_hash = decode('\(Envelope.hex(hash))', 'hex')
            """)
        for path in [a, b] {
            #expect {
                try Self.node(path, postgres).close()
            } throws: { error in
                "\(error)".contains("position 2 (type project.archived") && "\(error)".contains("cannot be taken in")
            }
        }
        let replica = try Self.replica(a)
        defer { try? replica.close() }
        #expect(try replica.head() == 1)
        #expect(try replica.verify().isEmpty)
    }

    @Test("rows of the log that chain from a replica's head but break the log's rules (a version skipped, time going back) are refused as the log's damage, the replica kept")
    func chainedRowsThatBreakRules() async throws {
        let postgres = try PostgresServer()
        defer { postgres.stop() }
        let address = try PostgresAddress(postgres.url)
        _ = try Cluster.initialize(address)
        let (a, b) = (Self.temporaryStore(), Self.temporaryStore())
        defer { for path in [a, b] { try? FileManager.default.removeItem(atPath: path) } }
        let project = UUID()
        let first = try Self.node(a, postgres)
        try await first.append(.projectCreated(ProjectCreated(projectID: project, title: "Rules")))
        try await Self.images(first, project, 0..<5)
        try first.close()
        let second = try Self.node(b, postgres)
        try await Self.images(second, project, 5..<10)
        try second.close()
        let log = Cluster.log(address, store: a)
        // The rows from position 7 on rewritten by `change`, each hash made again after the one before, the head row too:
        // a log that chains from a's head (position 6) to its own head, and breaks a rule at position 7.
        func forge(_ change: (ExportedEvent) -> ExportedEvent) throws {
            var previous = try #require(try log.event(at: 6)).hash
            for position in UInt64(7)...11 {
                let event = change(try #require(try log.event(at: position)))
                let hash = event.expectedHash(after: previous)
                _ = try postgres.sql(
                    """
                    UPDATE reel_events SET version = \(event.version), recorded_at = \(event.recordedAtMilliseconds),
                        hash = decode('\(Envelope.hex(hash))', 'hex') WHERE position = \(position)
                    """)
                previous = hash
            }
            _ = try postgres.sql("UPDATE reel_log SET head_hash = decode('\(Envelope.hex(previous))', 'hex')")
        }
        func with(_ event: ExportedEvent, version: UInt64? = nil, recordedAt: Int64? = nil) -> ExportedEvent {
            ExportedEvent(
                position: event.position, stream: event.stream, version: version ?? event.version, id: event.id, type: event.type,
                recordedAtMilliseconds: recordedAt ?? event.recordedAtMilliseconds, payload: event.payload, metadata: event.metadata,
                hash: event.hash)
        }
        let original = try (UInt64(7)...11).map { try #require(try log.event(at: $0)) }
        for (change, rule) in [
            ({ (event: ExportedEvent) in with(event, version: event.version + 1) }, "version 8 of stream"),
            ({ (event: ExportedEvent) in with(event, recordedAt: event.recordedAtMilliseconds - 86_400_000) }, "recorded_at goes backwards"),
        ] {
            try forge(change)
            #expect {
                try Self.node(a, postgres).close()
            } throws: { error in
                "\(error)".contains("refused: its event at position 7") && "\(error)".contains(rule) && "\(error)".contains("is kept")
            }
            let replica = try Self.replica(a)
            #expect(try replica.head() == 6)
            #expect(try replica.verify().isEmpty)
            try replica.close()
            // Restored as it was, the log is taken in again.
            try forge { event in original[Int(event.position - 7)] }
        }
        let node = try Self.node(a, postgres)
        #expect(try node.store.head() == 11)
        #expect(try node.store.verify().isEmpty)
        try node.close()
    }

    @Test("the read that follows the lock: from any replica head, at most the limit, never past the head (also one set back), the replica's failure its own, and the head's event checked even when it is not among the events returned")
    func readUnderTheLock() async throws {
        let postgres = try PostgresServer()
        defer { postgres.stop() }
        let address = try PostgresAddress(postgres.url)
        _ = try Cluster.initialize(address)
        let path = Self.temporaryStore()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let project = UUID()
        let node = try Self.node(path, postgres)
        try await node.append(.projectCreated(ProjectCreated(projectID: project, title: "Lock")))
        try await Self.images(node, project, 0..<29)
        let recorded = try node.store.events(from: 1, limit: 100).map(ExportedEvent.init)
        try node.close()
        let head = try #require(recorded.last)
        #expect(head.position == 30)
        let log = Cluster.log(address, store: path)
        for local in [UInt64(0), 1, 5, 20, 28, 29, 30, 31, 1_000] {
            for limit in [0, 1, 2, 10, 100] {
                let (locked, events) = try log.beginGroup(limit: limit) { local }
                log.abandonGroup()
                #expect(locked == LogHead(position: head.position, hash: head.hash))
                let expected = limit == 0 ? [] : Array(recorded.filter { $0.position > local }.prefix(limit))
                #expect(events == expected, "from \(local), at most \(limit)")
            }
        }
        // A head row set back (rows past it left behind): nothing past the head is read as the log's.
        func setHead(_ position: UInt64) throws {
            let hash = recorded[Int(position) - 1].hash
            _ = try postgres.sql("UPDATE reel_log SET head_position = \(position), head_hash = decode('\(Envelope.hex(hash))', 'hex')")
        }
        try setHead(25)
        let (setBack, below) = try log.beginGroup(limit: 100) { 20 }
        log.abandonGroup()
        #expect(setBack.position == 25)
        #expect(below.map(\.position) == Array(21...25))
        try setHead(30)
        // The replica's own failure, told when the lock is held, is its own: not the log's.
        struct ReplicaFailure: Error {}
        #expect(throws: ReplicaFailure.self) {
            _ = try log.beginGroup(limit: 5) { throw ReplicaFailure() }
        }
        // The event before the head altered: refused, whatever the replica's head, also when the read's events end
        // far before the head.
        _ = try postgres.sql("UPDATE reel_events SET hash = decode('\(Envelope.hex([UInt8](repeating: 7, count: 32)))', 'hex') WHERE position = 29")
        for local in [UInt64(0), 10, 30] {
            #expect {
                _ = try log.beginGroup(limit: 5) { local }
            } throws: { error in
                "\(error)".contains("position 30") && "\(error)".contains("does not give its own hash")
            }
        }
        // The head's own event gone: refused as a head the log does not hold.
        _ = try postgres.sql("DELETE FROM reel_events WHERE position = 30")
        #expect {
            _ = try log.beginGroup(limit: 5) { 0 }
        } throws: { error in
            "\(error)".contains("its head row says it holds position 30, and it has no event there")
        }
        let replica = try Self.replica(path)
        #expect(try replica.head() == 30)
        #expect(try replica.verify().isEmpty)
        try replica.close()
    }

    @Test("event metadata through the log's column: every string back exactly, also as earlier versions wrote it")
    func metadataColumn() throws {
        let seed = ProcessInfo.processInfo.environment["REEL_TEST_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1 ... .max)
        print("metadataColumn: seed \(seed) (set REEL_TEST_SEED=\(seed) to repeat the run)")
        var generator = SeededGenerator(seed: seed)
        let pool: [Character] = ["\u{FEFF}", "\u{2028}", "\u{2029}", "\u{0}", "\u{1}", "\u{1F}", "\u{7F}", "\"", "\\", "/", "\n", "\r", "\t", "a",
            "é", "e\u{301}", "🎬", "中", " ", "{", "}", ":", ","]
        func text() -> String? {
            if Int.random(in: 0..<5, using: &generator) == 0 { return nil }
            return String((0..<Int.random(in: 0..<12, using: &generator)).map { _ in pool.randomElement(using: &generator)! })
        }
        for _ in 0..<2_000 {
            let metadata = EventMetadata(actor: text(), correlationID: text(), causationID: text())
            let encoded = MetadataCodec.encode(metadata)
            #expect(try MetadataCodec.decode(encoded, position: 1) == metadata, "\(String(decoding: encoded, as: UTF8.self))")
            // As JSONSerialization wrote the column before.
            var object: [String: String] = [:]
            object["actor"] = metadata.actor
            object["causation_id"] = metadata.causationID
            object["correlation_id"] = metadata.correlationID
            let earlier = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
            #expect(try MetadataCodec.decode(Array(earlier), position: 1) == metadata)
        }
        #expect(MetadataCodec.encode(EventMetadata(actor: "\u{FEFF}a\"b")) == Array(#"{"actor":"\#u{FEFF}a\"b"}"#.utf8))
        for damaged in ["", "{", "[]", #"{"actor":1}"#, #"{"actor":"a"} x"#, #"{"actor":"\ud800"}"#, "{\"actor\":\"\u{1}\"}"] {
            #expect(throws: PostgresLog.DamagedRow.self) { try MetadataCodec.decode(Array(damaged.utf8), position: 7) }
        }
    }
}

/// SplitMix64, for seeded property tests.
private struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
