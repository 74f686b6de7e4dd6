import LMDB

/// A ready-made projection: the positions of each event type, for reading one type without scanning the log.
///
/// Key: type (UTF-8) ‖ 0x00 ‖ position (u64 big-endian); empty value.
public struct EventTypeIndex: Projection {
    public let name = "event-types"
    public let version: UInt32 = 1
    public let databases = [ProjectionDatabase("by-type")]

    public init() {}

    public func apply(_ event: RecordedEvent, _ txn: borrowing Transaction, _ databases: ProjectionDatabases) throws {
        let key = Self.key(event.type, event.position)
        _ = try key.withUnsafeBytes { k in try txn.put(databases["by-type"], k, UnsafeRawBufferPointer(start: nil, count: 0)) }
    }

    static func key(_ type: String, _ position: UInt64) -> [UInt8] {
        var key = Array(type.utf8)
        key.append(0)
        key.append(contentsOf: BigEndian.bytes(position))
        return key
    }

    /// Positions of events of `type` from `position` on, at most `limit`, in order.
    public static func positions(
        ofType type: String, from position: UInt64 = 1, limit: Int = .max, in snapshot: borrowing Snapshot
    ) throws -> [UInt64] {
        let prefix = Array(type.utf8) + [0]
        var positions: [UInt64] = []
        guard limit > 0 else { return positions }
        try snapshot.query("event-types") { txn, databases in
            try key(type, position).withUnsafeBytes { start in
                try txn.withCursor(databases["by-type"]) { cursor in
                    try cursor.forEach(from: start) { key, _ in
                        guard key.count == prefix.count + 8, key.starts(with: prefix), let position = BigEndian.u64(key, at: prefix.count) else {
                            return false
                        }
                        positions.append(position)
                        return positions.count < limit
                    }
                }
            }
        }
        return positions
    }
}
