import Foundation
@testable import LMDB
import Testing

@testable import EventStore

/// Leftovers of killed processes, another program's environment, a full disk: each found out and repaired or refused
/// with a clear error.
@Suite("Faults: stale readers, foreign environments, a full disk")
struct FaultTests {
    @Test("reader slots of a process killed inside read transactions are cleared, and the store works on")
    func staleReaders() async throws {
        try await withStore { store, directory in
            for i in 0..<10 { try await store.append(sampleEvent(stream: "s-\(i % 3)")) }
            let path = directory.path
            // A second real process takes every reader slot there is (126, shared by every process of the store) and is
            // killed with SIGKILL inside its read transactions. This process keeps the store open meanwhile, so LMDB
            // never resets the lock file: the dead slots stay taken until someone runs mdb_reader_check.
            await #expect(processExitsWith: .signal(SIGKILL)) { [path = path as String] in
                try FaultTests.takeReaderSlotsAndDie(path, threads: 130)
            }
            // This process still has the slots of the read transactions it keeps for reuse (`ReaderGate.maxIdle`), so
            // a few reads at once need more: the first that finds MDB_READERS_FULL releases the kept ones, then clears
            // the dead slots, and every read goes on.
            #expect(try FaultTests.concurrentReads(store, count: ReaderGate.maxIdle + 2) == Array(repeating: 10, count: ReaderGate.maxIdle + 2))
            #expect(store.environment.clearStaleReaders() == 0, "the dead slots were cleared already")

            // One dead reader (it would pin its snapshot's pages, so the file grows), then another process opens the
            // store: its open clears the slot.
            await #expect(processExitsWith: .signal(SIGKILL)) { [path = path as String] in
                try FaultTests.takeReaderSlotsAndDie(path, threads: 1)
            }
            await #expect(processExitsWith: .success) { [path = path as String] in
                let other = try Store.open(at: path, projections: [EventTypeIndex()])
                // 0: the open has cleared it (mdb_reader_check at open); 1 would mean it was left.
                let left = other.environment.clearStaleReaders()
                guard left == 0, try other.head() == 10 else { exit(1) }
            }
            #expect(store.environment.clearStaleReaders() == 0)
            try await store.append(sampleEvent(stream: "after"))
            #expect(try store.head() == 11)
        }
    }

    /// The head as seen by `count` read transactions open at once, each on its own thread.
    static func concurrentReads(_ store: Store, count: Int) throws -> [UInt64] {
        let inside = DispatchGroup()
        let done = DispatchGroup()
        let heads = Locked([Result<UInt64, any Error>]())
        for _ in 0..<count {
            inside.enter()
            done.enter()
            Thread.detachNewThread {
                var entered = false
                let head = Result {
                    try store.read { snapshot in
                        entered = true
                        inside.leave()
                        inside.wait()  // every read is open before any ends
                        return try snapshot.head()
                    }
                }
                if !entered { inside.leave() }
                heads.withLock { $0.append(head) }
                done.leave()
            }
        }
        done.wait()
        return try heads.withLock { $0 }.map { try $0.get() }
    }

    /// Opens the store, starts read transactions on `threads` threads (those past the last free slot fail with
    /// `MDB_READERS_FULL`), and kills this process with SIGKILL while the others are inside theirs.
    static func takeReaderSlotsAndDie(_ path: String, threads: Int) throws {
        let store = try Store.open(at: path, projections: [EventTypeIndex()])
        let started = DispatchSemaphore(value: 0)
        for _ in 0..<threads {
            Thread.detachNewThread {
                do {
                    try store.read { _ in
                        started.signal()
                        Thread.sleep(forTimeInterval: 60)
                    }
                } catch {
                    started.signal()
                }
            }
        }
        for _ in 0..<threads { started.wait() }
        kill(getpid(), SIGKILL)
    }

    @Test("another program's LMDB environment is refused, and nothing is written to it")
    func foreignEnvironment() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        try FileManager.default.createDirectory(atPath: directory.path, withIntermediateDirectories: true)
        do {
            let environment = try Environment(path: directory.path)
            try environment.write { txn in
                _ = try txn.put(txn.openDatabase(nil), Array("their-key".utf8), Array("their value".utf8))
            }
        }
        let file = URL(fileURLWithPath: directory.path + "/data.mdb")
        let before = try Data(contentsOf: file)
        var readOnly = StoreOptions()
        readOnly.readOnly = true
        for options in [StoreOptions(), readOnly] {
            #expect {
                try Store.open(at: directory.path, projections: [EventTypeIndex()], options: options)
            } throws: { error in
                guard case let .notAStore(path, reason) = error as? EventStoreError else { return false }
                return path == directory.path && reason.contains("another program's LMDB environment")
            }
        }
        #expect(try Data(contentsOf: file) == before, "data.mdb is unchanged")
    }

    @Test(
        "a full disk fails appends with a clear error; nothing acknowledged is lost; writes resume once space is freed",
        .enabled(if: getuid() == 0, "mounting the small tmpfs it fills needs root")
    )
    func diskFull() async throws {
        let mountPoint = TemporaryDirectory("tmpfs")
        try FileManager.default.createDirectory(atPath: mountPoint.path, withIntermediateDirectories: true)
        defer { mountPoint.remove() }
        guard mount("tmpfs", mountPoint.path, "tmpfs", 0, "size=8m") == 0 else {
            print("FaultTests.diskFull skipped: mount -t tmpfs failed: \(String(cString: strerror(errno)))")
            return
        }
        defer { umount2(mountPoint.path, Int32(MNT_DETACH)) }
        let path = mountPoint.path + "/store"
        let filler = mountPoint.path + "/filler"

        // The first open, released before the reopen (one open per directory per process).
        var acknowledged: [Acknowledged] = []
        var lastPosition: UInt64 = 0
        do {
            let store = try Store.open(at: path, projections: [EventTypeIndex()])
            // Leave about 2.5 MB: room for a few hundred commits.
            try Data(repeating: 0x55, count: 5_500_000).write(to: URL(fileURLWithPath: filler))

            // Four tasks append batches of 1-4 events of 2-3 KB through group commit until each sees its first failure.
            let outcomes = await withTaskGroup(of: ([Acknowledged], (any Error)?).self) { group in
                for task in 0..<4 {
                    group.addTask {
                        var acknowledged: [Acknowledged] = []
                        for round in 0..<10_000 {
                            let events = (0..<(1 + round % 4)).map { i in
                                sampleEvent(stream: "task-\(task)-\(i)", size: 2_000 + (round * 37 + i * 101) % 1_000)
                            }
                            do {
                                let result = try await store.append(events)
                                for (event, position) in zip(events, result.positions) {
                                    acknowledged.append(Acknowledged(id: event.id, position: position, payload: event.payload))
                                }
                            } catch {
                                return (acknowledged, error)
                            }
                        }
                        return (acknowledged, nil)
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            acknowledged = outcomes.flatMap(\.0)
            let errors = outcomes.compactMap(\.1)
            #expect(errors.count == 4, "every task ran into the full disk")
            #expect(acknowledged.count > 100, "appends went through until the disk was full")
            for error in errors {
                let lmdb: LMDBError? =
                    switch error as? EventStoreError {
                    case let .storage(lmdb)?: lmdb;
                    default: error as? LMDBError
                    }
                #expect(lmdb?.kind == .system(ENOSPC), "\(error)")
                #expect("\(error)".contains("the disk holding \(path) is full"), "\(error)")
            }

            // Nothing acknowledged is lost, in this process and after a reopen.
            try Self.expectAcknowledged(acknowledged, in: store)
            try expectSound(store)

            // Space freed: the same open store takes writes again, without a reopen.
            try FileManager.default.removeItem(atPath: filler)
            let after = try await store.append([sampleEvent(stream: "after-1"), sampleEvent(stream: "after-2")])
            let head = try store.head()
            #expect(after.positions == [head - 1, head])
            lastPosition = head
            try store.close()
        }

        let reopened = try Store.open(at: path, projections: [EventTypeIndex()])
        try Self.expectAcknowledged(acknowledged, in: reopened)
        #expect(try reopened.head() == lastPosition)
        try await reopened.append(sampleEvent(stream: "after-reopen"))
        try expectSound(reopened)
        try reopened.close()
    }

    struct Acknowledged: Sendable {
        let id: UUID
        let position: UInt64
        let payload: [UInt8]
    }

    /// Every acknowledged event is stored at its position with its content.
    static func expectAcknowledged(_ acknowledged: [Acknowledged], in store: Store, sourceLocation: SourceLocation = #_sourceLocation)
        throws
    {
        for event in acknowledged {
            let stored = try store.event(id: event.id)
            #expect(
                stored?.position == event.position && stored?.payload == event.payload, "acknowledged event at \(event.position)",
                sourceLocation: sourceLocation)
        }
    }
}
