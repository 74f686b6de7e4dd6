import Foundation
import LMDB

/// The named databases of a store (format 1). `docs/FORMAT.md` describes each key and value.
struct Layout: Sendable {
    static let formatVersion: UInt32 = 1

    /// `format` → u32; `next-stream` → u64.
    let meta: Database
    /// position (u64) → record (see ``RecordCodec``).
    let log: Database
    /// stream name → stream number (u64) ‖ current version (u64) ‖ position of its last event (u64).
    let streams: Database
    /// stream number (u64) ‖ version (u64) → position (u64), for every ``streamIndexInterval``-th version: a sparse
    /// index into the chain of records, each of which holds the position of its stream's previous event.
    let streamEvents: Database
    /// event id (16 bytes) → position (u64).
    let ids: Database
    /// projection name → checkpoint position (u64) ‖ projection version (u32).
    let checkpoints: Database
    let projections: [RegisteredProjection]
    /// Projections registered but not served by a read-only open, and why: their databases are missing (the store
    /// never folded them), were built by another version of their fold, or have not folded the whole log. A writable
    /// open builds them or catches them up.
    private(set) var unavailable: [String: EventStoreError] = [:]
    /// Projections some of whose databases this writable open had to create: new to the store, or — when the store
    /// holds a checkpoint for it — databases whose entries were lost, which a rebuild from the log makes whole again.
    private(set) var created = Set<String>()

    /// Versions 64, 128, … of each stream are indexed in `reel.stream-events`; the others are reached by following the
    /// records' back links from the next indexed version (or the stream's head). One dense per-stream index would dirty
    /// one page per active stream in every commit.
    static let streamIndexInterval: UInt64 = 64

    static let metaFormatKey = Array("format".utf8)
    static let metaNextStreamKey = Array("next-stream".utf8)
    /// Present while an import fills the store (``Store/beginImport(source:)``): the export it reads, UTF-8 (empty
    /// when not yet known). Every open but an import's refuses a store that carries it.
    static let metaImportKey = Array("import-unfinished".utf8)
    /// Present in a replica of a log of record (``StoreOptions/logOfRecord``): the log's identity, UTF-8. A writable
    /// open without that log refuses the store.
    static let metaLogKey = Array("log-of-record".utf8)

    static func projectionDatabaseName(_ projection: String, _ database: String, generation: String = "") -> String {
        "proj.\(projection).\(database)\(generation)"
    }

    /// Opens every database, creating what is missing unless read-only. Read-only, a projection whose databases are
    /// missing is left out and listed in ``unavailable``.
    init(txn: borrowing Transaction, projections: [any Projection], create: Bool) throws {
        let flags: DatabaseFlags = create ? .create : []
        meta = try txn.openDatabase("reel.meta", flags: flags)
        log = try txn.openDatabase("reel.log", flags: flags)
        streams = try txn.openDatabase("reel.streams", flags: flags)
        streamEvents = try txn.openDatabase("reel.stream-events", flags: flags)
        ids = try txn.openDatabase("reel.ids", flags: flags)
        checkpoints = try txn.openDatabase("reel.checkpoints", flags: flags)
        var registered: [RegisteredProjection] = []
        var unavailable: [String: EventStoreError] = [:]
        var seen = Set<String>()
        var created = Set<String>()
        for projection in projections {
            precondition(seen.insert(projection.name).inserted, "two projections are named \(projection.name)")
            var generations: [ProjectionDatabases] = []
            do {
                for suffix in RegisteredProjection.generationSuffixes {
                    var handles: [String: Database] = [:]
                    for spec in projection.databases {
                        let name = Self.projectionDatabaseName(projection.name, spec.name, generation: suffix)
                        do {
                            handles[spec.name] = try txn.openDatabase(name, flags: spec.flags)
                        } catch let error as LMDBError where create && error.kind == .notFound {
                            handles[spec.name] = try txn.openDatabase(name, flags: spec.flags.union(.create))
                            created.insert(projection.name)
                        }
                    }
                    generations.append(ProjectionDatabases(handles: handles))
                }
            } catch let error as LMDBError where !create && error.kind == .notFound {
                unavailable[projection.name] = .projectionNotBuilt(name: projection.name, missing: error.operation)
                continue
            }
            registered.append(RegisteredProjection(projection: projection, generations: generations))
        }
        self.projections = registered
        self.unavailable = unavailable
        self.created = created
    }

    /// This layout without the projections in `reasons`, which say why each is left out.
    func excluding(_ reasons: [String: EventStoreError]) -> Layout {
        var layout = Layout(copying: self, projections: projections.filter { reasons[$0.name] == nil })
        layout.unavailable.merge(reasons) { first, _ in first }
        return layout
    }

    private init(copying other: Layout, projections: [RegisteredProjection]) {
        (meta, log, streams, streamEvents, ids, checkpoints) =
            (other.meta, other.log, other.streams, other.streamEvents, other.ids, other.checkpoints)
        self.projections = projections
        unavailable = other.unavailable
        created = other.created
    }
}

/// A projection with its opened databases, in two generations: the one in use, and the one a rebuild folds into
/// before the switch. Which is in use is stored in `reel.meta` (`generation.<name>`: 0 or 1) and read inside each
/// transaction, so every snapshot pairs the log with the generation that was current in it.
struct RegisteredProjection: Sendable {
    /// Database name suffixes of generations 0 and 1.
    static let generationSuffixes = ["", "~b"]

    let projection: any Projection
    let generations: [ProjectionDatabases]
    /// The meta key that says which generation is in use: read by every query, so made once.
    let generationKey: [UInt8]
    var name: String { projection.name }

    init(projection: any Projection, generations: [ProjectionDatabases]) {
        (self.projection, self.generations) = (projection, generations)
        generationKey = Array("generation.\(projection.name)".utf8)
    }
}

/// The last event of the log, as the next append needs it.
struct Head: Sendable, Equatable {
    var position: UInt64
    var hash: [UInt8]
    var recordedAt: Int64

    static let empty = Head(position: 0, hash: RecordCodec.zeroHash, recordedAt: .min)
}

/// Where a stream stands.
struct StreamHead: Sendable, Equatable {
    var number: UInt64
    var version: UInt64
    var lastPosition: UInt64
}

/// A projection's checkpoint: the last position folded, and the fold's version.
struct Checkpoint: Sendable, Equatable {
    var position: UInt64
    var version: UInt32

    var bytes: [UInt8] {
        var w = ByteWriter(capacity: 12)
        w.u64(position)
        w.u32(version)
        return w.bytes
    }

    init(position: UInt64, version: UInt32) {
        self.position = position
        self.version = version
    }

    init?(_ bytes: UnsafeRawBufferPointer) {
        var r = ByteReader(bytes)
        guard let position = try? r.u64(), let version = try? r.u32() else { return nil }
        self.init(position: position, version: version)
    }
}

/// Reads of the engine's own databases, shared by the writer and the readers.
extension Layout {
    func head(_ txn: borrowing Transaction) throws -> Head {
        try txn.withCursor(log) { cursor in
            try cursor.move(.last) { key, value -> Head in
                let position = BigEndian.u64(key) ?? 0
                do {
                    let event = try RecordCodec.decode(value)
                    return Head(position: position, hash: event.hash, recordedAt: event.recordedAtMilliseconds)
                } catch {
                    throw EventStoreError.corruptRecord(position: position, reason: "\(error)")
                }
            } ?? .empty
        }
    }

    /// Replaces `events` with the decoded events from `start` through `end`, at most `limit` of them, in order.
    func events(from start: UInt64, through end: UInt64, limit: Int, into events: inout [RecordedEvent], _ txn: borrowing Transaction) throws {
        events.removeAll(keepingCapacity: true)
        try BigEndian.withBytes(start) { key in
            try txn.withCursor(log) { cursor in
                try cursor.forEach(from: key) { k, value in
                    let position = BigEndian.u64(k) ?? 0
                    guard position <= end, events.count < limit else { return false }
                    events.append(try decode(value, at: position))
                    return true
                }
            }
        }
    }

    func event(at position: UInt64, _ txn: borrowing Transaction) throws -> RecordedEvent? {
        try BigEndian.withBytes(position) { key in
            try txn.get(log, key) { value in
                guard let value else { return nil }
                return try decode(value, at: position)
            }
        }
    }

    func decode(_ value: UnsafeRawBufferPointer, at position: UInt64) throws -> RecordedEvent {
        do {
            let event = try RecordCodec.decode(value)
            guard event.position == position else {
                throw EventStoreError.corruptRecord(position: position, reason: "record says position \(event.position)")
            }
            return event
        } catch let failure as RecordCodec.DecodeFailure {
            switch failure {
            case let .newerFormat(format):
                throw EventStoreError.corruptRecord(position: position, reason: "record format \(format) is newer than this Reel reads")
            case let .malformed(reason):
                throw EventStoreError.corruptRecord(position: position, reason: reason)
            }
        }
    }

    /// Stream number, current version and the position of its last event, or `nil` for a stream without events.
    func streamHead(_ name: String, _ txn: borrowing Transaction) throws -> StreamHead? {
        // No event is ever appended to a stream without a name (LMDB refuses an empty key).
        if name.isEmpty { return nil }
        var name = name
        return try name.withUTF8 { key in
            try txn.get(streams, UnsafeRawBufferPointer(key)) { value in
                guard let value, let number = BigEndian.u64(value), let version = BigEndian.u64(value, at: 8),
                      let last = BigEndian.u64(value, at: 16) else { return nil }
                return StreamHead(number: number, version: version, lastPosition: last)
            }
        }
    }

    /// The position of `version` of a stream from the sparse index, if that version is indexed.
    func indexedPosition(stream number: UInt64, version: UInt64, _ txn: borrowing Transaction) throws -> UInt64? {
        try BigEndian.withBytes(number, version) { key in try txn.get(streamEvents, key) { $0.flatMap { BigEndian.u64($0) } } }
    }

    /// The stored event at `position` and the position of its stream's previous event.
    func linkedEvent(at position: UInt64, _ txn: borrowing Transaction) throws -> (event: RecordedEvent, previous: UInt64)? {
        try BigEndian.withBytes(position) { key in
            try txn.get(log, key) { value in
                guard let value else { return nil }
                let event = try decode(value, at: position)
                return (event, BigEndian.u64(value, at: RecordCodec.headerSize - 8) ?? 0)
            }
        }
    }

    func position(of id: UUID, _ txn: borrowing Transaction) throws -> UInt64? {
        try id.withBytes { key in try txn.get(ids, key) { $0.flatMap { BigEndian.u64($0) } } }
    }

    /// Which generation of a projection's databases is in use in this transaction's snapshot.
    func generation(of registered: RegisteredProjection, _ txn: borrowing Transaction) throws -> Int {
        try registered.generationKey.withUnsafeBytes { key in
            try txn.get(meta, key) { value in Int(value?.first ?? 0) == 1 ? 1 : 0 }
        }
    }

    /// The databases of a projection in use in this transaction's snapshot.
    func databases(of registered: RegisteredProjection, _ txn: borrowing Transaction) throws -> ProjectionDatabases {
        registered.generations[try generation(of: registered, txn)]
    }

    /// The greatest id in the id index.
    func lastID(_ txn: borrowing Transaction) throws -> UUID? {
        try txn.withCursor(ids) { cursor in
            try cursor.move(.last) { key, _ -> UUID? in
                var reader = ByteReader(key)
                return try? reader.uuid()
            } ?? nil
        }
    }

    func checkpoint(of projection: String, _ txn: borrowing Transaction) throws -> Checkpoint? {
        try Array(projection.utf8).withUnsafeBytes { key in try txn.get(checkpoints, key) { $0.flatMap(Checkpoint.init) } }
    }

    func metaU64(_ key: [UInt8], _ txn: borrowing Transaction) throws -> UInt64? {
        try key.withUnsafeBytes { k in try txn.get(meta, k) { $0.flatMap { BigEndian.u64($0) } } }
    }

    /// The identity of the log of record this store replicates, or `nil` for a store of its own.
    func logOfRecord(_ txn: borrowing Transaction) throws -> String? {
        try Self.metaLogKey.withUnsafeBytes { k in
            try txn.get(meta, k) { value in value.map { String(decoding: $0, as: UTF8.self) } }
        }
    }

    /// The export named by the unfinished-import marker, or `nil` when the store carries none.
    func unfinishedImport(_ txn: borrowing Transaction) throws -> String? {
        try Self.metaImportKey.withUnsafeBytes { k in
            try txn.get(meta, k) { value in value.map { String(decoding: $0, as: UTF8.self) } }
        }
    }

    func format(_ txn: borrowing Transaction) throws -> UInt32? {
        try Self.metaFormatKey.withUnsafeBytes { k in
            try txn.get(meta, k) { value -> UInt32? in
                guard let value else { return nil }
                var r = ByteReader(value)
                return try? r.u32()
            }
        }
    }
}
