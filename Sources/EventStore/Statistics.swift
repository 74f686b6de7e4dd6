import Foundation
import LMDB

/// What `reel stats` shows: sizes and counts of a store at one snapshot.
public struct StoreStatistics: Sendable {
    public struct ProjectionStatistics: Sendable {
        public let name: String
        public let version: UInt32
        /// The last position folded into it.
        public let checkpoint: UInt64
        public let bytes: Int
        public let entries: Int
    }

    public let events: UInt64
    public let streams: Int
    /// Size of `data.mdb` as the file system reports it (LMDB's file does not shrink; free pages are reused).
    public let fileBytes: Int
    /// Bytes of pages in use, from LMDB.
    public let usedBytes: Int
    public let mapBytes: Int
    /// Bytes the log's pages take.
    public let logBytes: Int
    public let projections: [ProjectionStatistics]
}

extension Store {
    /// Counts and sizes at one snapshot.
    public func statistics() throws -> StoreStatistics {
        let info = environment.info()
        let file = (try? FileManager.default.attributesOfItem(atPath: (path as NSString).appendingPathComponent("data.mdb"))[.size] as? Int) ?? 0
        return try read { snapshot in
            let log = try snapshot.txn.statistics(layout.log)
            let projections = try layout.projections.map { registered in
                var bytes = 0
                var entries = 0
                for database in try layout.databases(of: registered, snapshot.txn).all {
                    let stats = try snapshot.txn.statistics(database)
                    bytes += stats.bytes
                    entries += stats.entries
                }
                return StoreStatistics.ProjectionStatistics(
                    name: registered.name, version: registered.projection.version,
                    checkpoint: try layout.checkpoint(of: registered.name, snapshot.txn)?.position ?? 0, bytes: bytes, entries: entries
                )
            }
            return StoreStatistics(
                events: try snapshot.head(), streams: try snapshot.txn.statistics(layout.streams).entries, fileBytes: file,
                usedBytes: (info.lastPage + 1) * log.pageSize, mapBytes: info.mapSize, logBytes: log.bytes, projections: projections
            )
        }
    }
}

extension EventTypeIndex {
    /// How many events of each type, from the index (one pass over its keys).
    public static func counts(in snapshot: borrowing Snapshot) throws -> [(type: String, count: Int)] {
        try snapshot.query("event-types") { txn, databases in try counts(txn, databases) }
    }

    /// How many events of each type there were at a replay's position.
    public static func counts(in replay: ProjectionReplay) throws -> [(type: String, count: Int)] {
        try replay.query("event-types") { txn, databases in try counts(txn, databases) }
    }

    private static func counts(_ txn: borrowing Transaction, _ databases: ProjectionDatabases) throws -> [(type: String, count: Int)] {
        var counts: [(String, Int)] = []
        try txn.withCursor(databases["by-type"]) { cursor in
            try cursor.forEach { key, _ in
                guard key.count > 9 else { return true }
                let type = String(decoding: UnsafeRawBufferPointer(rebasing: key[..<(key.count - 9)]), as: UTF8.self)
                if counts.last?.0 == type { counts[counts.count - 1].1 += 1 } else { counts.append((type, 1)) }
                return true
            }
        }
        return counts
    }
}
