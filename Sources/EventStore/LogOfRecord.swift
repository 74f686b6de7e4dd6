import Foundation

/// The head of a log of record: its last position and that event's hash (32 zero bytes for an empty log).
public struct LogHead: Sendable, Hashable, CustomStringConvertible {
    public let position: UInt64
    public let hash: [UInt8]

    public init(position: UInt64, hash: [UInt8]) {
        self.position = position
        self.hash = hash
    }

    /// The head of an empty log.
    public static let empty = LogHead(position: 0, hash: [UInt8](repeating: 0, count: 32))

    /// `position 42 (hash 3f…)`.
    public var description: String {
        "position \(position) (hash \(hash.prefix(4).map { String(format: "%02x", $0) }.joined())…)"
    }
}

/// Where a store's events are recorded first: by default the store's own LMDB log, which a commit records directly;
/// with ``StoreOptions/logOfRecord`` another system's, of which the store is a replica — the log and every projection
/// in LMDB, for reads in microseconds on each of several machines.
///
/// A store with a log of record appends each group commit in this order:
/// 1. ``beginGroup(limit:locked:)`` serialises with every writer of the log, on every machine, and returns its head
///    and the first events the replica lacks;
/// 2. the store brings its replica up to that head (with ``events(after:limit:)`` for any more);
/// 3. it runs the group in its LMDB write transaction: every rule checked against the log as it now stands;
/// 4. ``commitGroup(_:)`` records the group's events (or ``abandonGroup()`` ends a group that wrote nothing);
/// 5. LMDB commits, and the callers are answered.
///
/// The store calls the first four from its writer thread, one group at a time, and never from inside a closure that
/// LMDB may run again; they may block. ``events(after:limit:)``, ``head()`` and ``event(at:)`` are also called
/// outside a group, from any thread, to follow the log. Implementations: the PostgreSQL log of `ReelCluster`.
public protocol LogOfRecord: AnyObject, Sendable {
    /// Where the log is, for messages (no password).
    var name: String { get }

    /// The log's identity, written into a replica at its first open: a store that replicates one log is refused as a
    /// replica of another.
    func identity() throws -> String

    /// Takes the log's write lock until ``commitGroup(_:)`` or ``abandonGroup()``, and returns its head with up to
    /// `limit` events after the position `locked` returns, as the lock sees them: what the replica lacks, read on the
    /// group's own connection. `locked` is called once the lock is held, and tells the replica's head then (a head
    /// older than the replica's only makes the read return events the replica holds, which the store skips). It may
    /// be called on another thread while this call waits — the log's event loop, so that the read follows the lock
    /// with no round trip through the caller's thread — and must return at once, never waiting for a lock.
    func beginGroup(limit: Int, locked: @escaping @Sendable () throws -> UInt64) throws -> (head: LogHead, events: [ExportedEvent])

    /// Up to `limit` events after `position`, in order, every one committed (inside a group: as the lock sees them).
    func events(after position: UInt64, limit: Int) throws -> [ExportedEvent]

    /// As ``events(after:limit:)``, or `nil` at once when reading would first wait for another thread of this process
    /// that is reading the log: a writer about to take the lock does not queue behind a follower whose read may be
    /// waiting for its timeout.
    func eventsIfIdle(after position: UInt64, limit: Int) throws -> [ExportedEvent]?

    /// Records the events, which follow the head ``beginGroup(limit:locked:)`` returned, and commits; releases the lock. When this
    /// returns they are in the log of record. When the outcome cannot be known (the connection was lost during the
    /// commit), throws ``LogOfRecordError/outcomeUnknown(log:reason:)``.
    func commitGroup(_ events: [ExportedEvent]) throws

    /// Ends a begun group without recording anything and releases the lock.
    func abandonGroup()

    /// The head as last committed, outside any group.
    func head() throws -> LogHead

    /// The event at `position`, or `nil` when the log is shorter.
    func event(at position: UInt64) throws -> ExportedEvent?

    /// Called after the replica caught up outside a group, with its head: for the log to show how far each replica
    /// is (a log may keep it, at most now and then).
    func replicated(through position: UInt64)

    /// Starts calling `wake` whenever another writer may have committed (and now and then in any case), until
    /// ``stopWatching()``.
    func watch(_ wake: @escaping @Sendable () -> Void)

    /// Stops ``watch(_:)``; returns after the last call of its `wake` has ended.
    func stopWatching()

    /// What is wrong with the log itself, and with `replica` against it, as far as the log can check (for an audit;
    /// it may read the whole log): at most `limit` problems, located ``IntegrityProblem/Location/logOfRecord(_:)``.
    func audit(against replica: Store, limit: Int) throws -> [IntegrityProblem]
}

extension LogOfRecord {
    /// Reads as ``events(after:limit:)`` does.
    public func eventsIfIdle(after position: UInt64, limit: Int) throws -> [ExportedEvent]? {
        try events(after: position, limit: limit)
    }

    /// A log with no checks of its own: none.
    public func audit(against replica: Store, limit: Int) throws -> [IntegrityProblem] { [] }
}

/// Why a log of record refused or failed an operation.
public enum LogOfRecordError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The log could not be reached or failed the operation; nothing was changed (an append was not recorded), and
    /// the operation may be tried again.
    case unavailable(log: String, reason: String)
    /// The log refused the operation for a reason that trying again does not change — the account, its password or
    /// its permissions, a database or table that is missing, TLS the server does not offer, a record of the log that
    /// was altered — and nothing was changed.
    case refused(log: String, reason: String)
    /// The log did not confirm its commit (the connection was lost, or no answer came in time: a synchronous
    /// standby that is down holds a commit back): the events may or may not be recorded, now or later. Retrying the
    /// same batch with the same event ids is safe — an append is idempotent by id.
    case outcomeUnknown(log: String, reason: String)
    /// The store replicates another log, is not a replica at all, or is a replica and was opened writable without its
    /// log.
    case notAReplica(path: String, reason: String)
    /// The replica and the log disagree on what an event is, or the replica holds events the log does not: the log
    /// lost commits (a failover, a restored backup), or the replica was written without it.
    case diverged(path: String, reason: String)

    public var description: String {
        switch self {
        case let .unavailable(log, reason):
            "the log of record at \(log) is unavailable: \(reason); nothing was changed, and it is safe to try again"
        case let .refused(log, reason):
            "the log of record at \(log) refused: \(reason); nothing was changed"
        case let .outcomeUnknown(log, reason):
            "the log of record at \(log) did not confirm its commit (\(reason)): the batch may or may not be recorded; "
                + "retry it with the same event ids, which is safe"
        case let .notAReplica(path, reason): "the store at \(path) \(reason)"
        case let .diverged(path, reason): "the replica at \(path) has diverged from its log of record: \(reason)"
        }
    }

    /// Whether the replica, not the log, is what has to change: it is rebuilt from the log.
    var isDivergence: Bool {
        if case .diverged = self { return true }
        return false
    }

    /// Whether retrying the same batch, with the same ids, is the remedy.
    public var isRetryable: Bool {
        switch self {
        case .unavailable, .outcomeUnknown: true
        case .refused, .notAReplica, .diverged: false
        }
    }
}

extension LogOfRecordError: LocalizedError {
    /// The ``description``, so that `localizedDescription` reads the same.
    public var errorDescription: String? { description }
}
