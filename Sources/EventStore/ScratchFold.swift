import Foundation
import LMDB

/// Projections folded from scratch, each in a disposable environment of its own (``Environment/Options/disposable``:
/// written through the map, never synced) and on a thread of its own, from one reading of a store's log, for a rebuild
/// to copy into that store, a replay to copy into a new one, or an audit to compare with it.
///
/// Folding there holds no lock of the store, writes no page twice to disk and keeps dirty pages off the heap; the
/// copy afterwards is a sequential append of sorted keys, far cheaper than the fold's random puts. The log is read
/// and decoded once, ahead of the folds, on a thread of its own (``EventFeed``): on two cores the largest projection's
/// fold runs on one while the reading and the other projections share the other.
struct ScratchFold: Sendable {
    /// One projection's scratch environment.
    struct Part: Sendable {
        /// The projection, registered in the part's environment (generation 0 is the one folded).
        let registered: RegisteredProjection
        let environment: Environment
    }

    let parts: [Part]
    /// Bytes reserved in each part's data file, to be filled with zeros before its fold.
    let reservations: [Int]
    /// The directory that held a directory per part (unlinked once they are open).
    let path: String
    /// Events folded per scratch transaction (cheap to commit: never synced, written through the map).
    let foldChunk: UInt64
    /// Entries copied per store transaction: sorted appends fill few pages, so a transaction of many stays short.
    let copyChunk: Int

    /// A projection refused an event of the log (a rule the log breaks: a record altered, or a fold's code changed).
    struct Refused: Error {
        let position: UInt64
        let projection: String
        let error: any Error
    }

    /// Scratch environments for `targets`, projections of the store `store` with `layout`. Each reserves disk space
    /// up front (``Store/scratchReservations(_:layout:environment:)``, ``Environment/reserve(bytes:)``): a temporary
    /// directory without room fails here, not with a `SIGBUS` halfway through the fold.
    ///
    /// - Parameters:
    ///   - chunk: The store's ``StoreOptions/rebuildChunk``.
    ///   - name: The scratch directory's name starts with it.
    init(_ targets: [RegisteredProjection], of store: Environment, layout: Layout, chunk: Int, name: String = "reel-fold") throws {
        let projections = targets.map(\.projection)
        let reserving = try Store.scratchReservations(targets, layout: layout, environment: store)
        let chunk = UInt64(max(chunk, 1))
        foldChunk = chunk * 10
        copyChunk = Int(chunk) * 25
        path = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString)").path
        var parts: [Part] = []
        do {
            for (index, projection) in projections.enumerated() {
                let directory = (path as NSString).appendingPathComponent("\(index)")
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                var options = Environment.Options()
                options.disposable = true
                // With MDB_WRITEMAP, LMDB truncates the file to the map's size whenever the map grows: a map smaller
                // than the reservation would cut it off.
                options.mapSize = max(options.mapSize, Self.mapSize(for: reserving[index]))
                let environment = try Environment(path: directory, options: options)
                do {
                    try environment.reserve(bytes: reserving[index])
                } catch let error as LMDBError {
                    environment.close()
                    guard error.code == ENOSPC else { throw error }
                    let temporary = FileManager.default.temporaryDirectory.path
                    throw LMDBError(
                        code: ENOSPC,
                        operation: "reserving \(reserving[index] >> 20) MiB in \(temporary) to fold projection \(projection.name) from scratch",
                        detail: "the temporary directory's file system is full; free space there, or set TMPDIR to a directory with more room")
                }
                let layout = try environment.openDatabases { txn in try Layout(txn: txn, projections: [projection], create: true) }
                parts.append(Part(registered: layout.projections[0], environment: environment))
            }
        } catch {
            for part in parts { part.environment.close() }
            try? FileManager.default.removeItem(atPath: path)
            throw error
        }
        // Unlinked at once: LMDB works on the open descriptors and the map, and the space comes back when the
        // environments close — even if this process is killed first, so no scratch is ever left behind.
        try? FileManager.default.removeItem(atPath: path)
        self.parts = parts
        self.reservations = reserving
    }

    /// A disposable environment's map for a reservation of `bytes`: the next power of two at or above it, at least
    /// LMDB's default 1 GiB here (the map costs address space only).
    static func mapSize(for bytes: Int) -> Int {
        var size = 1 << 30
        while size < bytes { size <<= 1 }
        return size
    }

    /// Closes the environments, which frees their (already unlinked) files.
    func remove() {
        for part in parts { part.environment.close() }
    }

    /// Folds the store's events `1…target` into every projection: the first on the calling thread, each other on a
    /// thread of its own, and `alongside`, when given, on one more thread meanwhile.
    ///
    /// - Parameters:
    ///   - progress: Called on the calling thread after each transaction of the first projection.
    ///   - then: Called with the index of each projection but the first, on its thread, once its fold is done (the
    ///     caller goes on with the first when this returns).
    ///   - alongside: Given a function that tells whether the fold has failed meanwhile (it should then stop soon).
    /// - Returns: How many of the events began their stream (version 1).
    /// - Throws: ``Refused`` when a projection refuses an event; ``EventStoreError/corruptRecord(position:reason:)``
    ///   for a record that cannot be decoded; LMDB's errors; what `alongside` throws.
    @discardableResult
    func fold(
        from store: Environment, layout: Layout, through target: UInt64, progress: ((UInt64) -> Void)? = nil,
        alongside: (@Sendable (_ stopped: @Sendable () -> Bool) throws -> Void)? = nil, then: (@Sendable (Int) throws -> Void)? = nil
    ) throws -> Int {
        let feed = EventFeed(
            store: store, layout: layout, from: 1, through: max(target, 1), boundary: foldChunk,
            projections: parts.map(\.registered.projection))
        let failures = Locked<[any Error]>([])
        let done = DispatchSemaphore(value: 0)
        var helpers = 0
        func onThread(_ work: @escaping @Sendable () throws -> Void) {
            helpers += 1
            Thread {
                defer { done.signal() }
                do { try work() } catch {
                    failures.withLock { $0.append(error) }
                    feed.stop()
                }
            }.start()
        }
        for index in parts.indices.dropFirst() {
            onThread { [self] in
                try foldPart(index, from: feed, through: target, progress: nil)
                try then?(index)
            }
        }
        if let alongside { onThread { try alongside { feed.isStopped } } }
        var first: (any Error)?
        do {
            if parts.isEmpty {
                if target > 0 { try feed.drain() }
            } else {
                try foldPart(0, from: feed, through: target, progress: progress)
            }
        } catch {
            first = error
            feed.stop()
        }
        for _ in 0..<helpers { done.wait() }
        feed.stop()
        // The error that stopped the others, not their `Stopped`.
        let errors = (first.map { [$0] } ?? []) + failures.withLock { $0 }
        if let error = errors.first(where: { !($0 is EventFeed.Stopped) }) ?? errors.first { throw error }
        return target == 0 ? 0 : feed.streamsBegun
    }

    /// Folds events `1…target` from `feed` into part `index`, `foldChunk` events per transaction.
    private func foldPart(_ index: Int, from feed: EventFeed, through target: UInt64, progress: ((UInt64) -> Void)?) throws {
        guard target > 0 else { return }
        let part = parts[index]
        let projection = part.registered.projection
        let databases = part.registered.generations[0]
        // On this part's thread, while the feed reads ahead.
        try part.environment.prefill(upTo: reservations[index])
        var next: UInt64 = 1
        while next <= target {
            let last = min(target, next + foldChunk - 1)
            // The chunk's slices are kept until it commits: `write` runs its body again on a fresh transaction when
            // the map must grow.
            var slices: [EventFeed.Slice] = []
            try part.environment.write { txn in
                var taken = 0
                var folded = next - 1
                while folded < last {
                    if taken == slices.count {
                        guard let slice = try feed.next(index) else {
                            throw EventStoreError.corruptRecord(position: folded + 1, reason: "missing from the log")
                        }
                        slices.append(slice)
                    }
                    let slice = slices[taken]
                    for i in slice.events.indices {
                        do {
                            try slice.apply(i, index, projection, txn, databases)
                        } catch let error as LMDBError {
                            throw error
                        } catch {
                            throw Refused(position: slice.events[i].position, projection: projection.name, error: error)
                        }
                    }
                    folded = slice.events.last?.position ?? folded
                    taken += 1
                }
            }
            feed.recycle(&slices)
            next = last + 1
            progress?(last)
        }
    }

    /// Copies the databases of part `index` into `target`, empty databases of `store`, in key order.
    func copy(_ index: Int, into target: ProjectionDatabases, of store: Environment) throws {
        let part = parts[index]
        for spec in part.registered.projection.databases {
            // Sorted input: every new key goes at the end; in a duplicateSort database, so does every value of a key.
            let flags: PutFlags = spec.flags.contains(.duplicateSort) ? .appendDuplicate : .append
            let source = part.registered.generations[0][spec.name]
            try Self.copy(source, of: part.environment, into: target[spec.name], of: store, chunk: copyChunk, flags: flags) {
                _, _, _ in .copy
            }
        }
    }

    /// What ``copy(_:of:into:of:chunk:flags:_:)`` does with one entry.
    enum Entry {
        case copy
        case skip
        /// Copy the key with this value instead.
        case replace([UInt8])
        /// Copy nothing more.
        case stop
    }

    /// Copies the entries of `source` in `from`, in key order, into `destination` (an empty database) in `to`,
    /// `chunk` entries per write transaction of `to`, each read in a read transaction of `from`, which `decide` is lent
    /// with each entry.
    static func copy(
        _ source: Database, of from: Environment, into destination: Database, of to: Environment, chunk: Int, flags: PutFlags,
        stopped: () -> Bool = { false },
        _ decide: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, _ reading: borrowing Transaction) throws -> Entry
    ) throws {
        /// The first entry not copied yet (`nil`: from the start). The value matters in a `duplicateSort` database,
        /// where one key has many entries.
        var resume: (key: [UInt8], value: [UInt8])? = nil
        var done = false
        while !done {
            if stopped() { throw EventFeed.Stopped() }
            // The write body may run again (a map grown mid-transaction), so it starts from `start` every time and
            // only its returned result moves `resume`.
            let start = resume
            (resume, done) = try to.write { txn -> ((key: [UInt8], value: [UInt8])?, Bool) in
                try from.read { reading in
                    // One write cursor for the transaction: with `MDB_APPEND` it stays at the end of the database,
                    // where `mdb_put` would search from the root for every entry.
                    try txn.withCursor(destination) { writer in
                        try reading.withCursor(source) { cursor in
                            var copied = 0
                            var next: (key: [UInt8], value: [UInt8])? = nil
                            var stopped = false
                            // Position on the first entry to copy, then visit it and each after it.
                            var more: Bool
                            if let start {
                                more = try start.key.withUnsafeBytes { key in
                                    try start.value.withUnsafeBytes { value in
                                        flags.contains(.appendDuplicate)
                                            ? try cursor.seek(key, atLeast: value) { _, _ in true }
                                            : try cursor.seek(atLeast: key) { _, _ in true }
                                    }
                                } ?? false
                            } else {
                                more = try cursor.move(.first) { _, _ in true } ?? false
                            }
                            var move = Cursor.Move.current
                            while more {
                                more = try cursor.move(move) { key, value in
                                    if copied == chunk {
                                        next = (Array(key), Array(value))
                                        return false
                                    }
                                    switch try decide(key, value, reading) {
                                    case .copy: try writer.put(key, value, flags: flags)
                                    case .skip: return true
                                    case let .replace(bytes): _ = try bytes.withUnsafeBytes { try writer.put(key, $0, flags: flags) }
                                    case .stop:
                                        stopped = true
                                        return false
                                    }
                                    copied += 1
                                    return true
                                } ?? false
                                move = .next
                            }
                            return (next, next == nil || stopped)
                        }
                    }
                }
            }
        }
    }
}
