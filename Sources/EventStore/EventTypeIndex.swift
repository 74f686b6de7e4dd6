import LMDB

/// A ready-made projection: the positions of each event type, for reading one type without scanning the log.
///
/// One `duplicateSort | duplicateFixed` database, `positions`: key the type (UTF-8), values the positions of its events
/// (u64 big-endian). Positions only grow, so each fold appends to its type's values (`MDB_APPENDDUP`), and counting a
/// type's events reads one page header, not its entries.
public struct EventTypeIndex: Projection {
    public let name = "event-types"
    /// 2: positions as sorted duplicate values of one key per type (1 kept one entry per event, `type ‖ 0 ‖ position`,
    /// in a database named `by-type`, which a writable open of a store made with version 1 deletes).
    public let version: UInt32 = 2
    /// It indexes positions by type only.
    public let readsHash = false
    public let databases = [ProjectionDatabase("positions", flags: [.duplicateSort, .duplicateFixed])]

    public init() {}

    /// Appends a group commit's accepted events when the group finishes (`GroupAppend.finish`): each type's positions
    /// through one cursor, rather than a put per event as it is appended. It never rejects an event, so the append may
    /// defer it.
    func index(_ entries: [(type: String, position: UInt64)], _ txn: borrowing Transaction, _ databases: ProjectionDatabases) throws {
        // Each type's positions as big-endian values side by side, put in one call (`MDB_MULTIPLE`): the type's key is
        // found once per group, not once per event.
        var byType: [String: [UInt64]] = [:]
        for entry in entries { byType[entry.type, default: []].append(entry.position.bigEndian) }
        try txn.withCursor(databases.memoized { $0["positions"] }) { cursor in
            for (type, positions) in byType {
                var type = type
                try type.withUTF8 { key in
                    try positions.withUnsafeBytes {
                        try cursor.putMultiple(UnsafeRawBufferPointer(key), values: $0, count: positions.count, flags: .appendDuplicate)
                    }
                }
            }
        }
    }

    public func apply(_ event: RecordedEvent, _ txn: borrowing Transaction, _ databases: ProjectionDatabases) throws {
        var type = event.type
        _ = try type.withUTF8 { key in
            try BigEndian.withBytes(event.position) { value in
                try txn.put(databases.memoized { $0["positions"] }, UnsafeRawBufferPointer(key), value, flags: .appendDuplicate)
            }
        }
    }

    /// Positions of events of `type` from `position` on, at most `limit`, in order.
    public static func positions(
        ofType type: String, from position: UInt64 = 1, limit: Int = .max, in snapshot: borrowing Snapshot
    ) throws -> [UInt64] {
        var positions: [UInt64] = []
        // Types are 1…255 bytes: an empty one has no events (and LMDB refuses an empty key).
        guard limit > 0, !type.isEmpty else { return positions }
        try snapshot.query("event-types") { txn, databases in
            try Array(type.utf8).withUnsafeBytes { key in
                try BigEndian.withBytes(position) { start in
                    try txn.withCursor(databases["positions"]) { cursor in
                        var more = try cursor.seek(key, atLeast: start) { _, value in
                            if let found = BigEndian.u64(value) { positions.append(found) }
                            return positions.count < limit
                        } ?? false
                        while more {
                            more = try cursor.move(.nextDuplicate) { _, value in
                                if let found = BigEndian.u64(value) { positions.append(found) }
                                return positions.count < limit
                            } ?? false
                        }
                    }
                }
            }
        }
        return positions
    }

    /// How many events of each type, in type order: one step per type.
    static func counts(_ txn: borrowing Transaction, _ databases: ProjectionDatabases) throws -> [(type: String, count: Int)] {
        var counts: [(type: String, count: Int)] = []
        try txn.withCursor(databases["positions"]) { cursor in
            var type = try cursor.move(.first) { key, _ in String(decoding: key, as: UTF8.self) }
            while let current = type {
                counts.append((current, try cursor.valueCount()))
                type = try cursor.move(.nextKey) { key, _ in String(decoding: key, as: UTF8.self) }
            }
        }
        return counts
    }
}
