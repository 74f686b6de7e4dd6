import Foundation
import Glibc
import LMDB

/// An event as exported: every envelope field, hash included, to be written back exactly.
public struct ExportedEvent: Sendable, Hashable {
    public let position: UInt64
    public let stream: String
    public let version: UInt64
    public let id: UUID
    public let type: String
    public let recordedAtMilliseconds: Int64
    public let payload: [UInt8]
    public let metadata: EventMetadata
    public let hash: [UInt8]

    public init(
        position: UInt64, stream: String, version: UInt64, id: UUID, type: String, recordedAtMilliseconds: Int64,
        payload: [UInt8], metadata: EventMetadata, hash: [UInt8]
    ) {
        (self.position, self.stream, self.version, self.id, self.type) = (position, stream, version, id, type)
        (self.recordedAtMilliseconds, self.payload, self.metadata, self.hash) = (recordedAtMilliseconds, payload, metadata, hash)
    }

    /// The hash this event must carry after `previous` (SHA-256 over the previous hash and the canonical bytes).
    public func expectedHash(after previous: [UInt8]) -> [UInt8] {
        RecordCodec.storedValue(
            previousHash: previous, previousInStream: 0, position: position, stream: stream, version: version, id: id,
            type: type, recordedAt: recordedAtMilliseconds, payload: payload, metadata: metadata
        ).hash
    }
}

/// Why events could not be restored.
public struct RestoreFailure: Error, Sendable, CustomStringConvertible {
    /// Index of the offending event in the batch given.
    public let index: Int
    /// What is wrong with that event, e.g. `position 5 does not follow the head 3`.
    public let reason: String
    /// The event and the reason, e.g. `cannot restore the event at index 2 of the batch: position 5 does not follow
    /// the head 3`.
    public var description: String { "cannot restore the event at index \(index) of the batch: \(reason)" }
}

extension RestoreFailure: LocalizedError {
    /// The ``description``, so that `localizedDescription` reads the same.
    public var errorDescription: String? { description }
}

extension Store {
    /// Writes exported events back exactly — positions, versions, ids, times and hashes — folding every projection,
    /// in one transaction. Each must follow the store's head: the next position, its stream's next version, a
    /// `recorded_at` not before the head's, a new id, and the hash the chain gives it. Nothing is written if any fails.
    ///
    /// For importing an export into an empty store; ordinary appends must not run at the same time.
    public func restore(_ events: [ExportedEvent]) throws {
        let layout = layout
        let append = GroupAppend(layout: layout, clock: clock)
        do {
            try environment.write { txn in try append.restore(events, txn) }
        } catch {
            throw EventStoreError.wrap(error)
        }
        notifier.publish(try head())
    }

    /// Empties the log, the indexes and every projection in one transaction (the format marker stays).
    public func erase() throws {
        let layout = layout
        do {
            try environment.write { txn in try Self.erase(layout, txn) }
        } catch {
            throw EventStoreError.wrap(error)
        }
    }

    /// Empties the log, the indexes and every projection, and leaves each projection's checkpoint at 0, as in a new
    /// store.
    static func erase(_ layout: Layout, _ txn: borrowing Transaction) throws {
        for database in [layout.log, layout.streams, layout.streamEvents, layout.ids, layout.checkpoints] {
            try txn.drop(database)
        }
        for registered in layout.projections {
            for generation in registered.generations {
                for database in generation.all { try txn.drop(database) }
            }
            try txn.delete(layout.meta, registered.generationKey)
            try txn.put(layout.checkpoints, Array(registered.name.utf8), Checkpoint(position: 0, version: registered.projection.version).bytes)
        }
        try txn.delete(layout.meta, Layout.metaNextStreamKey)
    }

    // MARK: Importing

    /// Whether the store carries the unfinished-import marker (`import-unfinished` in `reel.meta`). Only a store
    /// opened with ``StoreOptions/importing`` can: every other open of such a store fails.
    public func importUnfinished() throws -> Bool {
        let layout = layout
        do {
            return try environment.read { try layout.unfinishedImport($0) != nil }
        } catch {
            throw EventStoreError.wrap(error)
        }
    }

    /// Begins an import from `source` (an export's path, named by the message of a store the import leaves
    /// unfinished), in a store opened with ``StoreOptions/importing``.
    ///
    /// Takes an exclusive lock on the store's data file for the rest of the import, then, in one transaction, erases
    /// what an unfinished import left (when the store carries its marker) and writes the marker: from this commit
    /// until ``finishImport()`` every open but an import's refuses the store
    /// (``EventStoreError/importUnfinished(path:source:)``). Then restore the events with ``restore(_:)``.
    ///
    /// - Throws: ``EventStoreError/importRunning(path:)`` while another import into the store holds the lock,
    ///   ``EventStoreError/notEmpty(path:)`` for a store that holds events and no marker (nothing is written), or
    ///   ``EventStoreError/storage(_:)``.
    public func beginImport(source: String) throws {
        precondition(options.importing && !options.readOnly, "beginImport needs a store opened writable with StoreOptions.importing")
        try lockForImport()
        let (layout, path) = (layout, path)
        do {
            try environment.write { txn in
                if try layout.unfinishedImport(txn) != nil {
                    try Self.erase(layout, txn)
                } else if try txn.statistics(layout.log).entries > 0 {
                    throw EventStoreError.notEmpty(path: path)
                }
                try txn.put(layout.meta, Layout.metaImportKey, Array(source.utf8))
            }
        } catch {
            releaseImportLock()
            throw EventStoreError.wrap(error)
        }
    }

    /// Ends an import: syncs everything restored, then commits the removal of the marker and syncs again, so that
    /// the marker leaves the disk only after every event. Releases the import's lock.
    public func finishImport() throws {
        let layout = layout
        do {
            try environment.sync()
            try environment.write { txn in _ = try txn.delete(layout.meta, Layout.metaImportKey) }
            try environment.sync()
        } catch {
            throw EventStoreError.wrap(error)
        }
        releaseImportLock()
    }

    /// Gives an import up and leaves the store as it was before ``beginImport(source:)`` — for a store that held no
    /// events and no marker then: erases what was restored and the marker in one transaction, syncs, and releases the
    /// import's lock. If this fails, the marker stays.
    public func abandonImport() throws {
        let layout = layout
        do {
            try environment.write { txn in
                try Self.erase(layout, txn)
                _ = try txn.delete(layout.meta, Layout.metaImportKey)
            }
            try environment.sync()
        } catch {
            throw EventStoreError.wrap(error)
        }
        releaseImportLock()
    }

    /// Gives an import up and removes the store — for one the import created, or found unfinished: closes it (without
    /// a sync) and deletes its `data.mdb`, then its `lock.mdb`, while holding the import's lock, so that no other
    /// import has begun in them. Other files in the directory, and the directory, stay. If a file cannot be deleted,
    /// the error is thrown and what is left still carries the marker.
    public func discardImport() throws {
        try shutDown(syncing: false)
        defer { releaseImportLock() }
        for name in ["data.mdb", "lock.mdb"] {
            let file = (path as NSString).appendingPathComponent(name)
            guard unlink(file) == 0 || errno == ENOENT else {
                throw EventStoreError.storage(LMDBError(code: errno, operation: "unlink(\(file))"))
            }
        }
    }

    /// Takes the import's exclusive lock: a `flock` of this store's `data.mdb`, which LMDB itself never locks.
    private func lockForImport() throws {
        let file = (path as NSString).appendingPathComponent("data.mdb")
        let descriptor = Glibc.open(file, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw EventStoreError.storage(LMDBError(code: errno, operation: "open(\(file))")) }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            Glibc.close(descriptor)
            if code == EWOULDBLOCK { throw EventStoreError.importRunning(path: path) }
            throw EventStoreError.storage(LMDBError(code: code, operation: "flock(\(file))"))
        }
        // A failed import deletes its store's files: the file named data.mdb now may not be the one this store opened.
        var locked = stat()
        guard fstat(descriptor, &locked) == 0, let importedFile, UInt64(locked.st_dev) == importedFile.device,
            UInt64(locked.st_ino) == importedFile.inode
        else {
            Glibc.close(descriptor)
            throw EventStoreError.importRunning(path: path)
        }
        importLock.withLock { $0 = descriptor }
    }

    /// Releases the import's lock, if held.
    func releaseImportLock() {
        importLock.withLock { descriptor in
            if descriptor >= 0 { Glibc.close(descriptor) }
            descriptor = -1
        }
    }
}

extension GroupAppend {
    func restore(_ events: [ExportedEvent], _ txn: borrowing Transaction) throws {
        var reached = 0
        try restore(events, txn, reached: &reached)
    }

    /// Restores as ``restore(_:_:)`` does; `reached` is left at the index of the event being written when it throws.
    func restore(_ events: [ExportedEvent], _ txn: borrowing Transaction, reached: inout Int) throws {
        var head = try layout.head(txn)
        try catchUpProjections(to: head.position, txn)
        var nextStream = try layout.metaU64(Layout.metaNextStreamKey, txn) ?? 1
        let current = try layout.projections.map { try layout.databases(of: $0, txn) }
        var streams: [String: StreamHead] = [:]
        for (index, event) in events.enumerated() {
            reached = index
            func fail(_ reason: String) -> RestoreFailure { RestoreFailure(index: index, reason: reason) }
            guard event.position == head.position + 1 else {
                throw fail("position \(event.position) does not follow the head \(head.position)")
            }
            let stream = try streams[event.stream] ?? layout.streamHead(event.stream, txn)
            guard event.version == (stream?.version ?? 0) + 1 else {
                throw fail("version \(event.version) of stream \(event.stream) does not follow \(stream?.version ?? 0)")
            }
            guard event.recordedAtMilliseconds >= head.recordedAt else { throw fail("recorded_at goes backwards") }
            guard (1...Store.maxNameBytes).contains(event.stream.utf8.count), (1...Store.maxNameBytes).contains(event.type.utf8.count) else {
                throw fail("stream or type is empty or longer than \(Store.maxNameBytes) bytes")
            }
            let (value, hash) = RecordCodec.storedValue(
                previousHash: head.hash, previousInStream: stream?.lastPosition ?? 0, position: event.position,
                stream: event.stream, version: event.version, id: event.id, type: event.type,
                recordedAt: event.recordedAtMilliseconds, payload: event.payload, metadata: event.metadata
            )
            guard hash == event.hash else { throw fail("hash mismatch: the event or one before it was altered") }
            let recorded = RecordedEvent(
                position: event.position, stream: event.stream, version: event.version, id: event.id, type: event.type,
                recordedAtMilliseconds: event.recordedAtMilliseconds, metadata: event.metadata, payload: event.payload, hash: hash
            )
            for (registered, databases) in zip(layout.projections, current) {
                try registered.projection.apply(recorded, txn, databases)
            }
            let number = stream?.number ?? nextStream
            try BigEndian.withBytes(event.position) { key in
                _ = try value.withUnsafeBytes { try txn.put(layout.log, key, $0, flags: .append) }
                if event.version % Layout.streamIndexInterval == 0 {
                    _ = try BigEndian.withBytes(number, event.version) { try txn.put(layout.streamEvents, $0, key) }
                }
                try event.id.withBytes { idKey in
                    guard try txn.put(layout.ids, idKey, key, flags: .noOverwrite) else { throw fail("id \(event.id.lowercased) is used twice") }
                }
            }
            if stream == nil { nextStream += 1 }
            streams[event.stream] = StreamHead(number: number, version: event.version, lastPosition: event.position)
            head = Head(position: event.position, hash: hash, recordedAt: event.recordedAtMilliseconds)
        }
        var state = State(head: head, now: head.recordedAt, nextStream: nextStream, startPosition: head.position - UInt64(events.count))
        state.streams = streams.mapValues { ($0, true) }
        try finish(&state, txn)
    }
}
