import CLMDB
import Foundation

/// An open LMDB environment: one directory holding `data.mdb` and `lock.mdb`.
///
/// Opened with `MDB_NOTLS`, so read transactions are not tied to a thread and Swift tasks may run them on any
/// pool thread. Write transactions run synchronously inside ``write(_:)`` on the calling thread, begin to commit,
/// because lmdb.h says "A transaction and its cursors must only be used by a single thread" (a write transaction
/// committed on another thread never releases the writer lock).
///
/// The map grows by itself: when a write hits `MDB_MAP_FULL` the transaction is aborted, every read transaction of
/// this process is let finish (new ones wait), the map is doubled and the write body runs again. When another process
/// has grown the map, the next transaction adopts its size (`MDB_MAP_RESIZED`).
///
/// Open one directory once per process: LMDB forbids opening the same environment twice in one process, and a second
/// ``init(path:options:)`` of the same path fails with `EBUSY`.
public final class Environment: @unchecked Sendable {
    /// How to open an environment.
    public struct Options: Sendable {
        /// The initial map size. The file is sparse (no `MDB_WRITEMAP`), so a large map costs no disk.
        public var mapSize: Int = 1 << 30
        /// The most named databases that can be opened.
        public var maxDatabases: UInt32 = 128
        /// Reader slots shared by every process of the environment.
        public var maxReaders: UInt32 = 126
        /// Open read-only: nothing is created or written, not even the lock file's reader table if it exists read-only.
        public var readOnly = false
        /// Do not sync on commit (`MDB_NOSYNC`); call ``sync()`` to make earlier commits durable. A crash of the system
        /// (not just of the process) may then also damage the file: LMDB writes the meta page right after the data
        /// pages, and the page cache may put the meta page on disk first. Prefer ``noMetaSync``.
        public var noSync = false
        /// Sync only the data pages on commit (`MDB_NOMETASYNC`), one `fdatasync` instead of two; the meta page reaches
        /// the disk with the next commit's sync or ``sync()``. A system crash may undo the last commit, never the
        /// file's integrity: no meta page ever points at pages not yet on disk.
        public var noMetaSync = false
        /// A disposable environment (scratch work thrown away after use): written through the map, never synced
        /// (`MDB_WRITEMAP | MDB_NOSYNC | MDB_NOMETASYNC`). Dirty pages cost no heap and commits no copies, but a crash
        /// may leave the file unusable — never use it for data that must survive.
        public var disposable = false

        public init() {}
    }

    let handle: OpaquePointer
    /// The directory of the environment, as given.
    public let path: String
    public let isReadOnly: Bool
    private let gate = ReaderGate()
    private let writeLock = NSLock()
    private let canonicalPath: String
    /// This process's locks on `data.mdb` (nil where the file system has no such locks).
    private let locks: FileLocks?
    /// Where the map lies, lent to every transaction to bound the values LMDB lends; changed only with no
    /// transaction of this process open (the gate held exclusively, or at open), and read under `mapLock` (a writer
    /// begins outside the gate).
    private var mapBounds: MapBounds
    private let mapLock = NSLock()
    private var currentMap: MapBounds { mapLock.withLock { mapBounds } }
    /// Set by ``close()``, under the write lock and with every reader out (the gate held exclusively); read with
    /// either held.
    private var isClosed = false

    /// Opens (and, unless read-only, creates) the environment in the existing directory `path`.
    ///
    /// Stale reader slots left by processes that died are cleared here (`mdb_reader_check`), and again whenever all
    /// slots are taken. A data file shorter than its last committed page (truncated) is refused with
    /// ``LMDBError/Kind/corrupted`` rather than read past its end.
    public init(path: String, options: Options = Options()) throws {
        var env: OpaquePointer?
        try check(mdb_env_create(&env), "mdb_env_create")
        guard let env else { throw LMDBError(code: ENOMEM, operation: "mdb_env_create") }
        var locks: FileLocks?
        do {
            try check(mdb_env_set_maxdbs(env, MDB_dbi(options.maxDatabases)), "mdb_env_set_maxdbs")
            try check(mdb_env_set_maxreaders(env, options.maxReaders), "mdb_env_set_maxreaders")
            try check(mdb_env_set_mapsize(env, options.mapSize), "mdb_env_set_mapsize")
            // LMDB calls abort() once this returns; see `AssertionHook`.
            mdb_env_set_assert(env, lmdbAssertionFailed)
            var flags = UInt32(MDB_NOTLS)
            if options.readOnly { flags |= UInt32(MDB_RDONLY) }
            if options.noSync { flags |= UInt32(MDB_NOSYNC) }
            if options.noMetaSync { flags |= UInt32(MDB_NOMETASYNC) }
            if options.disposable { flags |= UInt32(MDB_WRITEMAP) | UInt32(MDB_NOSYNC) | UInt32(MDB_NOMETASYNC) | UInt32(MDB_NORDAHEAD) }
            let canonical = Self.canonicalize(path)
            guard OpenPaths.shared.insert(canonical) else {
                throw LMDBError(code: EBUSY, operation: "mdb_env_open(\(path)): already open in this process")
            }
            if options.readOnly, let empty = Diagnosis.beforeReadOnlyOpen(path: path) {
                OpenPaths.shared.remove(canonical)
                throw empty
            }
            if let damaged = Diagnosis.beforeOpen(path: path) {
                OpenPaths.shared.remove(canonical)
                throw damaged
            }
            let lockFile = Diagnosis.lockFile(path)
            let lockBefore = FileLocks.identity(lockFile)
            let rc = mdb_env_open(env, path, flags, 0o644)
            if rc != 0 {
                OpenPaths.shared.remove(canonical)
                throw Diagnosis.openFailure(code: rc, path: path)
            }
            do {
                locks = try Self.register(path: path, readOnly: options.readOnly, lockFile: lockFile, before: lockBefore)
            } catch {
                OpenPaths.shared.remove(canonical)
                throw error
            }
            self.canonicalPath = canonical
        } catch {
            mdb_env_close(env)
            throw error
        }
        self.handle = env
        self.path = path
        self.isReadOnly = options.readOnly
        self.locks = locks
        mapBounds = MapBounds(env)
        FaultGuard.register(map: mapBounds, for: env)
        _ = checkReaders()
        LiveEnvironments.shared.insert(self)
        // A data file shorter than its last page: LMDB leaves one when the pages at the end were taken and freed again
        // by one transaction (they are on the free list, never written); anything else is a truncated file, which LMDB
        // would read past its end through the map (a SIGBUS).
        if let damaged = try Diagnosis.truncation(self) ?? Diagnosis.metaPairing(self) {
            close()
            throw damaged
        }
    }

    /// Takes this process's locks on `data.mdb` once LMDB has opened `lock.mdb` (see ``FileLocks``): refuses when the
    /// lock file was replaced while opening, or when other processes hold the store open with another lock file.
    private static func register(path: String, readOnly: Bool, lockFile: String, before: (UInt64, UInt64)?) throws -> FileLocks? {
        guard let after = FileLocks.identity(lockFile) else {
            throw LMDBError(code: ENOENT, operation: "opening \(path)", detail: "lock.mdb was removed while the store was being opened; open it again")
        }
        if let before, before != after {
            throw LMDBError(code: EBUSY, operation: "opening \(path)", detail: "lock.mdb was replaced while the store was being opened; open it again")
        }
        let locks: FileLocks
        do {
            locks = try FileLocks(directory: path, readOnly: readOnly)
        } catch let error as LMDBError where error.code == EACCES || error.code == EPERM {
            // LMDB opened it; this process may not open it for writing (a read-only file): no locks of ours.
            return nil
        }
        do {
            try locks.registerOpen(lockFile: after, directory: path)
        } catch let error as LMDBError where [EINVAL, ENOLCK, EOPNOTSUPP, ENOSYS].contains(error.code) {
            return nil  // a file system without open-file-description locks: LMDB's own locks only
        }
        return locks
    }

    deinit {
        LiveEnvironments.shared.remove(self)
        if !isClosed {
            _ = abortIdleReaders()
            FaultGuard.unregister(handle)
            mdb_env_close(handle)
            OpenPaths.shared.remove(canonicalPath)
        }
    }

    /// Aborts the read transaction kept for reuse, releasing its reader slot; called when the process exits, so that
    /// one ending without closing the environment leaves no slot behind.
    fileprivate func releaseKeptReaders() {
        // Never waits: the exiting thread may itself be a reader that a pending resize or `close()` waits for. The
        // slot is then left to the next `mdb_reader_check`, as a killed process's is.
        guard gate.tryEnterShared() else { return }
        defer { gate.leaveShared() }
        if !isClosed { _ = abortIdleReaders() }
    }

    /// Closes the environment now, once the transaction running in this process (if any) has finished: later calls
    /// throw, and the directory may be opened again at once. Closing twice does nothing.
    ///
    /// lmdb.h, `mdb_env_close`: "Only a single thread may call this function. All transactions, databases, and
    /// cursors must already be closed before calling this function."
    public func close() {
        writeLock.lock()
        defer { writeLock.unlock() }
        gate.exclusive {
            guard !isClosed else { return }
            isClosed = true
            _ = abortIdleReaders()
            FaultGuard.unregister(handle)
            mdb_env_close(handle)
            OpenPaths.shared.remove(canonicalPath)
        }
    }

    /// Whether ``close()`` has been called.
    public var isOpen: Bool {
        gate.enterShared()
        defer { gate.leaveShared() }
        return !isClosed
    }

    /// The error of a call after ``close()``.
    private func closedError(_ operation: String) -> EnvironmentClosed {
        EnvironmentClosed(path: path, operation: operation)
    }

    private static func canonicalize(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Releases reader slots held by processes that no longer exist. Returns how many were cleared.
    @discardableResult
    public func clearStaleReaders() -> Int {
        gate.enterShared()
        defer { gate.leaveShared() }
        return isClosed ? 0 : checkReaders()
    }

    /// `mdb_reader_check`, for callers that already keep the environment open (a gate side or the write lock held).
    private func checkReaders() -> Int {
        var dead: Int32 = 0
        mdb_reader_check(handle, &dead)
        return Int(dead)
    }

    /// Allocates disk space for the first `bytes` of the data file. Pages written through the map
    /// (``Options/disposable``) are then backed by allocated blocks up to there: without it, a page written into a
    /// hole of the sparse file on a full file system is a `SIGBUS`, where a reservation fails here, cleanly.
    ///
    /// - Throws: ``LMDBError`` with `ENOSPC` when there is no room.
    public func reserve(bytes: Int) throws {
        try withDataFile { fd, file in
            let rc = posix_fallocate(fd, 0, off_t(bytes))
            guard rc == 0 else {
                var info = statvfs()
                let free = statvfs(path, &info) == 0 ? ", \(UInt64(info.f_bavail) * UInt64(info.f_frsize) >> 20) MiB free" : ""
                throw LMDBError(
                    code: rc, operation: "posix_fallocate(\(file), \(bytes >> 20) MiB)",
                    detail: rc == ENOSPC ? "no room for \(bytes >> 20) MiB in \((path as NSString).deletingLastPathComponent)\(free)" : nil)
            }
        }
    }

    /// Fills the data file with zeros from the page after the last one in use up to `bytes`, for a
    /// ``Options/disposable`` environment: write transactions then find those pages in the page cache instead of each
    /// first write faulting in a page of a hole (about a tenth of a refold's time). No write transaction may run
    /// meanwhile; pages LMDB uses are never written.
    public func prefill(upTo bytes: Int) throws {
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        var offset = (rawInfo().lastPage + 1) * pageSize
        guard offset < bytes else { return }
        try withDataFile { fd, file in
            let zeros = [UInt8](repeating: 0, count: 1 << 20)
            while offset < bytes {
                let count = min(zeros.count, bytes - offset)
                let written = zeros.withUnsafeBytes { pwrite(fd, $0.baseAddress, count, off_t(offset)) }
                guard written > 0 else { throw LMDBError(code: errno, operation: "pwrite(\(file))") }
                offset += written
            }
        }
    }

    /// Lends LMDB's own descriptor of the data file (it stays valid after the file is unlinked).
    private func withDataFile(_ body: (Int32, String) throws -> Void) throws {
        let file = (path as NSString).appendingPathComponent("data.mdb")
        var fd: Int32 = -1
        try check(mdb_env_get_fd(handle, &fd), "mdb_env_get_fd")
        try body(fd, file)
    }

    /// What a commit syncs, from the flags the environment is open with (`mdb_env_get_flags`): its data pages unless
    /// `MDB_NOSYNC`, its meta page unless `MDB_NOSYNC` or `MDB_NOMETASYNC`; `nil` once closed.
    package var commitSyncs: (data: Bool, meta: Bool)? {
        gate.enterShared()
        defer { gate.leaveShared() }
        guard !isClosed else { return nil }
        var flags: UInt32 = 0
        mdb_env_get_flags(handle, &flags)
        let data = flags & UInt32(MDB_NOSYNC) == 0
        return (data, data && flags & UInt32(MDB_NOMETASYNC) == 0)
    }

    /// Flushes earlier commits to disk (needed only with ``Options/noSync`` or ``Options/noMetaSync``).
    public func sync() throws {
        gate.enterShared()
        defer { gate.leaveShared() }
        if isClosed { throw closedError("mdb_env_sync") }
        let rc = mdb_env_sync(handle, 1)
        if rc != 0 { throw Diagnosis.diskFull(LMDBError(code: rc, operation: "mdb_env_sync"), path: path) }
    }

    /// Writes a copy of the environment as of one snapshot into `directory`, which must exist and hold no
    /// `data.mdb`, and syncs it to disk — the file, the directory's entry for it and, with `syncParent`, the parent's
    /// entry for the directory — before returning. Writers go on meanwhile (LMDB blocks them only while it copies the
    /// meta pages); the copy's read transaction pins the pages of its snapshot, so under heavy writes the file may grow
    /// while it runs, and while it runs a map resize of this process waits for it — and readers and writers of this
    /// process wait for that resize.
    ///
    /// The copy is written (`mdb_env_copyfd2`) into a file of its own with a temporary name, synced, then linked as
    /// `data.mdb` — which fails, touching nothing, if one has appeared meanwhile — and the temporary name removed. A
    /// copy that fails, or a process killed while it copies, never leaves a `data.mdb` behind (a kill leaves a
    /// `.data.mdb.partial-…` file, which is not a store).
    ///
    /// - Parameters:
    ///   - directory: An existing directory that holds no `data.mdb`; the copy becomes its `data.mdb`.
    ///   - compact: Leave out free pages and number the pages in order (`MDB_CP_COMPACT`): a smaller file, at more CPU.
    ///   - syncParent: Also sync the directory's parent, for a directory made just before the copy: its entry there is
    ///     what names it.
    public func copy(to directory: String, compact: Bool, syncParent: Bool = false) throws {
        let file = (directory as NSString).appendingPathComponent("data.mdb")
        func exists() -> LMDBError {
            LMDBError(code: EEXIST, operation: "copying into \(directory)", detail: "\(file) exists already: a copy never replaces a file")
        }
        if access(file, F_OK) == 0 { throw exists() }
        let partial = (directory as NSString).appendingPathComponent(".data.mdb.partial-\(UUID().uuidString)")
        let fd = open(partial, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw LMDBError(code: errno, operation: "open(\(partial))") }
        defer {
            _ = Foundation.close(fd)
            unlink(partial)  // ours (a unique name, `O_EXCL`); once linked as `data.mdb`, only this name goes
        }
        let full = "no room for the copy on the disk holding \(directory); the partial copy was removed"
        do {
            gate.enterShared()
            var holding = true
            defer { if holding { gate.leaveShared() } }
            if isClosed { throw closedError("mdb_env_copyfd2") }
            var attempts = 0
            while true {
                let rc = mdb_env_copyfd2(handle, fd, compact ? UInt32(MDB_CP_COMPACT) : 0)
                if rc == 0 { break }
                attempts += 1
                // As `begin` does: every reader slot taken (free dead and idle ones), or a map another process grew
                // (adopt its size, with no transaction of this process open). Nothing was written yet.
                if rc == MDB_READERS_FULL, attempts < 8 {
                    _ = abortIdleReaders() + checkReaders()
                    continue
                }
                if rc == MDB_MAP_RESIZED, attempts < 8 {
                    gate.leaveShared()
                    holding = false
                    try gate.exclusive { () throws in
                        if isClosed { throw closedError("mdb_env_copyfd2") }
                        try check(mdb_env_set_mapsize(handle, 0), "mdb_env_set_mapsize(0)")
                        remap()
                    }
                    gate.enterShared()
                    holding = true
                    if isClosed { throw closedError("mdb_env_copyfd2") }
                    guard ftruncate(fd, 0) == 0, lseek(fd, 0, SEEK_SET) == 0 else { throw LMDBError(code: errno, operation: "ftruncate(\(partial))") }
                    continue
                }
                throw LMDBError(code: rc, operation: "mdb_env_copyfd2(\(partial))", detail: [ENOSPC, EDQUOT].contains(rc) ? full : nil)
            }
        }
        guard fsync(fd) == 0 else {
            let code = errno
            throw LMDBError(code: code, operation: "fsync(\(partial))", detail: [ENOSPC, EDQUOT].contains(code) ? full : nil)
        }
        // `link` never replaces: a `data.mdb` made meanwhile stays as it was.
        guard link(partial, file) == 0 else {
            if errno == EEXIST { throw exists() }
            throw LMDBError(code: errno, operation: "link(\(partial), \(file))")
        }
        unlink(partial)
        // The entries that name the copy. Some file systems cannot sync a directory (EINVAL): the copy is whole, so
        // that is no failure.
        for path in [directory] + (syncParent ? [(directory as NSString).deletingLastPathComponent] : []) {
            let dir = open(path.isEmpty ? "." : path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard dir >= 0 else { throw LMDBError(code: errno, operation: "open(\(path))") }
            defer { _ = Foundation.close(dir) }
            guard fsync(dir) == 0 || errno == EINVAL else { throw LMDBError(code: errno, operation: "fsync(\(path))") }
        }
    }

    /// The page size of the data file (`mdb_env_stat`), 0 once closed.
    var pageSize: Int {
        gate.enterShared()
        defer { gate.leaveShared() }
        if isClosed { return 0 }
        var statistics = MDB_stat()
        mdb_env_stat(handle, &statistics)
        return Int(statistics.ms_psize)
    }

    /// Size facts of the environment.
    public func info() -> EnvironmentInfo {
        gate.enterShared()
        defer { gate.leaveShared() }
        if isClosed { return EnvironmentInfo(mapSize: 0, lastPage: 0, lastTransaction: 0, maxReaders: 0, readersInUse: 0) }
        return rawInfo()
    }

    private func rawInfo() -> EnvironmentInfo {
        var info = MDB_envinfo()
        mdb_env_info(handle, &info)
        return EnvironmentInfo(
            mapSize: info.me_mapsize,
            lastPage: info.me_last_pgno,
            lastTransaction: info.me_last_txnid,
            maxReaders: Int(info.me_maxreaders),
            readersInUse: Int(info.me_numreaders)
        )
    }

    // MARK: Transactions

    /// Runs `body` in a read transaction: one consistent snapshot of every database.
    ///
    /// Keep it short: a reader pins the pages of its snapshot (the file grows under churn while it lives), and a map
    /// resize waits for it. Do not start another transaction of this environment inside `body`.
    public func read<R>(_ body: (borrowing Transaction) throws -> R) throws -> R {
        // A kept transaction is renewed rather than a new one begun (see `ReaderGate`); after the body it is reset,
        // still inside the gate, and kept again.
        let kept = gate.enterSharedTakingIdle()
        var handle: OpaquePointer?
        defer {
            if let handle {
                mdb_txn_reset(handle)
                if !gate.leaveShared(keeping: handle) {
                    mdb_txn_abort(handle)
                    gate.leaveShared()
                }
            } else {
                gate.leaveShared()
            }
        }
        if isClosed { throw closedError("read") }  // close() took the kept ones: `kept` is nil
        let txn = try beginRead(renewing: kept)
        handle = txn.handle
        return try body(txn)
    }

    /// Runs `body` in a read transaction as ``read(_:)`` does, or returns `nil` at once when that would first wait:
    /// while this process resizes the map (which waits for every reader), or when another process resized it (adopting
    /// the size waits too), or when every reader slot is taken. For a thread that must never block, such as an event
    /// loop's: the caller falls back to what it knew before.
    public func readIfReady<R>(_ body: (borrowing Transaction) throws -> R) throws -> R? {
        guard gate.tryEnterShared() else { return nil }
        defer { gate.leaveShared() }
        if isClosed { throw closedError("read") }
        var txn: OpaquePointer?
        let rc = mdb_txn_begin(handle, nil, UInt32(MDB_RDONLY), &txn)
        if rc == MDB_MAP_RESIZED || rc == MDB_READERS_FULL { return nil }
        guard rc == 0, let txn else { throw LMDBError(code: rc, operation: "mdb_txn_begin") }
        defer { mdb_txn_abort(txn) }
        return try body(Transaction(handle: txn, ledger: nil, map: currentMap))
    }

    /// Renews `kept`, a reset read transaction, or begins a new one when there is none or it cannot be renewed (the
    /// map was resized by another process: the new one adopts the size).
    private func beginRead(renewing kept: OpaquePointer?) throws -> Transaction {
        if let kept {
            if mdb_txn_renew(kept) == 0 { return Transaction(handle: kept, ledger: nil, map: currentMap) }
            mdb_txn_abort(kept)
        }
        return try begin(flags: UInt32(MDB_RDONLY), holdingShared: true)
    }

    /// Aborts the kept read transactions, releasing their reader slots. Returns how many there were.
    private func abortIdleReaders() -> Int {
        let handles = gate.takeIdle()
        for handle in handles { mdb_txn_abort(handle) }
        return handles.count
    }

    /// Runs `body` in the write transaction and commits when it returns; aborts when it throws and rethrows.
    ///
    /// `body` may run more than once: when the map fills up the transaction is aborted, the map grown and `body`
    /// called again on a fresh transaction, so it must only depend on what it reads through the transaction. Once a
    /// put has failed the transaction is never committed. Writes of one process are serialised here; writes of other
    /// processes wait on LMDB's lock. The whole call runs on the calling thread.
    public func write<R>(_ body: (borrowing Transaction) throws -> R) throws -> R {
        try write(body, beforeCommit: nil)
    }

    /// Runs `body` in the write transaction as ``write(_:)`` does, then calls `beforeCommit` with its result, once,
    /// right before LMDB's commit — for what must happen between the two and never twice, such as recording the
    /// transaction's changes in another system first.
    ///
    /// `body` may run again only before `beforeCommit` has been called. When it throws, the transaction is aborted and
    /// its error rethrown. Once it has returned, nothing is rerun: if LMDB's commit then fails, the map is grown if it
    /// was full and ``LMDBError`` is thrown with ``LMDBError/Kind/mapFull`` or the commit's failure, and the caller
    /// decides what the changes recorded elsewhere mean for this store.
    public func write<R>(_ body: (borrowing Transaction) throws -> R, beforeCommit: ((R) throws -> Void)?) throws -> R {
        writeLock.lock()
        defer { writeLock.unlock() }
        if isClosed { throw closedError("write") }
        // Before LMDB's writer mutex, in every process: two writers never run at once even when they do not share
        // `lock.mdb` (see `FileLocks`). Held until the transaction ends.
        try locks?.lockWriter()
        defer { locks?.unlockWriter() }
        while true {
            let ledger = WriteLedger()
            let txn = try begin(flags: 0, holdingShared: false, ledger: ledger)
            let result: R
            do {
                result = try body(txn)
            } catch {
                mdb_txn_abort(txn.handle)
                if ledger.failure?.kind == .mapFull {
                    try grow()
                    continue
                }
                // A put that spills pages of a large transaction writes them to the file, and may find the disk full.
                if let lmdb = error as? LMDBError { throw Diagnosis.diskFull(lmdb, path: path) }
                throw error
            }
            if let failure = ledger.failure {
                mdb_txn_abort(txn.handle)
                if failure.kind == .mapFull {
                    try grow()
                    continue
                }
                throw Diagnosis.diskFull(failure, path: path)
            }
            if let beforeCommit {
                do {
                    try beforeCommit(result)
                } catch {
                    mdb_txn_abort(txn.handle)
                    throw error
                }
            }
            // lmdb.h: "The transaction handle is freed. It and its cursors must not be used again after this call,
            // except with mdb_cursor_renew()" — even when it fails, so no abort follows a failed commit.
            let rc = mdb_txn_commit(txn.handle)
            if rc == MDB_MAP_FULL {
                try grow()
                if beforeCommit != nil { throw LMDBError(code: rc, operation: "mdb_txn_commit") }
                continue
            }
            // A full disk fails the commit (a short pwrite, fdatasync) before the meta page is written: the commit is
            // not made, the earlier ones stand, and the next write works once there is room.
            if rc != 0 { throw Diagnosis.diskFull(LMDBError(code: rc, operation: "mdb_txn_commit"), path: path) }
            return result
        }
    }

    private func begin(flags: UInt32, holdingShared: Bool, ledger: WriteLedger? = nil) throws -> Transaction {
        var retriedFull = false
        var fullRetries = 0
        var resizes = 0
        while true {
            // A reader that adopted another process's map size below left the shared side meanwhile: `close()` may
            // have run. (A writer holds the write lock, which `close()` takes too.)
            if isClosed { throw closedError("mdb_txn_begin") }
            var txn: OpaquePointer?
            let rc = mdb_txn_begin(handle, nil, flags, &txn)
            if rc == 0, let txn { return Transaction(handle: txn, ledger: ledger, map: currentMap) }
            // Every reader slot taken: slots of processes that died inside a read transaction stay taken until someone
            // runs mdb_reader_check, and a process that keeps the store open would otherwise never see them freed.
            // This process's kept read transactions hold slots too: they go first. Another thread of this process may
            // have just freed slots (its own check cleared the dead ones first), so a check that frees none here is
            // still followed by one more try.
            if rc == MDB_READERS_FULL, fullRetries < 8 {
                fullRetries += 1
                let freed = abortIdleReaders() + checkReaders()
                if freed > 0 || !retriedFull {
                    retriedFull = retriedFull || freed == 0
                    continue
                }
            }
            guard rc == MDB_MAP_RESIZED else { throw LMDBError(code: rc, operation: "mdb_txn_begin") }
            // Adopting the size another process set makes the next begin work; a meta page whose last page lies beyond
            // any map LMDB will set is damage, and would otherwise be retried forever.
            resizes += 1
            if resizes > 8 {
                throw LMDBError(
                    code: MDB_CORRUPTED, operation: "mdb_txn_begin",
                    detail: "the store's meta page counts more pages than its map can hold, even after adopting its size: the data file is damaged; restore it from a backup or an export")
            }
            // lmdb.h, MDB_MAP_RESIZED: "the database was grown by another process; call mdb_env_set_mapsize() with a
            // size of zero to adopt the new size" — with no transaction of this process open.
            if holdingShared { gate.leaveShared() }
            defer { if holdingShared { gate.enterShared() } }
            try gate.exclusive { () throws in
                // Between leaving the shared side and taking this one, `close()` may have run.
                if isClosed { throw closedError("mdb_txn_begin") }
                try check(mdb_env_set_mapsize(handle, 0), "mdb_env_set_mapsize(0)")
                remap()
            }
        }
    }

    /// Doubles the map (by 64 GiB at most at a time), with every read transaction of the process finished.
    private func grow() throws {
        try gate.exclusive { () throws in
            let current = rawInfo().mapSize
            let step = min(current, 64 << 30)
            try check(mdb_env_set_mapsize(handle, current + step), "mdb_env_set_mapsize(\(current + step))")
            remap()
        }
    }

    /// After the map was set anew (no transaction of this process open): where it lies now.
    private func remap() {
        let map = MapBounds(handle)
        mapLock.withLock { mapBounds = map }
        FaultGuard.register(map: map, for: handle)
    }

    // MARK: Databases

    /// Runs `body`, which opens named databases, in a transaction that is committed so the handles stay open:
    /// a write transaction (databases may be created) or, in a read-only environment, a read transaction.
    ///
    /// lmdb.h: "This function [mdb_dbi_open] must not be called from multiple concurrent transactions in the same
    /// process", so both kinds take the process's write lock.
    public func openDatabases<R>(_ body: (borrowing Transaction) throws -> R) throws -> R {
        if !isReadOnly { return try write(body) }
        writeLock.lock()
        defer { writeLock.unlock() }
        gate.enterShared()
        defer { gate.leaveShared() }
        if isClosed { throw closedError("openDatabases") }
        let txn = try begin(flags: UInt32(MDB_RDONLY), holdingShared: true)
        let result: R
        do {
            result = try body(txn)
        } catch {
            mdb_txn_abort(txn.handle)
            throw error
        }
        // A handle opened in a read transaction stays open only if that transaction commits.
        try check(mdb_txn_commit(txn.handle), "mdb_txn_commit")
        return result
    }
}

/// A call on an environment after ``Environment/close()``.
public struct EnvironmentClosed: Error, Sendable, CustomStringConvertible {
    public let path: String
    public let operation: String
    public var description: String { "\(operation): the environment at \(path) is closed" }
}

extension EnvironmentClosed: LocalizedError {
    /// The ``description``, so that `localizedDescription` reads the same.
    public var errorDescription: String? { description }
}

/// The environments alive in this process. When it exits (`exit`, or returning from `main`), each releases the read
/// transaction it keeps for reuse: that transaction holds a reader slot of the environment's lock file, and a process
/// that ended without closing would otherwise leave it taken until another process's `mdb_reader_check` (at its next
/// open, or when every slot is taken). A process that is killed still leaves its slots so, as LMDB's always did.
private final class LiveEnvironments: @unchecked Sendable {
    static let shared: LiveEnvironments = {
        atexit { LiveEnvironments.shared.releaseKeptReaders() }
        return LiveEnvironments()
    }()

    private struct Entry {
        weak var environment: Environment?
    }

    private let lock = NSLock()
    private var entries: [ObjectIdentifier: Entry] = [:]

    func insert(_ environment: Environment) { lock.withLock { entries[ObjectIdentifier(environment)] = Entry(environment: environment) } }
    func remove(_ environment: Environment) { lock.withLock { _ = entries.removeValue(forKey: ObjectIdentifier(environment)) } }

    func releaseKeptReaders() {
        let alive = lock.withLock { entries.values.compactMap(\.environment) }
        for environment in alive { environment.releaseKeptReaders() }
    }
}

/// Directories with an environment open in this process (LMDB forbids opening one twice).
private final class OpenPaths: @unchecked Sendable {
    static let shared = OpenPaths()
    private let lock = NSLock()
    private var paths = Set<String>()

    func insert(_ path: String) -> Bool { lock.withLock { paths.insert(path).inserted } }
    func remove(_ path: String) { lock.withLock { _ = paths.remove(path) } }
}
