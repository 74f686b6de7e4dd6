import EventStore
import Foundation
import LMDB
import Testing

@Suite("Backup: a consistent copy while appends go on")
struct BackupTests {
    @Test("a backup taken while appending is a sound store holding exactly a prefix of the log, as of one snapshot", arguments: [false, true])
    func backupWhileAppending(compact: Bool) async throws {
        try await withStore { store, directory in
            for i in 0..<2_000 { try await store.append(sampleEvent(stream: "s-\(i % 13)", type: i.isMultiple(of: 3) ? "third" : "other", size: 300)) }
            // Churn first, so that the file holds free pages a compact copy leaves out.
            try store.rebuild()
            let stop = Locked(false)
            let writer = Task {
                var i = 0
                while !stop.withLock({ $0 }) {
                    try await store.append((0..<5).map { _ in sampleEvent(stream: "w-\(i % 7)", size: 200) })
                    i += 1
                }
            }
            var copies: [(path: String, backup: Store.Backup)] = []
            defer { for copy in copies { try? FileManager.default.removeItem(atPath: copy.path) } }
            // Copies taken one after another while the writer appends: each a snapshot of its own moment.
            while copies.count < 4 {
                let seen = try store.head()
                while try store.head() == seen { try await Task.sleep(for: .milliseconds(1)) }  // the writer is going
                let path = directory.path + "-backup-\(copies.count)"
                copies.append((path, try store.backup(to: path, compact: compact)))
            }
            stop.withLock { $0 = true }
            try await writer.value
            let head = try store.head()
            // Each copy waited for the writer to move on since the one before: they were taken while it appended.
            let positions = copies.map(\.backup.position)
            #expect(positions.first! > 2_000 && positions.last! <= head, "\(positions), head \(head)")
            #expect(zip(positions, positions.dropFirst()).allSatisfy { $0 < $1 }, "\(positions)")
            for (path, backup) in copies {
                #expect(backup.bytes > 0)
                let copy = try Store.open(at: path, projections: [EventTypeIndex()])
                #expect(try copy.head() == backup.position, "the copy holds what the backup reported")
                let original = try store.events(from: 1, limit: Int(backup.position))
                #expect(try copy.events(from: 1, limit: 100_000) == original, "the same events, positions, hashes")
                // Its projections are as of the same snapshot as its log (a fold from scratch agrees), and it takes appends.
                try expectSound(copy)
                #expect(try copy.read { try EventTypeIndex.positions(ofType: "third", in: $0) }.count == 667)
                try await copy.append(sampleEvent(stream: "after-backup"))
                #expect(try copy.head() == backup.position + 1)
                try expectSound(copy)
                try copy.close()
            }
            try expectSound(store)
        }
    }

    @Test("a backup after another process grew the map adopts the new size (MDB_MAP_RESIZED) and copies everything")
    func backupAfterAnotherProcessGrewTheMap() async throws {
        var options = StoreOptions()
        options.initialMapSize = 1 << 20
        try await withStore(options: options) { store, directory in
            try await store.append(sampleEvent(stream: "here"))
            // The driver opens the store with a 1 GiB map and writes past the 1 MiB this process has mapped: the copy's
            // read transaction meets MDB_MAP_RESIZED and must adopt the new size.
            try #require(try driverAppend(directory.path, count: 20_000, prefix: "there", batch: 100) == 0)
            let path = directory.path + "-grown"
            defer { try? FileManager.default.removeItem(atPath: path) }
            let backup = try store.backup(to: path)
            #expect(backup.position == 20_001)
            let copy = try Store.open(at: path, projections: [EventTypeIndex()])
            #expect(try copy.events(from: 1, limit: 30_000) == store.events(from: 1, limit: 30_000))
            try expectSound(copy)
            try copy.close()
        }
    }

    @Test("a backup that fails removes the file it made, and only that")
    func failedBackupRemovesItsCopy() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store.open(at: directory.path, projections: [EventTypeIndex()])
        try await store.append(sampleEvent(stream: "a"))
        try store.close()
        let path = directory.path + "-closed"
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(throws: EventStoreError.self) { try store.backup(to: path) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: path).isEmpty, "no partial copy left")
    }

    @Test("a compact backup leaves out free pages; a plain one copies the file as it is")
    func compactIsSmaller() async throws {
        try await withStore { store, directory in
            for i in 0..<3_000 { try await store.append(sampleEvent(stream: "s-\(i % 50)", size: 500)) }
            try store.rebuild()  // frees the old generation's pages
            let plain = directory.path + "-plain", compact = directory.path + "-compact"
            defer {
                try? FileManager.default.removeItem(atPath: plain)
                try? FileManager.default.removeItem(atPath: compact)
            }
            let full = try store.backup(to: plain)
            #expect(try FileManager.default.contentsOfDirectory(atPath: plain).sorted() == ["data.mdb", "lock.mdb"], "the copy under its name, no partial file")
            let small = try store.backup(to: compact, compact: true)
            #expect(full.position == 3_000 && small.position == 3_000)
            #expect(small.bytes < full.bytes, "compact \(small.bytes) bytes, plain \(full.bytes)")
            for path in [plain, compact] {
                let copy = try Store.open(at: path, projections: [EventTypeIndex()])
                #expect(try copy.head() == 3_000)
                try expectSound(copy)
                try copy.close()
            }
        }
    }

    @Test("a backup never replaces a store: into a directory holding one it fails and leaves it as it was")
    func neverReplaces() async throws {
        try await withStore { store, directory in
            try await store.append(sampleEvent(stream: "a"))
            let target = TemporaryDirectory()
            defer { target.remove() }
            let other = try Store.open(at: target.path, projections: [EventTypeIndex()])
            try await other.append((0..<3).map { _ in sampleEvent(stream: "other") })
            try other.close()
            let before = try Data(contentsOf: URL(fileURLWithPath: target.path + "/data.mdb"))
            #expect(throws: EventStoreError.self) { try store.backup(to: target.path) }
            #expect(try Data(contentsOf: URL(fileURLWithPath: target.path + "/data.mdb")) == before)
            let reopened = try Store.open(at: target.path, projections: [EventTypeIndex()])
            #expect(try reopened.head() == 3)
            try expectSound(reopened)
            try reopened.close()
            try expectSound(store)
        }
    }
}
