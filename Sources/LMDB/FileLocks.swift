import Glibc

/// Locks of this process on `data.mdb` itself, which LMDB never replaces, beside LMDB's own locks in `lock.mdb`, which
/// anyone can remove (clean-up scripts do).
///
/// LMDB serialises writers with a mutex in `lock.mdb` and keeps its reader table there. When `lock.mdb` is removed
/// while a process has the store open, the next process to open the store makes a new one: its writer then takes a
/// mutex nobody else takes, and cannot see the readers registered in the old file, so it reuses pages they still read.
/// Both damage the store. Two locks on `data.mdb` close that door:
///
/// - **The writer lock**, taken before each write transaction begins and released after it ends: two writers never
///   run at once, whatever became of `lock.mdb`. It is per transaction, not per open, so any number of processes keep
///   the store open and append in turn.
/// - **The open lock**: each process that has the store open holds a shared lock on a byte that stands for the
///   `lock.mdb` it uses (its inode). A process whose `lock.mdb` is not the one the others use finds their locks on other
///   bytes, and refuses to open.
///
/// Both are open-file-description locks (`F_OFD_SETLK`): a plain `fcntl` lock is dropped when the process closes *any*
/// descriptor of the file, which LMDB and this module both do; these go only with this descriptor, and the kernel drops
/// them when the process dies.
final class FileLocks: @unchecked Sendable {
    private let descriptor: Int32
    private let file: String

    // <fcntl.h>, Linux: the open-file-description lock commands, which Glibc's Swift module does not export.
    private static let getLock: Int32 = 36
    private static let setLock: Int32 = 37
    private static let setLockWait: Int32 = 38

    /// The writer lock's byte, and where the bytes of the open lock begin: one per possible `lock.mdb` identity.
    private static let writerByte: Int64 = 0
    private static let openBase: Int64 = 1 << 32
    private static let openSpan: Int64 = 1 << 40

    /// Opens `data.mdb` in `directory` (for writing too, unless `readOnly`: a write lock needs a descriptor open for
    /// writing).
    init(directory: String, readOnly: Bool) throws {
        file = directory + "/data.mdb"
        descriptor = open(file, (readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC)
        guard descriptor >= 0 else { throw LMDBError(code: errno, operation: "open(\(file))") }
    }

    deinit { close(descriptor) }

    /// The identity of a file (device and inode), or nil when it does not exist.
    static func identity(_ path: String) -> (UInt64, UInt64)? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return (UInt64(info.st_dev), UInt64(info.st_ino))
    }

    /// Takes the open lock for the `lock.mdb` of identity `lockFile`, and refuses (throws) when another process holds
    /// the store open with another `lock.mdb`.
    func registerOpen(lockFile: (UInt64, UInt64), directory: String) throws {
        let byte = Self.openBase + Int64(truncatingIfNeeded: (lockFile.1 ^ lockFile.0 << 48) % UInt64(Self.openSpan))
        try lock(type: Int16(F_RDLCK), start: byte, length: 1, wait: false)
        for (start, end) in [(Self.openBase, byte), (byte + 1, Self.openBase + Self.openSpan)] where start < end {
            if holder(start: start, length: end - start) {
                throw LMDBError(
                    code: EBUSY, operation: "opening \(directory)",
                    detail:
                        "lock.mdb was removed or replaced while another process had the store open: that process uses the old lock file, and a writer using the new one could not see it, so two writers could run at once or reuse pages its readers still read. Stop the processes that have the store open (or let them finish), then open it again"
                )
            }
        }
    }

    /// Blocks until this process holds the writer lock.
    func lockWriter() throws {
        try lock(type: Int16(F_WRLCK), start: Self.writerByte, length: 1, wait: true)
    }

    /// Releases the writer lock.
    func unlockWriter() {
        try? lock(type: Int16(F_UNLCK), start: Self.writerByte, length: 1, wait: false)
    }

    private func lock(type: Int16, start: Int64, length: Int64, wait: Bool) throws {
        var request = flock()
        request.l_type = type
        request.l_whence = Int16(SEEK_SET)
        request.l_start = off_t(start)
        request.l_len = off_t(length)
        request.l_pid = 0
        while true {
            if fcntl(descriptor, wait ? Self.setLockWait : Self.setLock, &request) == 0 { return }
            if errno == EINTR { continue }
            throw LMDBError(code: errno, operation: "fcntl(\(file), F_OFD_SETLK\(wait ? "W" : ""))")
        }
    }

    /// Whether another open file description holds a lock on any byte of the range.
    private func holder(start: Int64, length: Int64) -> Bool {
        var request = flock()
        request.l_type = Int16(F_WRLCK)
        request.l_whence = Int16(SEEK_SET)
        request.l_start = off_t(start)
        request.l_len = off_t(length)
        request.l_pid = 0
        guard fcntl(descriptor, Self.getLock, &request) == 0 else { return false }
        return request.l_type != Int16(F_UNLCK)
    }
}
