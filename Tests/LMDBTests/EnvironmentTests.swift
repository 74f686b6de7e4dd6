import Foundation
import LMDB
import Testing

private func temporaryPath() throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("reel-lmdb-\(UUID().uuidString.prefix(8))").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

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
        var options = Environment.Options()
        options.mapSize = 256 * 1024
        let environment = try Environment(path: path, options: options)
        let database = try environment.openDatabases { try $0.openDatabase("d", flags: .create) }
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

    @Test("kept read transactions see each later commit, survive the map grown by this process and by another, and close")
    func keptReadTransactions() async throws {
        let path = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        var options = Environment.Options()
        options.mapSize = 256 * 1024
        let environment = try Environment(path: path, options: options)
        let database = try environment.openDatabases { try $0.openDatabase("d", flags: .create) }
        @Sendable func count() throws -> Int { try environment.read { try $0.statistics(database).entries } }
        let value = [UInt8](repeating: 42, count: 3000)
        func fill(_ environment: Environment, _ database: Database, _ prefix: String, _ keys: Int) throws {
            for batch in 0..<(keys / 50) {
                try environment.write { txn in
                    for i in 0..<50 { try txn.put(database, Array("\(prefix)\(batch)-\(i)".utf8), value) }
                }
            }
        }

        // Each read renews the transaction the one before it left: it sees every commit made in between.
        #expect(try count() == 0)
        for i in 1...5 {
            _ = try environment.write { txn in try txn.put(database, Array("k\(i)".utf8), [UInt8(i)]) }
            #expect(try count() == i)
        }
        // This process grows the map (about 30 MB of values) between reads.
        try fill(environment, database, "a", 10_000)
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
        #expect(try count() == 30_005)
        #expect(environment.info().mapSize > sizeBefore)

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
        let reopened = try Environment(path: path)
        let again = try reopened.openDatabases { try $0.openDatabase("d") }
        #expect(try reopened.read { try $0.statistics(again).entries } == 30_005)
    }
}

/// A value behind a lock, for the test's threads.
private final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) -> R) -> R { lock.withLock { body(&value) } }
}
