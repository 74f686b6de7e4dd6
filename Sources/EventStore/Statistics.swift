import Foundation
import LMDB

/// What `reel stats` shows: sizes and counts of a store at one snapshot.
public struct StoreStatistics: Sendable {
    public struct ProjectionStatistics: Sendable {
        public let name: String
        /// The version of the fold that built it.
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
                let (bytes, entries) = try Self.size(of: registered, layout: layout, snapshot.txn)
                let checkpoint = try layout.checkpoint(of: registered.name, snapshot.txn)
                return StoreStatistics.ProjectionStatistics(
                    name: registered.name, version: checkpoint?.version ?? registered.projection.version,
                    checkpoint: checkpoint?.position ?? 0, bytes: bytes, entries: entries
                )
            }
            return StoreStatistics(
                events: try snapshot.head(), streams: try snapshot.txn.statistics(layout.streams).entries, fileBytes: file,
                usedBytes: (info.lastPage + 1) * log.pageSize, mapBytes: info.mapSize, logBytes: log.bytes, projections: projections
            )
        }
    }
}

extension Store {
    /// Bytes and entries of a projection's databases in use.
    static func size(of registered: RegisteredProjection, layout: Layout, _ txn: borrowing Transaction) throws -> (bytes: Int, entries: Int) {
        var bytes = 0
        var entries = 0
        let databases = try layout.databases(of: registered, txn)
        for spec in registered.projection.databases {
            let database = databases[spec.name]
            let stats = try txn.statistics(database)
            bytes += stats.bytes
            entries += stats.entries
            if spec.flags.isSuperset(of: [.duplicateSort, .duplicateFixed]) {
                bytes += try Self.duplicatePages(database, pageSize: stats.pageSize, txn) * stats.pageSize
            }
        }
        return (bytes, entries)
    }

    /// What a refold reserves in its scratch environments (``Environment/reserve(bytes:)``): one and a half times each
    /// projection's databases in the store now, and 8 MiB more. A projection new to the store reserves only the 8 MiB.
    static func scratchReservations(_ targets: [RegisteredProjection], layout: Layout, environment: Environment) throws -> [Int] {
        try environment.read { txn in try targets.map { try size(of: $0, layout: layout, txn).bytes * 3 / 2 + 8 << 20 } }
    }

    /// About how many pages the values of a `duplicateSort | duplicateFixed` database take beside its main tree, which
    /// `mdb_stat` does not count: a key's values live in a sub-page of its leaf while small, in pages of their own
    /// once they exceed half a page.
    static func duplicatePages(_ database: Database, pageSize: Int, _ txn: borrowing Transaction) throws -> Int {
        var pages = 0
        try txn.withCursor(database) { cursor in
            var size = try cursor.move(.first) { _, value in value.count }
            while let valueSize = size {
                let bytes = try cursor.valueCount() * valueSize
                if bytes > pageSize / 2 { pages += (bytes + pageSize - 17) / (pageSize - 16) }
                size = try cursor.move(.nextKey) { _, value in value.count }
            }
        }
        return pages
    }
}

extension EventTypeIndex {
    /// How many events of each type, from the index (one step per type).
    public static func counts(in snapshot: borrowing Snapshot) throws -> [(type: String, count: Int)] {
        try snapshot.query("event-types") { txn, databases in try counts(txn, databases) }
    }

    /// How many events of each type there were at a replay's position.
    public static func counts(in replay: ProjectionReplay) throws -> [(type: String, count: Int)] {
        try replay.query("event-types") { txn, databases in try counts(txn, databases) }
    }
}
