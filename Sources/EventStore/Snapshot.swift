import Foundation
import LMDB

/// One committed state of the store — log and projections at the same position — lent to ``Store/read(_:)``.
public struct Snapshot: ~Copyable {
    let txn: Transaction
    let layout: Layout

    /// The position of the last event (0 for an empty store).
    public func head() throws -> UInt64 { try layout.head(txn).position }

    /// The event at `position`, if there is one.
    public func event(at position: UInt64) throws -> RecordedEvent? { try layout.event(at: position, txn) }

    /// Up to `limit` events from `position` on, in order.
    public func events(from position: UInt64, limit: Int) throws -> [RecordedEvent] {
        var events: [RecordedEvent] = []
        guard limit > 0 else { return events }
        try forEachEvent(from: position) { event in
            events.append(event)
            return events.count < limit
        }
        return events
    }

    /// Calls `body` with each event from `position` on while it returns `true`.
    public func forEachEvent(from position: UInt64, _ body: (RecordedEvent) throws -> Bool) throws {
        try BigEndian.withBytes(max(position, 1)) { start in
            try txn.withCursor(layout.log) { cursor in
                try cursor.forEach(from: start) { key, value in
                    try body(try layout.decode(value, at: BigEndian.u64(key) ?? 0))
                }
            }
        }
    }

    /// Up to `limit` events from `position` on, in order, each checked against the hash chain as it is read (what an
    /// export does): `previousHash` is the hash of the event before `position` — 32 zero bytes before position 1 —
    /// and each event's stored hash must be SHA-256(previous hash ‖ its stored canonical bytes), at the position after
    /// the previous one.
    ///
    /// - Throws: ``EventStoreError/hashMismatch(position:reason:)`` at the first event that breaks the chain, or
    ///   ``EventStoreError/corruptRecord(position:reason:)`` for a record that cannot be decoded.
    public func checkedEvents(from position: UInt64, after previousHash: [UInt8], limit: Int) throws -> [RecordedEvent] {
        var events: [RecordedEvent] = []
        guard limit > 0 else { return events }
        var previous = previousHash
        var expected = max(position, 1)
        try BigEndian.withBytes(expected) { start in
            try txn.withCursor(layout.log) { cursor in
                try cursor.forEach(from: start) { key, value in
                    let at = BigEndian.u64(key) ?? 0
                    guard at == expected else {
                        throw EventStoreError.hashMismatch(position: expected, reason: "the log jumps from \(expected - 1) to \(at)")
                    }
                    // Decoded before it is hashed: the decoder checks every length against the value's size.
                    let event = try layout.decode(value, at: at)
                    let canonical = UnsafeRawBufferPointer(rebasing: value[RecordCodec.headerSize...])
                    guard previous.withUnsafeBytes({ RecordCodec.hash(previous: $0, canonical: canonical) }) == event.hash else {
                        throw EventStoreError.hashMismatch(position: at, reason: "the record or the one before it was altered")
                    }
                    previous = event.hash
                    expected = at + 1
                    events.append(event)
                    return events.count < limit
                }
            }
        }
        return events
    }

    /// Up to `limit` events of `stream` from `version` on, in order.
    ///
    /// Starts at the first indexed version at or after the last one wanted (or at the stream's head) and follows the
    /// records' back links, so it reads at most `limit + 63` records.
    public func stream(_ stream: String, from version: UInt64, limit: Int) throws -> [RecordedEvent] {
        let first = max(version, 1)
        guard limit > 0, let head = try layout.streamHead(stream, txn), first <= head.version else { return [] }
        let span = UInt64(limit) - 1
        let last = head.version - first <= span ? head.version : first + span
        let interval = Layout.streamIndexInterval
        let anchor = (last + interval - 1) / interval * interval
        var (position, current) = (head.lastPosition, head.version)
        if anchor <= head.version, let indexed = try layout.indexedPosition(stream: head.number, version: anchor, txn) {
            (position, current) = (indexed, anchor)
        }
        var events: [RecordedEvent] = []
        while current >= first {
            guard let (event, previous) = try layout.linkedEvent(at: position, txn), event.stream == stream, event.version == current else {
                throw EventStoreError.corruptRecord(position: position, reason: "stream \(stream) version \(current) is not where its links say")
            }
            if current <= last { events.append(event) }
            if current == first { break }
            (position, current) = (previous, current - 1)
        }
        return events.reversed()
    }

    /// How many events `stream` holds (0 when it has none).
    public func version(of stream: String) throws -> UInt64 { try layout.streamHead(stream, txn)?.version ?? 0 }

    /// The event with this id, if stored.
    public func event(id: UUID) throws -> RecordedEvent? {
        guard let position = try layout.position(of: id, txn) else { return nil }
        return try layout.event(at: position, txn)
    }

    /// The last position folded into a projection, or `nil` for a name the store does not know.
    public func checkpoint(of projection: String) throws -> UInt64? {
        try layout.checkpoint(of: projection, txn)?.position
    }

    /// Lends the snapshot's transaction and a registered projection's databases to a query.
    public func query<R>(_ projection: String, _ body: (borrowing Transaction, ProjectionDatabases) throws -> R) throws -> R {
        guard let registered = layout.projections.first(where: { $0.name == projection }) else {
            // Registered, but a read-only open could not serve it (not built, built by another fold's version, or
            // behind the log).
            if let reason = layout.unavailable[projection] { throw reason }
            preconditionFailure("no projection named \(projection) is registered with this store")
        }
        return try body(txn, layout.databases(of: registered, txn))
    }
}
