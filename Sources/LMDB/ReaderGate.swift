import Foundation

/// Lets many read transactions run at once but none while the map is being resized.
///
/// From lmdb.h, `mdb_env_set_mapsize`: "This function may only be called if no transactions are active in this
/// process." LMDB checks only for the writer; an open reader would keep pointers into the old map. So every read
/// transaction holds the shared side of this gate, and a resize waits for them to finish while holding new ones off.
///
/// It also keeps the read transactions the process has finished with, reset (`mdb_txn_reset`), for the next reader
/// to renew: lmdb.h, `mdb_txn_reset`: "This saves allocation overhead if the process will start a new read-only
/// transaction soon, and also locking overhead if MDB_NOTLS is in use." A new read transaction allocates and zeroes
/// its handle (about 6 KB with 128 databases), and that allocation is large enough to make malloc first merge every
/// small block the process freed since — a query that followed other work paid 5 µs for it before it read anything.
final class ReaderGate: @unchecked Sendable {
    private let condition = NSCondition()
    private var readers = 0
    private var resizing = false
    /// Reset read transactions, for reuse. Each keeps its reader slot (`MDB_NOTLS`), so they are few.
    private var idle: [OpaquePointer] = []

    /// Reset read transactions kept at most: one. Each holds one of the environment's reader slots, which every
    /// process of the environment shares and no other process can free while this one lives, so a process keeps one
    /// slot when idle — as LMDB's default mode keeps one per thread that has read. Concurrent reads beyond it begin
    /// new transactions, as before.
    static let maxIdle = 1

    func enterShared() {
        condition.lock()
        while resizing { condition.wait() }
        readers += 1
        condition.unlock()
    }

    /// Enters the shared side unless a resize or a close holds (or waits for) the exclusive side; never waits.
    func tryEnterShared() -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !resizing else { return false }
        readers += 1
        return true
    }

    /// Enters the shared side and takes a reset read transaction to renew, if one is kept.
    func enterSharedTakingIdle() -> OpaquePointer? {
        condition.lock()
        while resizing { condition.wait() }
        readers += 1
        let handle = idle.popLast()
        condition.unlock()
        return handle
    }

    func leaveShared() {
        condition.lock()
        readers -= 1
        if readers == 0 { condition.broadcast() }
        condition.unlock()
    }

    /// Leaves the shared side keeping `handle`, a reset read transaction, for the next reader; `false`, still inside,
    /// when enough are kept already: the caller aborts it, then leaves with ``leaveShared()`` — not after leaving, when
    /// a `close()` may already have closed the environment under it.
    func leaveShared(keeping handle: OpaquePointer) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard idle.count < Self.maxIdle else { return false }
        idle.append(handle)
        readers -= 1
        if readers == 0 { condition.broadcast() }
        return true
    }

    /// Takes every kept read transaction, for the caller to abort: before the environment closes, or to free their
    /// reader slots when the table is full.
    func takeIdle() -> [OpaquePointer] {
        condition.lock()
        defer { condition.unlock() }
        let handles = idle
        idle = []
        return handles
    }

    func exclusive<R>(_ body: () throws -> R) rethrows -> R {
        condition.lock()
        while resizing { condition.wait() }
        resizing = true
        while readers > 0 { condition.wait() }
        condition.unlock()
        defer {
            condition.lock()
            resizing = false
            condition.broadcast()
            condition.unlock()
        }
        return try body()
    }
}
