// Reel's side: the bulk load through MediaStore batches (durable group commits), and the raw-LMDB ceiling.

import EventStore
import Foundation
import LMDB
import MediaPipeline
import ProductionFixtures

struct Failure: Error, CustomStringConvertible {
    let description: String
}

enum ReelLoad {
    /// Loads `inputs` in atomic batches of `batch` events (each checked against every rule), enqueued in order so the
    /// group-commit writer folds concurrent batches into shared durable transactions. Returns seconds.
    /// With `syncEvery`, the store should be opened ``Durability/unsynced``; it is synced after every `syncEvery` events
    /// (all enqueued batches committed first), and at the end: durable in steps of that size, like the peers' loads.
    static func load(_ media: MediaStore, _ inputs: [MediaStore.Input], batch: Int = 1_000, syncEvery: Int? = nil) throws -> Double {
        // As many events in flight as `reel append` keeps: one and a half of the store's largest group, so that group
        // commits grow about as large as the store takes.
        let loader = Loader(media, window: max(1, media.store.options.maxEventsPerGroup) * 3 / 2)
        var resolver = StreamResolver(capacity: 2_000_000)
        let seconds = try time {
            var start = 0
            while start < inputs.count {
                let end = min(inputs.count, start + batch)
                let (events, expected) = try media.prepare(Array(inputs[start..<end]), resolver: &resolver)
                loader.enqueue(events, expected)
                if let failure = loader.failure { throw Failure(description: "Reel load: \(failure)") }
                if let syncEvery, end / syncEvery != start / syncEvery {
                    loader.drain()
                    try media.store.sync()
                }
                start = end
            }
            loader.drain()
            if syncEvery != nil { try media.store.sync() }
        }
        if let failure = loader.failure { throw Failure(description: "Reel load: \(failure)") }
        return seconds
    }
}

func time(_ body: () throws -> Void) rethrows -> Double {
    let clock = ContinuousClock()
    let start = clock.now
    try body()
    let d = start.duration(to: clock.now)
    return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

func timeAsync(_ body: () async throws -> Void) async rethrows -> Double {
    let clock = ContinuousClock()
    let start = clock.now
    try await body()
    let d = start.duration(to: clock.now)
    return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

/// Retries `body` while the directory is still registered as open in this process (EBUSY): `Store.close()` returns
/// before the last reference to its environment goes (the writer thread lets go of it a moment later).
func retryingBusy<R>(_ body: () throws -> R) throws -> R {
    var attempts = 0
    while true {
        do {
            return try body()
        } catch {
            attempts += 1
            guard attempts < 200, String(describing: error).contains("already open in this process") else { throw error }
            usleep(25_000)
        }
    }
}

// MARK: - The raw LMDB ceiling

/// Every entry of one LMDB database, flat: keys and values back to back.
struct FlatDatabase {
    let name: String
    var duplicates = false
    var bytes: [UInt8] = []
    /// (key start, key length, value length) per entry; the value follows its key.
    var entries: [(Int, Int, Int)] = []
    /// Pages of its B-tree (branch, leaf, overflow) × page size.
    var pageBytes = 0
    var byteCount: Int { bytes.count }
}

enum RawCeiling {
    /// Reads every named database of the LMDB environment at `path` (the Reel store, closed) into memory.
    static func extract(_ path: String) throws -> [FlatDatabase] {
        var options = Environment.Options()
        options.readOnly = true
        let env = try retryingBusy { try Environment(path: path, options: options) }
        let names: [String] = try env.openDatabases { txn in
            let main = try txn.openDatabase(nil)
            var names: [String] = []
            try txn.withCursor(main) { cursor in
                try cursor.forEach { key, _ in
                    names.append(String(decoding: key, as: UTF8.self))
                    return true
                }
            }
            return names
        }
        let handles = try env.openDatabases { txn in try names.map { try txn.openDatabase($0) } }
        return try env.read { txn in
            try handles.map { handle in
                var flat = FlatDatabase(name: handle.name ?? "")
                flat.pageBytes = try txn.statistics(handle).bytes
                var previousKey: [UInt8] = []
                try txn.withCursor(handle) { cursor in
                    try cursor.forEach { key, value in
                        let start = flat.bytes.count
                        flat.bytes.append(contentsOf: key)
                        flat.bytes.append(contentsOf: value)
                        flat.entries.append((start, key.count, value.count))
                        if !flat.duplicates, key.elementsEqual(previousKey) { flat.duplicates = true }
                        previousKey = Array(key)
                        return true
                    }
                }
                return flat
            }
        }
    }

    /// Writes `databases` into a fresh environment at `path` in `transactions` synced commits, each carrying the
    /// same share of every database's entries, in key order (`.append` where keys are unique): the cheapest way
    /// LMDB can store these bytes durably. Returns seconds.
    static func write(_ databases: [FlatDatabase], to path: String, transactions: Int) throws -> Double {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        var options = Environment.Options()
        options.mapSize = 1 << 30
        let env = try Environment(path: path, options: options)
        let handles = try env.openDatabases { txn in
            try databases.map { try txn.openDatabase($0.name, flags: $0.duplicates ? [.create, .duplicateSort] : [.create]) }
        }
        let count = max(1, transactions)
        return try time {
            for t in 0..<count {
                try env.write { txn in
                    try writeShare(t, of: count, databases, handles, txn)
                }
            }
        }
    }

    /// Writes share `t` of `count` of every database's entries (its slice of the entries in key order) through a
    /// cursor: the unit of work of both ceilings' synced transactions.
    static func writeShare(
        _ t: Int, of count: Int, _ databases: [FlatDatabase], _ handles: [Database], _ txn: borrowing Transaction
    ) throws {
        for (d, database) in databases.enumerated() {
            let n = database.entries.count
            let lower = n * t / count, upper = n * (t + 1) / count
            guard lower < upper else { continue }
            try database.bytes.withUnsafeBytes { raw in
                try txn.withCursor(handles[d]) { cursor in
                    for i in lower..<upper {
                        let (start, keyLength, valueLength) = database.entries[i]
                        let key = UnsafeRawBufferPointer(rebasing: raw[start..<start + keyLength])
                        let value = UnsafeRawBufferPointer(rebasing: raw[start + keyLength..<start + keyLength + valueLength])
                        try cursor.put(key, value, flags: database.duplicates ? [] : .append)
                    }
                }
            }
        }
    }

    /// The race ceiling: what W1 could reach at best on this disk. 16 writers that each wait for durability put at
    /// most 16 saves in one commit, so: `commits` synced transactions of 16 records of `valueSize` bytes each,
    /// appended to one database. Returns records per second.
    static func race(at path: String, commits: Int, valueSize: Int) throws -> Double {
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let env = try Environment(path: path)
        let log = try env.openDatabases { txn in try txn.openDatabase("log", flags: .create) }
        let value = [UInt8](repeating: 0x5A, count: valueSize)
        var position: UInt64 = 0
        let seconds = try time {
            for _ in 0..<commits {
                try env.write { txn in
                    for _ in 0..<16 {
                        position += 1
                        var key = position.bigEndian
                        try withUnsafeBytes(of: &key) { k in
                            try value.withUnsafeBytes { v in _ = try txn.put(log, k, v, flags: .append) }
                        }
                    }
                }
            }
        }
        return Double(commits * 16) / seconds
    }

    /// The rebuild ceiling: in the environment `write` left at `path`, scan every log record (touching each byte)
    /// and write the projections' bytes into fresh databases in `transactions` synced commits. Returns seconds and
    /// the sum of the log's bytes (so the scan does real work).
    static func rebuild(_ log: String, _ projections: [FlatDatabase], at path: String, transactions: Int) throws -> (seconds: Double, checksum: UInt64) {
        var options = Environment.Options()
        options.mapSize = 1 << 30
        let env = try Environment(path: path, options: options)
        let logHandle = try env.openDatabases { txn in try txn.openDatabase(log) }
        let handles = try env.openDatabases { txn in
            try projections.map { try txn.openDatabase("rebuilt." + $0.name, flags: $0.duplicates ? [.create, .duplicateSort] : [.create]) }
        }
        let count = max(1, transactions)
        var checksum: UInt64 = 0
        let seconds = try time {
            try env.read { txn in
                try txn.withCursor(logHandle) { cursor in
                    try cursor.forEach { _, value in
                        for byte in value { checksum &+= UInt64(byte) }
                        return true
                    }
                }
            }
            for t in 0..<count {
                try env.write { txn in
                    try writeShare(t, of: count, projections, handles, txn)
                }
            }
        }
        return (seconds, checksum)
    }
}
