import Foundation
import LMDB

extension Store {
    /// The store as it stood after `position`: a new store in the system's temporary directory holding exactly the
    /// first `position` events — same positions, versions, ids, times and hashes — with every registered projection
    /// folded from them, so it answers what a store that only ever received those events answers. This store is only
    /// read, and appends to it go on meanwhile.
    ///
    /// The projections are folded as a rebuild folds them (`ScratchFold`) while the log and its indexes up to
    /// `position` are copied in key order, on a thread of their own: the log's records as they are, the id and sparse stream indexes without
    /// the later entries, and each stream's head as of `position` (found from its later entries by following the
    /// records' back links). The new store is disposable (``Durability/disposable``): close it and delete its
    /// ``path`` when done.
    ///
    /// - Throws: ``EventStoreError/invalidBatch(_:)`` for a position beyond the head; what a rebuild throws.
    public func replay(through position: UInt64) throws -> Store {
        let head = try self.head()
        guard position <= head else { throw EventStoreError.invalidBatch("position \(position) is beyond the head \(head)") }
        // The new store registers every projection: one this read-only open cannot serve would be missing from it.
        if let (_, reason) = layout.unavailable.min(by: { $0.key < $1.key }) { throw reason }
        let projections = layout.projections.map(\.projection)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("reel-replay-\(UUID().uuidString)").path
        var target: Environment?
        do {
            let scratch = try ScratchFold(layout.projections, of: self.environment, layout: layout, chunk: options.rebuildChunk, name: "reel-replay-fold")
            defer { scratch.remove() }
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            // Room for the log and its indexes up to `position` and the projections: the live store's pages in use,
            // in proportion, with the same margin as the scratch folds.
            let info = self.environment.info()
            let used = (info.lastPage + 1) * Int(sysconf(Int32(_SC_PAGESIZE)))
            let reservation = Int(Double(used) * Double(position) / Double(max(head, 1))) * 3 / 2 + 8 << 20
            var scratchOptions = Environment.Options()
            scratchOptions.disposable = true
            scratchOptions.mapSize = max(scratchOptions.mapSize, ScratchFold.mapSize(for: reservation))
            let environment = try Environment(path: path, options: scratchOptions)
            target = environment
            try environment.reserve(bytes: reservation)
            let replayed = try environment.openDatabases { txn in try Layout(txn: txn, projections: projections, create: true) }
            // The log is copied on a thread of its own while the projections fold, then their databases are copied in.
            let (store, layout, chunk) = (self.environment, self.layout, scratch.copyChunk)
            try scratch.fold(from: store, layout: layout, through: position, progress: nil) { stopped in
                try Self.copyLog(of: store, layout: layout, through: position, into: environment, replayed, chunk: chunk, stopped: stopped)
            }
            for (index, registered) in replayed.projections.enumerated() {
                try scratch.copy(index, into: registered.generations[0], of: environment)
            }
            environment.close()
            var options = StoreOptions()
            options.durability = .disposable
            return try Store.open(at: path, projections: projections, options: options)
        } catch {
            target?.close()
            try? FileManager.default.removeItem(atPath: path)
            if let refused = error as? ScratchFold.Refused { throw EventStoreError.wrap(refused.error) }
            throw EventStoreError.wrap(error)
        }
    }

    /// Copies the log of `store` through `position` into `environment`, with its indexes as they stood then, and
    /// writes the format marker and the checkpoints of the projections at `position`: with the projections' databases
    /// copied in, `environment` holds a store of the first `position` events.
    private static func copyLog(
        of store: Environment, layout source: Layout, through position: UInt64, into environment: Environment, _ target: Layout, chunk: Int,
        stopped: () -> Bool
    ) throws {
        try ScratchFold.copy(source.log, of: store, into: target.log, of: environment, chunk: chunk, flags: .append, stopped: stopped) {
            key, _, _ in
            (BigEndian.u64(key) ?? .max) <= position ? .copy : .stop
        }
        // Ids and sparse stream-index entries map to a position: those of later events are left out.
        for (from, to) in [(source.ids, target.ids), (source.streamEvents, target.streamEvents)] {
            try ScratchFold.copy(from, of: store, into: to, of: environment, chunk: chunk, flags: .append, stopped: stopped) {
                _, value, _ in
                (BigEndian.u64(value) ?? .max) <= position ? .copy : .skip
            }
        }
        var lastNumber: UInt64 = 0
        try ScratchFold.copy(source.streams, of: store, into: target.streams, of: environment, chunk: chunk, flags: .append, stopped: stopped) {
            _, value, reading in
            guard let number = BigEndian.u64(value), let version = BigEndian.u64(value, at: 8), let last = BigEndian.u64(value, at: 16) else {
                throw EventStoreError.corruptRecord(position: 0, reason: "a stream head is malformed")
            }
            let then = try source.streamHead(StreamHead(number: number, version: version, lastPosition: last), at: position, reading)
            guard let then else { return .skip }
            lastNumber = max(lastNumber, number)
            if then.lastPosition == last { return .copy }
            return .replace(BigEndian.bytes(then.number) + BigEndian.bytes(then.version) + BigEndian.bytes(then.lastPosition))
        }
        try environment.write { txn in
            var format = ByteWriter(capacity: 4)
            format.u32(Layout.formatVersion)
            try txn.put(target.meta, Layout.metaFormatKey, format.bytes)
            try txn.put(target.meta, Layout.metaNextStreamKey, BigEndian.bytes(lastNumber + 1))
            for registered in target.projections {
                try txn.put(target.checkpoints, Array(registered.name.utf8), Checkpoint(position: position, version: registered.projection.version).bytes)
            }
        }
    }
}

extension Layout {
    /// Where a stream whose head is `head` stood after `position`: `nil` when it had no event yet. Starts from the
    /// first indexed version after `position` (or the head) and follows the records' back links, so it reads at most
    /// ``streamIndexInterval`` records.
    func streamHead(_ head: StreamHead, at position: UInt64, _ txn: borrowing Transaction) throws -> StreamHead? {
        var (version, at) = (head.version, head.lastPosition)
        guard at > position else { return head }
        try BigEndian.withBytes(head.number, Self.streamIndexInterval) { start in
            try txn.withCursor(streamEvents) { cursor in
                try cursor.forEach(from: start) { key, value in
                    guard BigEndian.u64(key) == head.number, let indexed = BigEndian.u64(key, at: 8), let found = BigEndian.u64(value) else {
                        return false
                    }
                    guard found > position else { return true }
                    (version, at) = (indexed, found)
                    return false
                }
            }
        }
        while at > position {
            guard version > 1 else { return nil }
            let previous = try BigEndian.withBytes(at) { key in
                try txn.get(log, key) { value in value.flatMap { BigEndian.u64($0, at: RecordCodec.headerSize - 8) } }
            }
            guard let previous, previous > 0, previous < at else {
                throw EventStoreError.corruptRecord(position: at, reason: "its link to the stream's previous event is broken")
            }
            (version, at) = (version - 1, previous)
        }
        return StreamHead(number: head.number, version: version, lastPosition: at)
    }
}

/// A store's projections as they stood after a position: folded from its log into scratch environments (as a rebuild
/// folds them), without copying the log — what `reel replay` reads. ``Store/replay(through:)`` builds a whole store
/// instead, log included, at about 1.2 times the cost.
///
/// Read-only. Call ``discard()`` when done: it closes and deletes the scratch environments.
public final class ProjectionReplay: Sendable {
    /// The last position folded.
    public let position: UInt64
    /// How many streams had events by then.
    public let streams: Int
    private let scratch: ScratchFold
    /// Registered projections the store could not serve (see ``Layout/unavailable``), which were not folded.
    private let unavailable: [String: EventStoreError]

    init(position: UInt64, streams: Int, scratch: ScratchFold, unavailable: [String: EventStoreError]) {
        (self.position, self.streams, self.scratch, self.unavailable) = (position, streams, scratch, unavailable)
    }

    /// Lends a read transaction of a projection's databases to a query, as ``Snapshot/query(_:_:)`` does.
    public func query<R>(_ projection: String, _ body: (borrowing Transaction, ProjectionDatabases) throws -> R) throws -> R {
        guard let part = scratch.parts.first(where: { $0.registered.name == projection }) else {
            if let reason = unavailable[projection] { throw reason }
            preconditionFailure("no projection named \(projection) is registered with this store")
        }
        do {
            return try part.environment.read { txn in try body(txn, part.registered.generations[0]) }
        } catch {
            throw EventStoreError.wrap(error)
        }
    }

    /// Closes and deletes the scratch environments.
    public func discard() { scratch.remove() }
}

extension Store {
    /// The projections as they stood after `position` (see ``ProjectionReplay``). This store is only read, and
    /// appends to it go on meanwhile.
    ///
    /// - Throws: ``EventStoreError/invalidBatch(_:)`` for a position beyond the head; what a rebuild throws.
    public func replayProjections(through position: UInt64) throws -> ProjectionReplay {
        let head = try self.head()
        guard position <= head else { throw EventStoreError.invalidBatch("position \(position) is beyond the head \(head)") }
        let scratch: ScratchFold
        do {
            scratch = try ScratchFold(layout.projections, of: environment, layout: layout, chunk: options.rebuildChunk, name: "reel-replay")
        } catch {
            throw EventStoreError.wrap(error)
        }
        do {
            let streams = try scratch.fold(from: environment, layout: layout, through: position)
            return ProjectionReplay(position: position, streams: streams, scratch: scratch, unavailable: layout.unavailable)
        } catch {
            scratch.remove()
            if let refused = error as? ScratchFold.Refused { throw EventStoreError.wrap(refused.error) }
            throw EventStoreError.wrap(error)
        }
    }
}
