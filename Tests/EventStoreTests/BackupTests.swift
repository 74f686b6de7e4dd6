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
            let writer = Task {
                for i in 0..<400 { try await store.append((0..<5).map { _ in sampleEvent(stream: "w-\(i % 7)", size: 200) }) }
            }
            let copyPath = directory.path + "-backup"
            defer { try? FileManager.default.removeItem(atPath: copyPath) }
            let backup = try store.backup(to: copyPath, compact: compact)
            try await writer.value
            #expect(backup.position >= 2_000 && backup.position <= 4_000)
            #expect(backup.bytes > 0)

            let copy = try Store.open(at: copyPath, projections: [EventTypeIndex()])
            #expect(try copy.head() == backup.position, "the copy holds what the backup reported")
            let original = try store.events(from: 1, limit: Int(backup.position))
            let copied = try copy.events(from: 1, limit: 10_000)
            #expect(copied == original, "the same events, positions, hashes")
            // Its projections are as of the same snapshot as its log (a fold from scratch agrees), and it takes appends.
            try expectSound(copy)
            #expect(try copy.read { try EventTypeIndex.positions(ofType: "third", in: $0) }.count == 667)
            try await copy.append(sampleEvent(stream: "after-backup"))
            #expect(try copy.head() == backup.position + 1)
            try expectSound(copy)
            try copy.close()
            try expectSound(store)
        }
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
