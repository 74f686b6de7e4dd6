import Foundation
import LMDB
import Testing

private func temporaryPath() throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("reel-lmdb-\(UUID().uuidString.prefix(8))").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// An environment whose map starts at 256 KiB, so that writes of a few megabytes grow it, and its database "d".
private func smallMapEnvironment(_ path: String) throws -> (Environment, Database) {
    var options = Environment.Options()
    options.mapSize = 256 * 1024
    let environment = try Environment(path: path, options: options)
    return (environment, try environment.openDatabases { try $0.openDatabase("d", flags: .create) })
}

/// A big-endian u64 value.
private func bigEndianU64(_ bytes: UnsafeRawBufferPointer) -> UInt64 { bytes.reduce(0) { $0 << 8 | UInt64($1) } }

@Suite("LMDB wrapper")
struct EnvironmentTests {
    @Test("put, get, cursor order and delete")
    func basics() throws {
        let path = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let environment = try Environment(path: path)
        let database = try environment.openDatabases { try $0.openDatabase("things", flags: .create) }
        try environment.write { txn in
            for key in ["b", "a", "c"] { try txn.put(database, Array(key.utf8), Array("value-\(key)".utf8)) }
            #expect(try txn.put(database, Array("a".utf8), [1], flags: .noOverwrite) == false)
        }
        let keys = try environment.read { txn in
            var keys: [String] = []
            try txn.withCursor(database) { cursor in
                try cursor.forEach { key, _ in
                    keys.append(String(decoding: key, as: UTF8.self))
                    return true
                }
            }
            #expect(try txn.get(database, Array("b".utf8)) == Array("value-b".utf8))
            return keys
        }
        #expect(keys == ["a", "b", "c"])
        let deleted = try environment.write { txn in try txn.delete(database, Array("b".utf8)) }
        #expect(deleted)
        #expect(try environment.read { try $0.get(database, Array("b".utf8)) } == nil)
    }

    @Test("putMultiple stores many fixed-size values of one key in one call, in order, and is refused where values are not fixed")
    func putMultiple() throws {
        let path = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let environment = try Environment(path: path)
        let (fixed, plain) = try environment.openDatabases { txn in
            (try txn.openDatabase("fixed", flags: [.create, .duplicateSort, .duplicateFixed]), try txn.openDatabase("plain", flags: .create))
        }
        func values(_ numbers: [UInt64]) -> [UInt8] { numbers.flatMap { withUnsafeBytes(of: $0.bigEndian, Array.init) } }
        let key = Array("k".utf8)
        try environment.write { txn in
            try txn.withCursor(fixed) { cursor in
                try key.withUnsafeBytes { key in
                    // Appended in two calls, then three values that fall between the stored ones (no append flag).
                    try values([1, 5, 9]).withUnsafeBytes { try cursor.putMultiple(key, values: $0, count: 3, flags: .appendDuplicate) }
                    try values([12, 20]).withUnsafeBytes { try cursor.putMultiple(key, values: $0, count: 2, flags: .appendDuplicate) }
                    try values([2, 10, 11]).withUnsafeBytes { try cursor.putMultiple(key, values: $0, count: 3) }
                    try values([]).withUnsafeBytes { try cursor.putMultiple(key, values: $0, count: 0) }
                }
            }
        }
        let stored = try environment.read { txn in
            var stored: [UInt64] = []
            try txn.withCursor(fixed) { cursor in
                var more = try cursor.move(.first) { _, value in stored.append(bigEndianU64(value)) } != nil
                while more { more = try cursor.move(.nextDuplicate) { _, value in stored.append(bigEndianU64(value)) } != nil }
                #expect(try cursor.valueCount() == 8)
            }
            return stored
        }
        #expect(stored == [1, 2, 5, 9, 10, 11, 12, 20])
        // Many values in one call, as a bulk load's group makes: past the few that fit in the key's page, LMDB moves them
        // into a tree of their own and splits its pages as it goes.
        let many = (0..<10_000).map { UInt64(100 + 3 * $0) }
        try environment.write { txn in
            try txn.withCursor(fixed) { cursor in
                try Array("m".utf8).withUnsafeBytes { key in
                    try values(many).withUnsafeBytes { try cursor.putMultiple(key, values: $0, count: many.count, flags: .appendDuplicate) }
                }
            }
        }
        func all(_ key: String) throws -> [UInt64] {
            try environment.read { txn in
                var found: [UInt64] = []
                try txn.withCursor(fixed) { cursor in
                    try Array(key.utf8).withUnsafeBytes { key in
                        var more = try cursor.seek(exactly: key) { _, value in found.append(bigEndianU64(value)) } != nil
                        while more { more = try cursor.move(.nextDuplicate) { _, value in found.append(bigEndianU64(value)) } != nil }
                    }
                }
                return found
            }
        }
        #expect(try all("m") == many)
        // A value out of order fails the call after the values before it went in: the transaction writes nothing.
        #expect(throws: LMDBError.self) {
            try environment.write { txn in
                try txn.withCursor(fixed) { cursor in
                    try Array("m".utf8).withUnsafeBytes { key in
                        try values([40_000, 40_001, 3]).withUnsafeBytes { try cursor.putMultiple(key, values: $0, count: 3, flags: .appendDuplicate) }
                    }
                }
            }
        }
        #expect(try all("m") == many)
        #expect(try environment.read { try $0.statistics(fixed).entries } == 8 + many.count)
        // In a database without fixed-size duplicates LMDB refuses it, and the transaction writes nothing.
        let refused = #expect(throws: LMDBError.self) {
            try environment.write { txn in
                try txn.withCursor(plain) { cursor in
                    try key.withUnsafeBytes { key in
                        try values([1, 2]).withUnsafeBytes { try cursor.putMultiple(key, values: $0, count: 2) }
                    }
                }
            }
        }
        #expect(refused?.code == -30784)  // MDB_INCOMPATIBLE
        #expect(refused?.kind == .incompatible)
        #expect(try environment.read { try $0.statistics(plain).entries } == 0)
        #expect(try environment.read { try $0.statistics(fixed).entries } == 8 + many.count)
    }

    @Test("a write body that throws writes nothing")
    func abortOnThrow() throws {
        struct Stop: Error {}
        let path = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let environment = try Environment(path: path)
        let database = try environment.openDatabases { try $0.openDatabase("d", flags: .create) }
        #expect(throws: Stop.self) {
            try environment.write { txn in
                try txn.put(database, [1], [1])
                throw Stop()
            }
        }
        #expect(try environment.read { try $0.statistics(database).entries } == 0)
    }

    @Test("LMDB errors are typed, with the operation and a remedy")
    func typedErrors() throws {
        let path = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let environment = try Environment(path: path)
        let database = try environment.openDatabases { try $0.openDatabase("d", flags: .create) }
        #expect {
            try environment.write { txn in try txn.put(database, [UInt8](repeating: 7, count: 600), [1]) }
        } throws: { error in
            guard let error = error as? LMDBError else { return false }
            return error.kind == .badValueSize && error.operation == "mdb_put(d)" && error.description.contains("511 bytes")
        }
        #expect(throws: LMDBError.self) { try environment.write { txn in try txn.put(database, [UInt8](), [1]) } }
        #expect(throws: LMDBError.self) { try Environment(path: path + "/does-not-exist") }
        #expect(throws: LMDBError.self) { try environment.openDatabases { try $0.openDatabase("absent") } }
    }

    @Test("writes far past the initial map size grow the map without the caller doing anything")
    func growth() throws {
        let path = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (environment, database) = try smallMapEnvironment(path)
        let value = [UInt8](repeating: 42, count: 3000)
        var runs = 0
        for batch in 0..<100 {
            try environment.write { txn in
                runs += 1
                for i in 0..<100 {
                    try txn.put(database, Array("k\(batch)-\(i)".utf8), value)
                }
            }
        }
        #expect(runs > 100, "some batches hit MDB_MAP_FULL and ran again")
        #expect(environment.info().mapSize > 30 << 20)
        #expect(try environment.read { try $0.statistics(database).entries } == 10_000)
    }

    @Test("kept read transactions see each later commit, survive the map grown by this process and by another, and close; a read that must not wait returns nothing rather than adopt another process's map size")
    func keptReadTransactions() async throws {
        let path = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (environment, database) = try smallMapEnvironment(path)
        @Sendable func count() throws -> Int { try environment.read { try $0.statistics(database).entries } }
        let value = [UInt8](repeating: 42, count: 3000)

        // Each read renews the transaction the one before it left: it sees every commit made in between.
        #expect(try count() == 0)
        for i in 1...5 {
            _ = try environment.write { txn in try txn.put(database, Array("k\(i)".utf8), [UInt8(i)]) }
            #expect(try count() == i)
        }
        // This process grows the map (about 30 MB of values) between reads.
        for batch in 0..<200 {
            _ = try environment.write { txn in
                for i in 0..<50 { try txn.put(database, Array("a\(batch)-\(i)".utf8), value) }
            }
        }
        #expect(environment.info().mapSize > 30 << 20)
        #expect(try count() == 10_005)

        // Another process grows it further: the kept transaction cannot be renewed (MDB_MAP_RESIZED) and a new one
        // adopts the size.
        let sizeBefore = environment.info().mapSize
        await #expect(processExitsWith: .success) { [path = path as String] in
            var options = Environment.Options()
            options.mapSize = 256 * 1024
            let other = try Environment(path: path, options: options)
            let database = try other.openDatabases { try $0.openDatabase("d") }
            for batch in 0..<400 {
                try other.write { txn in
                    for i in 0..<50 { try txn.put(database, Array("b\(batch)-\(i)".utf8), [UInt8](repeating: 7, count: 3000)) }
                }
            }
        }
        // A read that must not wait does not adopt the size: it says so, and a read that may wait adopts it.
        @Sendable func countIfReady() throws -> Int? { try environment.readIfReady { try $0.statistics(database).entries } }
        #expect(try countIfReady() == nil)
        #expect(try count() == 30_005)
        #expect(environment.info().mapSize > sizeBefore)
        #expect(try countIfReady() == 30_005)

        // More readers at once than are kept: every one works, and the surplus is released.
        let counts = Locked([Int]())
        DispatchQueue.concurrentPerform(iterations: 12) { _ in
            if let n = try? count() { counts.withLock { $0.append(n) } }
        }
        #expect(counts.withLock { $0 } == Array(repeating: 30_005, count: 12))

        // Closing releases the kept transactions: the directory opens again at once, and reads of the closed
        // environment fail cleanly.
        environment.close()
        #expect(throws: EnvironmentClosed.self) { try count() }
        #expect(throws: EnvironmentClosed.self) { try countIfReady() }
        let reopened = try Environment(path: path)
        let again = try reopened.openDatabases { try $0.openDatabase("d") }
        #expect(try reopened.read { try $0.statistics(again).entries } == 30_005)
    }
}

extension EnvironmentTests {
    @Test("closing while many threads read: every read either works or fails cleanly, nothing touches the closed map")
    func closeWhileReading() throws {
        for round in 0..<60 {
            let path = try temporaryPath()
            defer { try? FileManager.default.removeItem(atPath: path) }
            let environment = try Environment(path: path)
            let database = try environment.openDatabases { try $0.openDatabase("d", flags: .create) }
            _ = try environment.write { try $0.put(database, [1], [2]) }
            let stop = Locked(false)
            let outcomes = Locked((read: 0, closed: 0, other: 0))
            let group = DispatchGroup()
            for _ in 0..<12 {
                group.enter()
                Thread.detachNewThread {
                    while !stop.withLock({ $0 }) {
                        do {
                            _ = try environment.read { try $0.get(database, [1]) }
                            outcomes.withLock { $0.read += 1 }
                        } catch is EnvironmentClosed {
                            outcomes.withLock { $0.closed += 1 }
                        } catch {
                            outcomes.withLock { $0.other += 1 }
                        }
                    }
                    group.leave()
                }
            }
            // Close while the reads overlap (so spare transactions are being aborted): once they are under way, after a
            // varying moment. On a loaded machine the threads can take a while to start.
            let started = ContinuousClock.now
            while outcomes.withLock({ $0.read }) < 24, ContinuousClock.now - started < .seconds(5) { usleep(50) }
            usleep(UInt32(100 + (round % 7) * 100))
            environment.close()
            stop.withLock { $0 = true }
            group.wait()
            let seen = outcomes.withLock { $0 }
            #expect(seen.other == 0 && seen.read > 0, "round \(round): \(seen)")
        }
    }

    @Test("an idle process keeps one reader slot: another process still reads when all but one are taken")
    func idleProcessKeepsOneSlot() async throws {
        let path = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        var options = Environment.Options()
        options.maxReaders = 2
        let environment = try Environment(path: path, options: options)
        let database = try environment.openDatabases { try $0.openDatabase("d", flags: .create) }
        _ = try environment.write { try $0.put(database, [1], [2]) }
        // Two reads at once take both slots; afterwards this process keeps one of them, idle.
        let inside = DispatchGroup()
        let done = DispatchGroup()
        for _ in 0..<2 {
            inside.enter()
            done.enter()
            Thread.detachNewThread {
                var entered = false
                _ = try? environment.read { _ in
                    entered = true
                    inside.leave()
                    inside.wait()
                }
                if !entered { inside.leave() }
                done.leave()
            }
        }
        done.wait()
        await #expect(processExitsWith: .success) { [path = path as String] in
            var options = Environment.Options()
            options.maxReaders = 2
            let other = try Environment(path: path, options: options)
            let database = try other.openDatabases { try $0.openDatabase("d") }
            guard try other.read({ try $0.get(database, [1]) }) == [2] else { exit(1) }
        }
        #expect(try environment.read { try $0.get(database, [1]) } == [2])
    }
}

extension EnvironmentTests {
    /// Keeps an environment alive until the process exits (no `deinit`, no `close()`).
    nonisolated(unsafe) static var leftOpen: Environment?

    @Test("a process that exits without closing releases the read transaction it kept: no reader slot is left")
    func exitWithoutClosing() async throws {
        let path = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let environment = try Environment(path: path)
        let database = try environment.openDatabases { try $0.openDatabase("d", flags: .create) }
        _ = try environment.write { try $0.put(database, [1], [2]) }
        await #expect(processExitsWith: .success) { [path = path as String] in
            let other = try Environment(path: path)
            let database = try other.openDatabases { try $0.openDatabase("d") }
            guard try other.read({ try $0.get(database, [1]) }) == [2] else { exit(1) }
            EnvironmentTests.leftOpen = other
            exit(0)
        }
        // A slot left by the child (whose process no longer exists) would be cleared here, and counted.
        #expect(environment.clearStaleReaders() == 0)
    }
}

/// A value behind a lock, for the test's threads.
private final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) -> R) -> R { lock.withLock { body(&value) } }
}
