import Foundation

/// Lets many read transactions run at once but none while the map is being resized.
///
/// From lmdb.h, `mdb_env_set_mapsize`: "This function may only be called if no transactions are active in this
/// process." LMDB checks only for the writer; an open reader would keep pointers into the old map. So every read
/// transaction holds the shared side of this gate, and a resize waits for them to finish while holding new ones off.
final class ReaderGate: @unchecked Sendable {
    private let condition = NSCondition()
    private var readers = 0
    private var resizing = false

    func enterShared() {
        condition.lock()
        while resizing { condition.wait() }
        readers += 1
        condition.unlock()
    }

    func leaveShared() {
        condition.lock()
        readers -= 1
        if readers == 0 { condition.broadcast() }
        condition.unlock()
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
