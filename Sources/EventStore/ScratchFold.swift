import Foundation
import LMDB

/// Projections folded from scratch in a disposable environment of their own (``Environment/Options/disposable``:
/// written through the map, never synced), from the events of a store's log, for a rebuild to copy into that store or
/// an audit to compare with it.
///
/// Folding there holds no lock of the store, writes no page twice to disk and keeps dirty pages off the heap; the
/// copy afterwards is a sequential append of sorted keys, far cheaper than the fold's random puts. The log is read
/// once for all the projections, ahead of the fold on a thread of its own (``EventFeed``).
struct ScratchFold {
    /// The scratch environment's databases: a store's, with the projections registered (generation 0 of each is the
    /// one folded).
    let layout: Layout
    var projections: [RegisteredProjection] { layout.projections }
    let path: String
    let environment: Environment
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

    /// - Parameters:
    ///   - chunk: The store's ``StoreOptions/rebuildChunk``.
    ///   - name: The scratch directory's name starts with it.
    init(_ projections: [any Projection], chunk: UInt64, name: String = "reel-fold") throws {
        foldChunk = chunk * 10
        copyChunk = Int(chunk) * 25
        path = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        var options = Environment.Options()
        options.disposable = true
        do {
            environment = try Environment(path: path, options: options)
            layout = try environment.openDatabases { txn in try Layout(txn: txn, projections: projections, create: true) }
        } catch {
            try? FileManager.default.removeItem(atPath: path)
            throw error
        }
    }

    /// Closes the environment and deletes its directory.
    func remove() {
        environment.close()
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Folds the store's events `1…target` into every projection.
    ///
    /// - Throws: ``Refused`` when a projection refuses an event; ``EventStoreError/corruptRecord(position:reason:)``
    ///   for a record that cannot be decoded; LMDB's errors.
    func fold(from store: Environment, layout: Layout, through target: UInt64, progress: ((UInt64) -> Void)? = nil) throws {
        guard target > 0 else { return }
        let feed = EventFeed(
            store: store, layout: layout, from: 1, through: target, boundary: foldChunk, projections: projections.map(\.projection))
        defer { feed.stop() }
        let count = projections.count
        let folding = projections.map(\.projection)
        let databases = projections.map { $0.generations[0] }
        var next: UInt64 = 1
        while next <= target {
            let last = min(target, next + foldChunk - 1)
            // The chunk's slices are kept until it commits: `write` runs its body again on a fresh transaction when
            // the map must grow.
            var slices: [EventFeed.Slice] = []
            try environment.write { txn in
                var index = 0
                var folded = next - 1
                while folded < last {
                    if index == slices.count {
                        guard let slice = try feed.next() else {
                            throw EventStoreError.corruptRecord(position: folded + 1, reason: "missing from the log")
                        }
                        slices.append(slice)
                    }
                    for i in slices[index].events.indices {
                        for p in 0..<count {
                            do {
                                try slices[index].apply(i, p, of: count, folding[p], txn, databases[p])
                            } catch let error as LMDBError {
                                throw error
                            } catch {
                                throw Refused(position: slices[index].events[i].position, projection: folding[p].name, error: error)
                            }
                        }
                    }
                    folded = slices[index].events.last?.position ?? folded
                    index += 1
                }
            }
            feed.recycle(&slices)
            next = last + 1
            progress?(last)
        }
    }

    /// Copies the databases of `registered` (one of ``projections``) into `target`, empty databases of `store`, in
    /// key order.
    func copy(_ registered: RegisteredProjection, into target: ProjectionDatabases, of store: Environment) throws {
        for spec in registered.projection.databases {
            let flags: PutFlags = spec.flags.contains(.duplicateSort) ? [] : .append
            try Self.copy(registered.generations[0][spec.name], of: environment, into: target[spec.name], of: store, chunk: copyChunk, flags: flags) {
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
        _ decide: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, _ reading: borrowing Transaction) throws -> Entry
    ) throws {
        /// The first key not copied yet (`nil`: from the start).
        var resume: [UInt8]? = nil
        var done = false
        while !done {
            // The write body may run again (a map grown mid-transaction), so it starts from `start` every time and
            // only its returned result moves `resume`.
            let start = resume
            (resume, done) = try to.write { txn -> ([UInt8]?, Bool) in
                try from.read { reading in
                    try reading.withCursor(source) { cursor in
                        var copied = 0
                        var next: [UInt8]? = nil
                        var stopped = false
                        let startBytes = start ?? []
                        try startBytes.withUnsafeBytes { first in
                            try cursor.forEach(from: start == nil ? nil : first) { key, value in
                                if copied == chunk {
                                    next = Array(key)
                                    return false
                                }
                                switch try decide(key, value, reading) {
                                case .copy: try txn.put(destination, key, value, flags: flags)
                                case .skip: return true
                                case let .replace(bytes): _ = try bytes.withUnsafeBytes { try txn.put(destination, key, $0, flags: flags) }
                                case .stop:
                                    stopped = true
                                    return false
                                }
                                copied += 1
                                return true
                            }
                        }
                        return (next, next == nil || stopped)
                    }
                }
            }
        }
    }
}
