import Foundation
import LMDB

/// How an append becomes durable.
public enum Durability: Sendable, Hashable {
    /// An append returns after its commit is synced to disk (the default).
    case synced
    /// Each commit syncs its pages but not its meta page (`MDB_NOMETASYNC`: one `fdatasync` instead of two); the meta
    /// page reaches the disk with the next commit, ``Store/sync()`` or ``Store/close()``. For bulk loads: a system crash
    /// (power loss, kernel panic) may undo the last commit, never the store's integrity; a crash of the process loses
    /// nothing committed.
    case deferred
    /// Nothing is synced until ``Store/sync()`` or ``Store/close()`` (`MDB_NOSYNC`). Only for filling a new store that
    /// can be made again (`reel import` into a new directory): LMDB then writes each commit's meta page right after its
    /// data pages without a sync between them, and a system crash may leave the store damaged — the page cache may
    /// write the meta page first. A crash of the process alone loses nothing committed.
    case unsynced
    /// Nothing is ever synced and pages are written through the map (LMDB's `Environment.Options.disposable`): for scratch
    /// stores thrown away after use, such as a replay's view. A crash may leave such a store unusable.
    case disposable
}

/// Options for ``Store/open(at:projections:options:)``.
public struct StoreOptions: Sendable {
    public var durability: Durability = .synced
    /// Open read-only: nothing is created or written; appends fail.
    public var readOnly = false
    /// Create the store when the directory holds none. With `false`, a writable open of a path without a store fails
    /// (``EventStoreError/notAStore(path:reason:)``), as a read-only one always does: for work on a store that must
    /// exist, where a mistyped path would otherwise leave a new empty store behind.
    public var createIfMissing = true
    /// The map size to start with. It grows by itself; this only sets where it starts.
    public var initialMapSize = 1 << 30
    /// Events folded per write transaction of the store when a projection is caught up or rebuilt (a rebuild's bulk
    /// fold, in its scratch environment, takes 10 times as many per transaction). Each such transaction holds the
    /// write lock, and LMDB keeps the largest transaction's dirty-page buffers cached for the life of the process:
    /// small chunks keep both short (20,000 left 100 MB more heap after a rebuild under load than 2,000).
    public var rebuildChunk = 2_000
    /// The most events one group commit takes from the queue. It only matters when that many are queued at once — a
    /// bulk load — and then larger is faster, most of all when every commit is synced: random keys dirty about half a
    /// page per event, and a page that many events of one transaction change is written (and synced) once. A durable
    /// 1M-event `reel append`, which sets 196,608, took 6.0–6.4 s against 7.2–7.8 s with this default. The price is
    /// heap: a transaction's dirty pages are buffers on the heap, and LMDB keeps the largest transaction's buffers for
    /// reuse until the store closes (about 160 MB after groups of 65,536 events of the production mix, about three
    /// times that after groups of 196,608). Values below 1 act as 1; a batch larger than this still commits whole, as a
    /// group of its own.
    public var maxEventsPerGroup = 65_536
    /// How often a waiting subscription looks for other processes' commits in any case. They wake it at once through a
    /// watch on `data.mdb` where the system has one (inotify); this is the fallback.
    public var subscriptionFallback: Duration = .seconds(1)
    /// Called on the writer thread after each group commit, with its size and duration (a service's metrics). Keep it
    /// short: the next group waits for it.
    public var commitObserver: (@Sendable (CommitReport) -> Void)?
    /// Open for an import (`reel import`), writable: a store this open creates carries the unfinished-import marker
    /// from its first commit, and a store that carries it opens, where every other open fails with
    /// ``EventStoreError/importUnfinished(path:source:)``. The importer then calls ``Store/beginImport(source:)``,
    /// which erases what an unfinished import left, restores, and calls ``Store/finishImport()``.
    public var importing = false
    /// The log of record this store replicates (a cluster's log in PostgreSQL, say), or `nil` for a store whose own
    /// LMDB log is the record. With one, a writable open checks that the store is a replica of that log (a new empty
    /// store becomes one), repairs a replica that diverged from it (``Store/replicaRepair``), catches up with it and
    /// follows it; every append is recorded in it first (see ``LogOfRecord``). A replica refuses a writable open
    /// without its log, and may be opened read-only on its own.
    ///
    /// With ``importing`` as well, the store is filled on its own, as a store that will fill an empty log: the open
    /// only checks that it is not a replica of another log (an empty replica of this one is taken), and neither
    /// catches up nor follows; once the log holds the import, open the store with its log to make it the log's replica.
    public var logOfRecord: (any LogOfRecord)?
    /// Called when a running replica finds that it holds events its log of record does not (the log lost commits in a
    /// failover, or was restored from an older backup) and rebuilds itself from the log, with what was done in words
    /// for an operator. A repair at open is ``Store/replicaRepair`` instead.
    public var replicaRepaired: (@Sendable (String) -> Void)?

    public init() {}

    /// The group bound of a bulk load in a process that ends with it (``maxEventsPerGroup``): what `reel append` uses.
    /// Keep about one and a half times this many events in flight, so that the next group is read while one commits.
    public static let bulkLoadMaxEventsPerGroup = 196_608
}

/// An event store: an LMDB log with gapless positions, stream versions, idempotent ids, a hash chain and inline
/// projections, written through one group-commit writer.
///
/// Open a directory once per process and share the instance (it is `Sendable`); other processes may open the same
/// directory at the same time. Appends from any number of tasks are gathered into shared write transactions.
public final class Store: Sendable {
    /// The store's directory.
    public let path: String
    public let options: StoreOptions
    let environment: Environment
    let layout: Layout
    let notifier: CommitNotifier
    /// Wakes subscribers on other processes' commits (an inotify watch on `data.mdb`), started by the first one to wait.
    let watcher: CommitWatcher
    private let writer: GroupCommitWriter?
    let clock: @Sendable () -> Int64
    /// A descriptor of `data.mdb` holding an exclusive `flock` while this store runs an import
    /// (``beginImport(source:)``), or -1.
    let importLock = Locked<Int32>(-1)
    /// The device and inode of `data.mdb` as this store opened it, for an import's open (``StoreOptions/importing``):
    /// the import's lock is taken on that file only.
    let importedFile: (device: UInt64, inode: UInt64)?
    /// The replica's follower of its log of record: one catch-up at a time, woken by the log.
    private let follower: ReplicaFollower?
    /// What a writable open of a replica did about divergence from its log of record, for the operator: `nil` when it
    /// found none. The replica was then rebuilt from the log.
    public let replicaRepair: String?

    /// Opens the store in `path`, creating the directory and the store unless read-only.
    ///
    /// Each projection is caught up with the log before this returns: one that is new to the store, or whose
    /// ``Projection/version`` differs from the one that built its databases, is rebuilt from the whole log.
    ///
    /// - Throws: ``EventStoreError/notAStore(path:reason:)`` for a directory that does not hold a store (or a file that
    ///   is not one), ``EventStoreError/newerFormat(found:supported:)``, or ``EventStoreError/storage(_:)``.
    public static func open(at path: String, projections: [any Projection] = [], options: StoreOptions = StoreOptions()) throws -> Store {
        do {
            return try Store(path: path, projections: projections, options: options, clock: Store.systemClock)
        } catch let error as LogOfRecordError {
            throw EventStoreError.logOfRecord(error)
        }
    }

    static let systemClock: @Sendable () -> Int64 = { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }

    init(path: String, projections: [any Projection], options: StoreOptions, clock: @escaping @Sendable () -> Int64) throws {
        self.path = path
        self.options = options
        self.clock = clock
        let fileManager = FileManager.default
        let dataFile = (path as NSString).appendingPathComponent("data.mdb")
        if options.readOnly || !options.createIfMissing {
            guard fileManager.fileExists(atPath: dataFile) else {
                throw EventStoreError.notAStore(path: path, reason: "no data.mdb in it")
            }
        }
        // A node's store is made only once its log has answered: a log that is missing or refuses leaves no
        // directory behind.
        let identity = options.readOnly ? nil : try options.logOfRecord?.identity()
        if !options.readOnly {
            do {
                _ = try Self.makeDirectories(path)
            } catch let error as LMDBError {
                throw EventStoreError.notAStore(
                    path: path, reason: "cannot create the directory: \(error.detail ?? String(cString: strerror(error.code)))")
            }
        }
        var environmentOptions = Environment.Options()
        environmentOptions.mapSize = options.initialMapSize
        environmentOptions.readOnly = options.readOnly
        environmentOptions.noMetaSync = options.durability == .deferred
        environmentOptions.noSync = options.durability == .unsynced
        environmentOptions.disposable = options.durability == .disposable
        let environment: Environment
        var layout: Layout
        do {
            environment = try Environment(path: path, options: environmentOptions)
            var opened = stat()
            importedFile = options.importing && stat(dataFile, &opened) == 0 ? (UInt64(opened.st_dev), UInt64(opened.st_ino)) : nil
            layout = try environment.openDatabases { txn in
                try Self.checkIsReelStore(txn, path: path)
                let layout = try Layout(txn: txn, projections: projections, create: !options.readOnly)
                try Self.checkFormat(layout, txn, path: path, initialize: !options.readOnly, importing: options.importing)
                if !options.importing || options.readOnly, let source = try layout.unfinishedImport(txn) {
                    throw EventStoreError.importUnfinished(path: path, source: source)
                }
                return layout
            }
        } catch let error as LMDBError {
            switch error.kind {
            case .invalidFile, .incompatible:
                throw EventStoreError.notAStore(path: path, reason: error.description)
            case .corrupted:
                throw EventStoreError.damaged(path: path, reason: error.description)
            case .notFound:
                throw EventStoreError.notAStore(
                    path: path,
                    reason: "a database is missing (\(error.operation)): the store was made without this projection (open it writable "
                        + "once to add it), or the page that names it is damaged")
            default:
                throw EventStoreError.storage(error)
            }
        }
        let head = try environment.read { try layout.head($0) }.position
        if options.readOnly {
            // A projection whose fold changed, or that has not folded the whole log (a process without it appended, or
            // its fold was cut short), is brought up to date by a writable open; a read-only one must not read it. The
            // rest of the store (the log, the other projections) is served; a query of it throws why. (Checkpoints read
            // after `head` are at least as far along: a writer commits them with its events.)
            let outdated = try environment.read { txn in
                try layout.projections.reduce(into: [String: EventStoreError]()) { outdated, registered in
                    let checkpoint = try layout.checkpoint(of: registered.name, txn)
                    if let checkpoint, checkpoint.version != registered.projection.version {
                        outdated[registered.name] = .projectionOutdated(
                            name: registered.name, built: checkpoint.version, current: registered.projection.version)
                    } else if (checkpoint?.position ?? 0) < head {
                        outdated[registered.name] = .projectionBehind(name: registered.name, folded: checkpoint?.position ?? 0, head: head)
                    }
                }
            }
            if !outdated.isEmpty { layout = layout.excluding(outdated) }
        }
        self.environment = environment
        self.layout = layout
        notifier = CommitNotifier(head: head)
        let (watchedEnvironment, watchedLayout, watchedNotifier) = (environment, layout, notifier)
        watcher = CommitWatcher(
            dataFile: (path as NSString).appendingPathComponent("data.mdb"),
            head: { try? watchedEnvironment.read { try watchedLayout.head($0).position } },
            publish: { watchedNotifier.publish($0) })
        let append = GroupAppend(layout: layout, clock: clock)
        var replica: Replica?
        if options.readOnly {
            writer = nil
            follower = nil
            replicaRepair = nil
        } else {
            try Self.catchUp(layout.projections, append: append, environment: environment, chunk: options.rebuildChunk)
            try Self.dropUndeclaredDatabases(of: layout.projections, environment: environment)
            if let log = options.logOfRecord, let identity, options.importing {
                let replicated = try environment.read { try layout.logOfRecord($0) }
                if let replicated, replicated != identity {
                    throw LogOfRecordError.notAReplica(
                        path: path, reason: "is a replica of the log of record \(replicated), not of \(log.name): import into a new store")
                }
                follower = nil
                replica = nil
                replicaRepair = nil
            } else if let log = options.logOfRecord, let identity {
                replicaRepair = try Self.joinLog(log, identity: identity, append: append, environment: environment, path: path)
                replica = Replica(log: log, path: path, repaired: options.replicaRepaired ?? { _ in })
                follower = ReplicaFollower(replica: replica!, append: append, environment: environment, notifier: notifier)
            } else {
                let replicated = try environment.read { try layout.logOfRecord($0) }
                if let replicated {
                    throw LogOfRecordError.notAReplica(
                        path: path, reason: "is a replica of the log of record \(replicated): open it with that log to write to it, or read-only")
                }
                follower = nil
                replica = nil
                replicaRepair = nil
            }
            let notifier = notifier
            writer = GroupCommitWriter(
                environment: environment, append: append, maxEventsPerGroup: max(options.maxEventsPerGroup, 1), observer: options.commitObserver,
                replica: replica
            ) {
                notifier.publish($0)
            }
            follower?.start()
        }
    }

    /// Makes the store a replica of `log`, or checks that it is one, then brings it up to the log. A replica whose
    /// head the log does not hold (a failover lost commits, a backup of the log was restored) is erased and rebuilt
    /// from the log; what was done is returned. `identity` is the log's, read once at open.
    private static func joinLog(
        _ log: any LogOfRecord, identity: String, append: GroupAppend, environment: Environment, path: String
    ) throws -> String? {
        let layout = append.layout
        let (replicated, head) = try environment.read { txn in (try layout.logOfRecord(txn), try layout.head(txn)) }
        if let replicated, replicated != identity {
            throw LogOfRecordError.notAReplica(path: path, reason: "is a replica of the log of record \(replicated), not of \(identity) at \(log.name)")
        }
        if replicated == nil {
            // A store whose head is the log's event at that position holds the log's first events, every one (the hash
            // chain binds each to all before it): it becomes a replica, as an import through the log leaves it.
            if head.position > 0 {
                guard try log.event(at: head.position)?.hash == head.hash else {
                    throw LogOfRecordError.notAReplica(
                        path: path,
                        reason: "holds \(head.position) events of its own and is not a replica of \(log.name), which does not hold them: export it, and import the export into a new cluster's log")
                }
            }
            _ = try environment.write { txn in try txn.put(layout.meta, Layout.metaLogKey, Array(identity.utf8)) }
        }
        var repair: String?
        // The log's hash at the replica's head, once found the replica's: an event after it that does not give its own
        // hash is then the log's damage, not divergence.
        var after: LogHead?
        if head.position > 0 {
            if try log.event(at: head.position)?.hash == head.hash {
                after = LogHead(position: head.position, hash: head.hash)
            } else {
                repair = try append.repair(from: log, environment, path: path).message
            }
        }
        log.replicated(through: try append.catchUp(from: log, environment, through: nil, path: path, after: after))
        return repair
    }

    deinit {
        follower?.stop()
        writer?.stop()
        watcher.stop()
        notifier.close()
        releaseImportLock()
    }

    /// An LMDB environment is a Reel store when its main database names `reel.meta`, or is empty (a new store).
    /// Another program's environment is refused before anything is created in it.
    private static func checkIsReelStore(_ txn: borrowing Transaction, path: String) throws {
        do {
            _ = try txn.openDatabase("reel.meta")
            // A store has every database of the engine from its first commit on. One missing is damage (its entry in
            // the main tree lost or altered), never a database to make anew: a new empty log would fork the history.
            for name in engineDatabases {
                do {
                    _ = try txn.openDatabase(name)
                } catch let error as LMDBError where error.kind == .notFound {
                    throw EventStoreError.damaged(path: path, reason: "its database \(name) is missing: its entry in the main tree was lost or altered; restore the store from a backup or an export")
                }
            }
            return
        } catch let error as LMDBError where error.kind == .notFound {}
        let entries = try txn.statistics(txn.openDatabase(nil)).entries
        if entries > 0 {
            throw EventStoreError.notAStore(
                path: path, reason: "it holds another program's LMDB environment (\(entries) entries, no reel.meta)")
        }
        if txn.isReadOnly { throw EventStoreError.notAStore(path: path, reason: "it holds an empty LMDB environment (no reel.meta)") }
    }

    /// Reads the format marker; a new store (no marker, no events) gets one when `initialize`, and with it the
    /// unfinished-import marker when `importing`, so that no commit ever shows an empty store an import is filling.
    private static func checkFormat(_ layout: Layout, _ txn: borrowing Transaction, path: String, initialize: Bool, importing: Bool) throws {
        if let format = try layout.format(txn) {
            guard format <= Layout.formatVersion else {
                throw EventStoreError.newerFormat(found: format, supported: Layout.formatVersion)
            }
            return
        }
        guard try txn.statistics(layout.log).entries == 0 else {
            throw EventStoreError.notAStore(path: path, reason: "it has events but no format marker")
        }
        guard initialize else { throw EventStoreError.notAStore(path: path, reason: "it has no format marker") }
        var value = ByteWriter(capacity: 4)
        value.u32(Layout.formatVersion)
        try txn.put(layout.meta, Layout.metaFormatKey, value.bytes)
        if importing { try txn.put(layout.meta, Layout.metaImportKey, []) }
    }

    /// Deletes the databases of each registered projection that its fold no longer declares, in both generations: an
    /// older version of the fold made them, and since the version change rebuilt the projection nothing reads them
    /// (`EventTypeIndex` v1's `by-type`, `MediaProjection` v2's `scenelet-shots`). Only `proj.<name>.<database>`
    /// names whose database part has no dot are considered, so that another projection's databases (a projection
    /// named `<name>.x`, registered or not) are never taken for one of these.
    private static func dropUndeclaredDatabases(of projections: [RegisteredProjection], environment: Environment) throws {
        var declared = Set<String>()
        for registered in projections {
            for spec in registered.projection.databases {
                for suffix in RegisteredProjection.generationSuffixes {
                    declared.insert(Layout.projectionDatabaseName(registered.name, spec.name, generation: suffix))
                }
            }
        }
        let prefixes = projections.map { "proj.\($0.name)." }
        let stale = try environment.read { txn -> [String] in
            var stale: [String] = []
            try txn.withCursor(txn.openDatabase(nil)) { cursor in
                try cursor.forEach { key, _ in
                    let name = String(decoding: key, as: UTF8.self)
                    guard !declared.contains(name), let prefix = prefixes.first(where: { name.hasPrefix($0) }) else { return true }
                    let database = name.dropFirst(prefix.count).replacing("~b", with: "")
                    if !database.isEmpty, !database.contains(".") { stale.append(name) }
                    return true
                }
            }
            return stale
        }
        guard !stale.isEmpty else { return }
        // Another process opening the store may have dropped some already: only those still there are dropped.
        try environment.write { txn in
            for name in stale {
                let database: Database
                do {
                    database = try txn.openDatabase(name)
                } catch let error as LMDBError where error.kind == .notFound {
                    continue
                }
                try txn.drop(database, removeDatabase: true)
            }
        }
    }

    /// Brings every projection up to the head, in chunked transactions. One whose fold version changed is rebuilt
    /// blue/green (``rebuild(projection:progress:)``); one new to the store is folded from the start.
    private static func catchUp(_ projections: [RegisteredProjection], append: GroupAppend, environment: Environment, chunk: Int) throws {
        for registered in projections {
            let (checkpoint, head) = try environment.read { txn in
                (try append.layout.checkpoint(of: registered.name, txn), try append.layout.head(txn).position)
            }
            // A projection whose fold changed is rebuilt; so is one whose databases had to be made anew although it has
            // a checkpoint (their entries in the main tree were lost): folding on into empty databases would serve them
            // as if whole.
            if let checkpoint, checkpoint.version != registered.projection.version || append.layout.created.contains(registered.name) {
                do {
                    try rebuild([registered], append: append, environment: environment, chunk: chunk, progress: nil)
                } catch let refused as ScratchFold.Refused {
                    throw refused.error
                }
                continue
            }
            // Another process may register and fold the projection between the read above and the writes below (a
            // store opened by several processes at once): each write starts from its own transaction's checkpoint.
            if checkpoint == nil {
                try environment.write { txn in
                    if try append.layout.checkpoint(of: registered.name, txn) == nil { try append.writeCheckpoint(registered, 0, txn) }
                }
            }
            var next = (checkpoint?.position ?? 0) + 1
            while next <= head {
                let last = min(head, next + UInt64(max(chunk, 1)) - 1)
                try environment.write { txn in
                    let folded = try append.layout.checkpoint(of: registered.name, txn)?.position ?? 0
                    guard folded < last else { return }
                    try append.fold(registered, from: folded + 1, through: last, txn)
                    try append.writeCheckpoint(registered, last, txn)
                }
                next = last + 1
            }
        }
    }

    // MARK: Appending

    /// Appends a batch of events atomically, to one or several streams, and returns once it is committed (and, with
    /// ``Durability/synced``, on disk).
    ///
    /// - Parameters:
    ///   - events: The events, in order. Their ids must differ.
    ///   - expected: For some streams, how many events each must hold before the batch.
    /// - Returns: The position and version of each event. When every id is already stored with the same stream, type
    ///   and payload, nothing is written and the original positions come back with `isDuplicate` set.
    /// - Throws: ``EventStoreError/wrongExpectedVersion(stream:expected:actual:)``,
    ///   ``EventStoreError/idempotencyConflict(id:position:)``, ``EventStoreError/partialDuplicate(id:position:)``,
    ///   ``EventStoreError/invalidBatch(_:)``, a projection's rejection as it threw it, or
    ///   ``EventStoreError/storage(_:)``. A rejected batch writes nothing; other callers' batches are not affected.
    @discardableResult
    public func append(_ events: [NewEvent], expected: [String: ExpectedVersion] = [:]) async throws -> AppendResult {
        guard let writer else { throw EventStoreError.storage(LMDBError(code: 13, operation: "append to a read-only store")) }
        try Self.validate(events)
        return try await writer.submit(AppendRequest(events: events, expected: expected))
    }

    /// Queues a batch without waiting, behind every batch queued before it by this process, and calls `completion` once
    /// it is committed (durable) or rejected. For pipelines that keep many batches in flight in a fixed order, such as
    /// bulk loads; `completion` runs on the writer thread and must return quickly.
    ///
    /// `withdrawal`, when given, is asked on the writer thread as the batch joins a group, after the completions of
    /// every earlier group have run: an error it returns answers the batch, which is not written. A load that must stop
    /// at its first failed batch — one whose log of record was unavailable for a moment, say — withdraws the batches it
    /// queued after it, so that none of them lands past the gap.
    public func enqueue(
        _ events: [NewEvent], expected: [String: ExpectedVersion] = [:], withdrawal: (@Sendable () -> (any Error)?)? = nil,
        completion: @escaping @Sendable (Result<AppendResult, any Error>) -> Void
    ) {
        guard let writer else {
            return completion(.failure(EventStoreError.storage(LMDBError(code: 13, operation: "append to a read-only store"))))
        }
        do {
            try Self.validate(events)
        } catch {
            return completion(.failure(error))
        }
        writer.enqueue(AppendRequest(events: events, expected: expected, withdrawal: withdrawal), completion)
    }

    /// Appends one event, optionally expecting its stream to hold `expectedVersion` events first.
    @discardableResult
    public func append(_ event: NewEvent, expectedVersion: ExpectedVersion = .any) async throws -> AppendResult {
        try await append([event], expected: expectedVersion == .any ? [:] : [event.stream: expectedVersion])
    }

    static let maxNameBytes = 255

    private static func validate(_ events: [NewEvent]) throws {
        guard !events.isEmpty else { throw EventStoreError.invalidBatch("it has no events") }
        var ids = Set<UUID>()
        for (index, event) in events.enumerated() {
            guard events.count == 1 || ids.insert(event.id).inserted else {
                throw EventStoreError.invalidBatch("event \(index + 1) repeats id \(event.id.lowercased)")
            }
            guard (1...maxNameBytes).contains(event.stream.utf8.count) else {
                throw EventStoreError.invalidBatch("event \(index + 1): the stream must be 1…\(maxNameBytes) bytes")
            }
            guard (1...maxNameBytes).contains(event.type.utf8.count) else {
                throw EventStoreError.invalidBatch("event \(index + 1): the type must be 1…\(maxNameBytes) bytes")
            }
            guard event.payload.count < Int(UInt32.max) else {
                throw EventStoreError.invalidBatch("event \(index + 1): the payload is larger than 4 GiB")
            }
        }
    }

    /// Makes every earlier commit durable (needed only with ``Durability/deferred`` or ``Durability/unsynced``).
    public func sync() throws {
        do { try environment.sync() } catch { throw EventStoreError.wrap(error) }
    }

    /// Finishes queued appends, syncs, stops the writer and closes the LMDB environment: later appends and reads
    /// fail with ``EventStoreError/closed``, and the directory may be opened again at once.
    public func close() throws {
        try shutDown(syncing: !options.readOnly && options.durability != .disposable)
        releaseImportLock()
    }

    /// Stops the writer and closes the environment, after a sync when `syncing`; the import's lock stays.
    func shutDown(syncing: Bool) throws {
        guard environment.isOpen else { return }
        follower?.stop()
        writer?.stop()
        watcher.stop()
        notifier.close()
        defer { environment.close() }
        if syncing { try sync() }
    }

    // MARK: Reading

    /// Runs `body` on one consistent snapshot of the log and every projection.
    ///
    /// Synchronous and short, as LMDB read transactions should be: do not start another read or an append inside it.
    public func read<R>(_ body: (borrowing Snapshot) throws -> R) throws -> R {
        do {
            return try environment.read { txn in try body(Snapshot(txn: txn.lend(), layout: layout)) }
        } catch {
            throw EventStoreError.wrap(error)
        }
    }

    /// The position of the last event (0 for an empty store).
    public func head() throws -> UInt64 { try read { try $0.head() } }

    /// Registered projections this (read-only) store does not serve, and why: not built, built by another version of
    /// their fold, or behind the log. Always empty for a writable store, which brings them up to date when it opens.
    public var unservedProjections: [String: EventStoreError] { layout.unavailable }

    /// Up to `limit` events from `position` on, in order.
    public func events(from position: UInt64 = 1, limit: Int = 1_000) throws -> [RecordedEvent] {
        try read { try $0.events(from: position, limit: limit) }
    }

    /// Up to `limit` events of one stream from `version` on, in order.
    public func stream(_ name: String, from version: UInt64 = 1, limit: Int = 1_000) throws -> [RecordedEvent] {
        try read { try $0.stream(name, from: version, limit: limit) }
    }

    /// How many events a stream holds (0 when it has none).
    public func version(of stream: String) throws -> UInt64 { try read { try $0.version(of: stream) } }

    /// The event with this id, if stored.
    public func event(id: UUID) throws -> RecordedEvent? { try read { try $0.event(id: id) } }

    /// The events from `position` on, then each new commit as it happens: this process's at once, other processes' as
    /// soon as their writes to `data.mdb` are reported (see ``EventSubscription``). Ends when the store closes or the
    /// task is cancelled.
    public func subscribe(from position: UInt64 = 1) -> EventSubscription {
        EventSubscription(store: self, start: max(position, 1))
    }
}
