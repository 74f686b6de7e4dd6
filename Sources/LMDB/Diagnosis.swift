import CLMDB
import Glibc

/// Looks into failures LMDB reports too briefly, so that the error names the file and the cause: which of the two
/// files is not LMDB's, a truncated data file, a full disk.
enum Diagnosis {
    static func dataFile(_ path: String) -> String { path + "/data.mdb" }
    static func lockFile(_ path: String) -> String { path + "/lock.mdb" }

    /// Before a read-only open. An empty `data.mdb` is what LMDB takes for a new environment, which a read-only open
    /// cannot initialise (it then fails with a bare `EBADF`). A writable open initialises it, as LMDB does: an empty
    /// file is also what a creation interrupted before its first write leaves, and two processes creating one store
    /// at once may see it for an instant.
    ///
    /// Also a `data.mdb` or `lock.mdb` that is not a regular file: a read-only open of a FIFO would wait forever for a
    /// writer to open it (a writable one fails at once: see ``openFailure(code:path:)``).
    static func beforeReadOnlyOpen(path: String) -> LMDBError? {
        if let special = notRegular(path, code: MDB_INVALID) { return special }
        var info = stat()
        guard stat(dataFile(path), &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, info.st_size == 0 else { return nil }
        return LMDBError(
            code: MDB_INVALID, operation: "mdb_env_open(\(path))",
            detail: "data.mdb is empty (0 bytes): truncated, or its creation was interrupted")
    }

    /// Before `mdb_env_open`: LMDB takes the page size from the meta pages without bounding it (a size of 0 divides by
    /// zero inside `mdb_env_open`), and finds the second meta page at the first one's page size. A file whose page size
    /// is not a power of two from 512 to 65,536 bytes in the first meta page, or in the one LMDB would read as the
    /// newer, is refused here with the page named.
    static func beforeOpen(path: String) -> LMDBError? {
        // Without blocking: a FIFO in data.mdb's place must not hold the open (LMDB's own open says what it is).
        let descriptor = open(dataFile(path), O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else { return nil }
        var first = [UInt8](repeating: 0, count: MetaPage.end)
        guard first.withUnsafeMutableBytes({ pread(descriptor, $0.baseAddress, $0.count, 0) }) == MetaPage.end,
              let meta = MetaPage(Bytes(first)), meta.magic == PageFormat.magic
        else { return nil }  // LMDB itself says what the file is not
        func plausible(_ size: Int) -> Bool { (512...65_536).contains(size) && size & (size - 1) == 0 }
        var pages = [meta]
        if plausible(meta.pageSize) {
            var second = [UInt8](repeating: 0, count: MetaPage.end)
            if second.withUnsafeMutableBytes({ pread(descriptor, $0.baseAddress, $0.count, off_t(meta.pageSize)) }) == MetaPage.end,
               let other = MetaPage(Bytes(second)), other.magic == PageFormat.magic
            {
                pages.append(other)
            }
        }
        let newer = pages.max { $0.transaction < $1.transaction } ?? meta
        for (index, page) in [(0, meta), (newer.pageNumber == meta.pageNumber ? 0 : 1, newer)] where !plausible(page.pageSize) {
            return LMDBError(
                code: MDB_CORRUPTED, operation: "mdb_env_open(\(path))",
                detail: "data.mdb is damaged: meta page \(index) gives a page size of \(page.pageSize) bytes; restore the store from a backup or an export")
        }
        return nil
    }

    /// After `mdb_env_open` failed with `code`.
    static func openFailure(code: Int32, path: String) -> LMDBError {
        let operation = "mdb_env_open(\(path))"
        if let special = notRegular(path, code: code) { return special }
        if code == MDB_INVALID || code == MDB_VERSION_MISMATCH {
            switch dataHeader(path) {
            case .lmdb:
                // LMDB rebuilds a lock file it does not recognise when no other process has it open; it refuses only
                // when it cannot take the file over.
                return LMDBError(
                    code: code, operation: operation,
                    detail:
                        "lock.mdb is not an LMDB lock file of this LMDB version, and another process holds it open; stop that process, or remove lock.mdb once no process uses the store"
                )
            case .otherVersion:
                return LMDBError(
                    code: code, operation: operation,
                    detail: "data.mdb was written by an incompatible LMDB version; open it with that version and export it")
            case .notLMDB:
                return LMDBError(code: code, operation: operation, detail: "data.mdb is not an LMDB data file (no LMDB header)")
            case .unreadable:
                break
            }
        }
        return diskFull(LMDBError(code: code, operation: operation), path: path)
    }

    /// The error for a `data.mdb` or `lock.mdb` that exists and is not a regular file (a directory, a FIFO, a device).
    private static func notRegular(_ path: String, code: Int32) -> LMDBError? {
        for (name, file) in [("data.mdb", dataFile(path)), ("lock.mdb", lockFile(path))] {
            var info = stat()
            if stat(file, &info) == 0, (info.st_mode & S_IFMT) != S_IFREG {
                return LMDBError(
                    code: code, operation: "mdb_env_open(\(path))",
                    detail: "\(name) is \((info.st_mode & S_IFMT) == S_IFDIR ? "a directory" : "not a regular file"), not LMDB's file")
            }
        }
        return nil
    }

    private enum Header { case lmdb, otherVersion, notLMDB, unreadable }

    /// The first meta page of `data.mdb`: after the 16-byte page header, `mm_magic` (0xBEEFC0DE) and `mm_version` (1),
    /// both in the machine's byte order (lmdb.h's `MDB_meta`).
    private static func dataHeader(_ path: String) -> Header {
        let descriptor = open(dataFile(path), O_RDONLY)
        guard descriptor >= 0 else { return .unreadable }
        defer { close(descriptor) }
        var words: (UInt32, UInt32) = (0, 0)
        let count = withUnsafeMutableBytes(of: &words) { pread(descriptor, $0.baseAddress, 8, 16) }
        guard count == 8 else { return .notLMDB }
        guard words.0 == 0xBEEF_C0DE else { return .notLMDB }
        return words.1 == 1 ? .lmdb : .otherVersion
    }

    /// After a successful open: the data file must hold every page in use. LMDB reads the file through its map, and
    /// reading a page past the end of a truncated file is a `SIGBUS` in the reader, not an error.
    ///
    /// A file shorter than its last page is not always truncated: pages one transaction took and freed again go on the
    /// free list but are never written (`mdb_page_flush` skips them), so the file may end before them. The rule is
    /// LMDB's own (its `mdb_env_copyfd0` stops at the file's end for this reason): the file is a whole number of pages,
    /// and every page from its end up to the last page in use is on the free list, read as of one snapshot.
    static func truncation(_ environment: Environment) throws -> LMDBError? {
        let info = environment.info()
        let file = dataFile(environment.path)
        var status = stat()
        guard stat(file, &status) == 0 else { return nil }
        let pageSize = environment.pageSize
        // Quick path: the file holds every page the newest meta page counts (the usual case). A last page so large that
        // the product overflows is damage, which the walk below names.
        let size = Int(status.st_size)
        if pageSize > 0, size % pageSize == 0, info.lastPage < size / pageSize { return nil }
        let (free, report) = try environment.freePages()
        let operation = "mdb_env_open(\(environment.path))"
        if let problem = report.problems.first {
            return LMDBError(code: MDB_CORRUPTED, operation: operation, detail: "data.mdb is damaged: \(problem); restore the store from a backup or an export")
        }
        let pages = UInt64(report.fileSize / report.pageSize)
        if report.fileSize % report.pageSize != 0 {
            return LMDBError(
                code: MDB_CORRUPTED, operation: operation,
                detail: "data.mdb is \(report.fileSize) bytes, not a whole number of \(report.pageSize)-byte pages: the file was truncated; restore the store from a backup or an export")
        }
        guard pages <= report.lastPage else { return nil }
        if let missing = (pages...report.lastPage).first(where: { !free.contains($0) }) {
            return LMDBError(
                code: MDB_CORRUPTED, operation: operation,
                detail:
                    "data.mdb is \(report.fileSize) bytes, but page \(missing), which is in use, lies past its end (its last page in use is \(report.lastPage)): the file was truncated; restore the store from a backup or an export"
            )
        }
        return nil
    }

    /// After a successful open: LMDB writes transaction n's meta page over transaction n − 2's, so the two meta pages
    /// always hold consecutive transactions (both 0 in a file no transaction has written yet). One flipped bit in the
    /// current one's transaction id makes LMDB read the other — the state before the last commit, silently; a flip in
    /// the other's makes it read a state older still. Either breaks the pairing, which this reads (with `pread`, twice
    /// more a moment later should a commit be under way) and refuses.
    static func metaPairing(_ environment: Environment) -> LMDBError? {
        let file = dataFile(environment.path)
        let descriptor = open(file, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var transactions: (UInt64, UInt64) = (0, 0)
        for attempt in 0..<3 {
            if attempt > 0 { usleep(10_000) }
            guard let walk = try? Walk(descriptor: descriptor, recordingKinds: false), let a = walk.metas[0], let b = walk.metas[1],
                  a.magic == PageFormat.magic, b.magic == PageFormat.magic
            else { return nil }
            transactions = (a.transaction, b.transaction)
            let (low, high) = (min(a.transaction, b.transaction), max(a.transaction, b.transaction))
            if high == 0 { return nil }
            if high - low == 1 {
                guard let issue = MetaPage.order(a, b) else { return nil }
                if attempt < 2 { continue }
                return LMDBError(
                    code: MDB_CORRUPTED, operation: "mdb_env_open(\(environment.path))",
                    detail: "data.mdb is damaged: \(issue); restore the store from a backup or an export")
            }
        }
        return LMDBError(
            code: MDB_CORRUPTED, operation: "mdb_env_open(\(environment.path))",
            detail:
                "data.mdb is damaged: its meta pages hold transactions \(transactions.0) and \(transactions.1), which are not consecutive — one was altered, or a system crash kept some writes of a store written without syncs (an import's) and lost others — and LMDB would read an older state of the store; restore the store from a backup or an export"
        )
    }

    /// A failed write. On a full disk LMDB's `pwrite` is short, which it reports as `EIO`; `fdatasync` and
    /// `ftruncate` say `ENOSPC` (or `EDQUOT`). When the file system holding `path` is full, says so, as `ENOSPC`.
    static func diskFull(_ error: LMDBError, path: String) -> LMDBError {
        guard [EIO, ENOSPC, EDQUOT].contains(error.code) else { return error }
        var info = statvfs()
        let free: UInt64? = statvfs(path, &info) == 0 ? UInt64(info.f_bavail) * UInt64(info.f_frsize) : nil
        guard error.code != EIO || (free ?? .max) < 1 << 20 else { return error }
        let space = free.map { ", \($0) bytes free" } ?? ""
        let cause = error.code == ENOSPC ? "" : "; LMDB reported \(String(cString: strerror(error.code)))"
        return LMDBError(
            code: ENOSPC, operation: error.operation,
            detail:
                "the disk holding \(path) is full\(space)\(cause); free space on it and retry: every acknowledged commit is intact, and the store takes writes again once there is room"
        )
    }
}
