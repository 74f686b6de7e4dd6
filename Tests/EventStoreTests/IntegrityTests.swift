import Foundation
import LMDB
import Testing
@testable import EventStore

@Suite("Integrity, growth and failure")
struct IntegrityTests {
    @Test("a flipped byte in a stored record is detected and its position named")
    func tamperDetection() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        do {
            let store = try Store.open(at: directory.path)
            for i in 0..<40 {
                let marker = i == 25 ? "TAMPER-ME-HERE" : "plain-\(i)"
                try await store.append(NewEvent(stream: "s-\(i % 4)", type: "t", payload: Array("{\"m\":\"\(marker)\"}".utf8)))
            }
            try store.close()
        }
        let file = directory.path + "/data.mdb"
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
        let marker = Array("TAMPER-ME-HERE".utf8)
        // LMDB copies pages on write, so stale copies of the record may sit in free pages: flip the byte in every copy.
        let offsets = (0...(bytes.count - marker.count)).filter { bytes[$0] == marker[0] && bytes[$0..<$0 + marker.count].elementsEqual(marker) }
        #expect(!offsets.isEmpty)
        for offset in offsets { bytes[offset + 3] ^= 0x01 }
        try Data(bytes).write(to: URL(fileURLWithPath: file))

        let store = try Store.open(at: directory.path, options: {
            var options = StoreOptions()
            options.readOnly = true
            return options
        }())
        let problems = try store.verify()
        #expect(problems.contains { $0.location == .position(26) && $0.message.contains("hash mismatch") }, "\(problems)")
        #expect(problems.allSatisfy { $0.location == .position(26) })
        try store.close()
    }

    @Test("verify keeps few streams in memory and checks the others through their back-links, finding the same problems")
    func verifyWithFewStreamsKept() async throws {
        try await withStore { store, _ in
            for i in 0..<300 {
                try await store.append(sampleEvent(stream: "s-\(i * 7 % 23)"))
            }
            #expect(try store.read { try $0.verify(keepingStreams: 2) }.isEmpty)
            // A stream head that no longer names the stream's last event, and one whose version is off.
            let heads = try store.read { snapshot in
                try ["s-3", "s-4"].map { try #require(try store.layout.streamHead($0, snapshot.txn)) }
            }
            try store.environment.write { txn in
                for (name, head, change) in [("s-3", heads[0], (version: UInt64(0), last: UInt64(1))), ("s-4", heads[1], (version: 1, last: 0))] {
                    var value = ByteWriter(capacity: 24)
                    value.u64(head.number)
                    value.u64(head.version + change.version)
                    value.u64(head.lastPosition - change.last)
                    _ = try txn.put(store.layout.streams, Array(name.utf8), value.bytes)
                }
            }
            for kept in [2, 100_000] {
                let problems = try store.read { try $0.verify(keepingStreams: kept) }
                #expect(problems.contains { $0.location == .stream("s-3") }, "kept \(kept): \(problems)")
                #expect(problems.contains { $0.location == .stream("s-4") }, "kept \(kept): \(problems)")
                #expect(problems.contains { $0.message.contains("add up to") }, "kept \(kept): \(problems)")
            }
            // Put them back, so the test's closing invariant check holds.
            try store.environment.write { txn in
                for (name, head) in zip(["s-3", "s-4"], heads) {
                    var value = ByteWriter(capacity: 24)
                    value.u64(head.number)
                    value.u64(head.version)
                    value.u64(head.lastPosition)
                    _ = try txn.put(store.layout.streams, Array(name.utf8), value.bytes)
                }
            }
        }
    }

    @Test("the map grows by itself far past its initial size, while readers keep reading")
    func mapGrowth() async throws {
        var options = StoreOptions()
        options.initialMapSize = 1 << 20
        try await withStore(options: options) { store, _ in
            let reading = Task.detached {
                var reads = 0
                while !Task.isCancelled {
                    let events = try store.events(from: 1, limit: 20)
                    #expect(events.map(\.position) == Array(1...UInt64(events.count)))
                    reads += 1
                    // Lets the other tasks of the pool run (see the rebuild test's reader).
                    await Task.yield()
                }
                return reads
            }
            for round in 0..<60 {
                let batch = (0..<20).map { i in sampleEvent(stream: "big-\(i % 4)", size: 20_000 + round) }
                try await store.append(batch)
            }
            reading.cancel()
            #expect(try await reading.value > 0)
            #expect(store.environment.info().mapSize >= 16 << 20, "the map grew from 1 MiB to hold ~24 MB")
            #expect(try store.head() == 1_200)
        }
    }

    @Test("a second real process appends at the same time: nothing lost, positions gapless, chain intact")
    func secondProcess() async throws {
        try await withStore { store, directory in
            let driver = Process()
            driver.executableURL = URL(fileURLWithPath: builtExecutable("reel-test-driver"))
            driver.arguments = ["append", directory.path, "2000", "other", "10"]
            let output = Pipe()
            driver.standardOutput = output
            try driver.run()
            let mine = try await withThrowingTaskGroup(of: [UUID].self) { group in
                for task in 0..<4 {
                    group.addTask {
                        var ids: [UUID] = []
                        for i in 0..<50 {
                            let batch = (0..<10).map { _ in sampleEvent(stream: "mine-\((task + i) % 8)") }
                            try await store.append(batch)
                            ids += batch.map(\.id)
                        }
                        return ids
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            driver.waitUntilExit()
            #expect(driver.terminationStatus == 0)
            let acks = text.split(separator: "\n").filter { $0.hasPrefix("ack ") }.map { $0.split(separator: " ") }
            #expect(acks.count == 2000)
            #expect(text.hasSuffix("done\n"))
            for ack in acks {
                let id = try #require(UUID(uuidString: String(ack[2])))
                let stored = try #require(try store.event(id: id))
                #expect(stored.position == UInt64(ack[1]))
            }
            for id in mine { #expect(try store.event(id: id) != nil) }
            #expect(try store.head() == 4000)
            // The other process's events reached this process's projection too.
            #expect(try store.read { try EventTypeIndex.positions(ofType: "driver.appended", in: $0) }.count == 2000)
        }
    }

    @Test("a map grown by another process is adopted here (MDB_MAP_RESIZED), for reads and writes")
    func mapResizedByAnotherProcess() async throws {
        var options = StoreOptions()
        options.initialMapSize = 512 * 1024
        try await withStore(options: options) { store, directory in
            try await store.append(sampleEvent(stream: "before"))
            let before = store.environment.info().mapSize
            // The driver opens the store with the default 1 GiB map and writes well past 512 KiB.
            #expect(try driverAppend(directory.path, count: 6_000, prefix: "big", batch: 100) == 0)
            #expect(try store.events(from: 1, limit: 10_000).count == 6_001)
            try await store.append(sampleEvent(stream: "after"))
            #expect(store.environment.info().mapSize > before, "this process adopted the larger map")
            #expect(try store.head() == 6_002)
        }
    }

    @Test("a store written by a newer format is refused with a clear error")
    func newerFormat() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        do {
            let store = try Store.open(at: directory.path)
            try await store.append(sampleEvent(stream: "s"))
            try store.close()
        }
        do {
            let environment = try Environment(path: directory.path)
            try environment.write { txn in
                let meta = try txn.openDatabase("reel.meta")
                try txn.put(meta, Array("format".utf8), [0, 0, 0, 99])
            }
        }
        #expect(throws: EventStoreError.newerFormat(found: 99, supported: 1)) { try Store.open(at: directory.path) }
    }

    @Test("LMDB failures surface as typed errors, never traps")
    func typedErrors() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        try FileManager.default.createDirectory(atPath: directory.path, withIntermediateDirectories: true)
        try Data(repeating: 0xAB, count: 64 * 1024).write(to: URL(fileURLWithPath: directory.path + "/data.mdb"))
        #expect {
            try Store.open(at: directory.path)
        } throws: { error in
            guard case let .notAStore(path, reason) = error as? EventStoreError else { return false }
            return path == directory.path && reason.contains("mdb_env_open")
        }
        var readOnly = StoreOptions()
        readOnly.readOnly = true
        #expect(throws: EventStoreError.notAStore(path: directory.path + "/missing", reason: "no data.mdb in it")) {
            try Store.open(at: directory.path + "/missing", options: readOnly)
        }
        try await withStore { store, other in
            #expect {
                try Store.open(at: other.path)
            } throws: { error in
                guard case let .storage(lmdb) = error as? EventStoreError else { return false }
                return lmdb.kind == .system(EBUSY)
            }
            try await store.append(sampleEvent(stream: "s"))
        }
    }

    @Test("close lets go of the directory at once: it reopens while the old instance is still referenced, which then fails cleanly")
    func closeReleasesTheEnvironment() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let first = try Store.open(at: directory.path)
        try await first.append(sampleEvent(stream: "s"))
        try first.close()
        try first.close()  // a second close does nothing
        #expect(throws: EventStoreError.closed) { try first.head() }
        #expect(throws: EventStoreError.closed) { try first.verify() }
        let second = try Store.open(at: directory.path)
        try await second.append(sampleEvent(stream: "s"))
        #expect(try second.head() == 2)
        try expectSound(second)
        try second.close()
        withExtendedLifetime(first) {}
    }

    @Test("appends to a closed or read-only store fail cleanly")
    func closedAndReadOnly() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        do {
            let store = try Store.open(at: directory.path)
            try await store.append(sampleEvent(stream: "s"))
            try store.close()
            await #expect(throws: EventStoreError.closed) { try await store.append(sampleEvent(stream: "s")) }
        }
        var options = StoreOptions()
        options.readOnly = true
        let store = try Store.open(at: directory.path, options: options)
        await #expect(throws: EventStoreError.self) { try await store.append(sampleEvent(stream: "s")) }
        #expect(try store.head() == 1)
        try expectSound(store)
    }
}
