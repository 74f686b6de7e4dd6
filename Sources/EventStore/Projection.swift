import Foundation
import LMDB
import Synchronization

/// A read model kept inside the append's write transaction.
///
/// A projection owns named databases, folds each event as it is appended (in the same LMDB write transaction as the
/// event, so the two commit together or not at all), and may reject an event by throwing: the caller's whole batch is
/// then rejected with that error and writes nothing, while other callers in the same group commit still land.
///
/// Rules:
/// - `apply` must be deterministic: it may run more than once for one event (the transaction is retried when the map
///   grows or another batch of the group fails after writing).
/// - Check rules before writing where you can: a rejection before any write costs nothing, one after a write makes the
///   engine redo the group without the rejected batch.
/// - Read and write only your own databases, through `databases`.
/// - Bump `version` whenever the fold changes: on open, a projection whose stored version differs is rebuilt from the
///   log.
public protocol Projection: Sendable {
    /// Stable name; also the prefix of its databases and the key of its checkpoint.
    var name: String { get }
    /// The version of the fold's code.
    var version: UInt32 { get }
    /// The databases it owns.
    var databases: [ProjectionDatabase] { get }
    /// Folds one event. Throw to reject it.
    func apply(_ event: RecordedEvent, _ txn: borrowing Transaction, _ databases: ProjectionDatabases) throws
    /// The part of folding `event` that needs no transaction — typically decoding its payload. A refold of the log
    /// (rebuild, replay, the audit's fresh fold) runs it on another thread, ahead of ``apply(_:_:_:)``, which then
    /// finds the result as the event's ``RecordedEvent/attachment``. Return `nil` for nothing to hand over, also when
    /// the event cannot be prepared: `apply` then meets the problem itself and throws. The default returns `nil`.
    func prepare(_ event: RecordedEvent) -> (any Sendable)?
    /// Whether ``apply(_:_:_:)`` reads the event's ``RecordedEvent/hash``. When no projection of a store does, the
    /// writer computes a large group's hash chain on a second thread while it folds the group, and `apply` is given
    /// events whose `hash` is empty (the stored event has its hash, as always). The default is `true`.
    var readsHash: Bool { get }
}

extension Projection {
    public func prepare(_ event: RecordedEvent) -> (any Sendable)? { nil }
    public var readsHash: Bool { true }
}

/// The declaration of one database a projection owns.
public struct ProjectionDatabase: Sendable, Hashable {
    public let name: String
    public let flags: DatabaseFlags

    public init(_ name: String, flags: DatabaseFlags = []) {
        self.name = name
        self.flags = flags
    }
}

/// The opened databases of one projection, by the names it declared.
public struct ProjectionDatabases: Sendable {
    let handles: [String: Database]
    private let memo = Memo()

    init(handles: [String: Database]) { self.handles = handles }

    /// A value derived once from these databases (typically a struct of resolved handles), built on first use and
    /// kept for the life of the store, so `apply` need not look databases up by name for every event.
    public func memoized<T: Sendable>(_ build: (ProjectionDatabases) -> T) -> T {
        // Called for every event a projection folds: a futex-based lock and a type check, no existential cast.
        memo.state.withLock { state in
            if state.type == ObjectIdentifier(T.self), let box = state.box { return unsafeDowncast(box, to: MemoBox<T>.self).value }
            let value = build(self)
            state = (ObjectIdentifier(T.self), MemoBox(value))
            return value
        }
    }

    /// The database declared under `name`. Asking for an undeclared name is a programming error.
    public subscript(name: String) -> Database {
        guard let handle = handles[name] else { preconditionFailure("projection database \(name) was not declared") }
        return handle
    }

    var all: [Database] { handles.keys.sorted().map { handles[$0]! } }
}

private final class Memo: Sendable {
    let state = Mutex<(type: ObjectIdentifier?, box: AnyObject?)>((nil, nil))
}

private final class MemoBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
