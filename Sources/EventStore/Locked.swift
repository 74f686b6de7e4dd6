import Foundation

/// A value behind a lock.
///
/// An `NSLock` (a pthread mutex) rather than `Synchronization.Mutex`: on Linux the latter is a bare futex that
/// ThreadSanitizer cannot see, so every access under it is reported as a race and the sanitizer becomes useless.
package final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    package init(_ value: Value) { self.value = value }

    package func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }

    /// Runs `body` if the lock is free now; `nil` without waiting when another thread holds it.
    package func withLockIfAvailable<R>(_ body: (inout Value) throws -> R) rethrows -> R? {
        guard lock.try() else { return nil }
        defer { lock.unlock() }
        return try body(&value)
    }
}
