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
}
