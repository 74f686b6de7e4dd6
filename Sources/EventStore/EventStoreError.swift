import Foundation
import LMDB

/// Errors of the engine. A projection's own rejection is not wrapped: the projection's error reaches the caller as
/// thrown.
public enum EventStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A stream held another number of events than the append expected. Nothing of the batch was written.
    case wrongExpectedVersion(stream: String, expected: UInt64, actual: UInt64)
    /// An event id is already stored with other content (stream, type or payload). Nothing was written.
    case idempotencyConflict(id: UUID, position: UInt64)
    /// Some events of a batch are already stored and others are not; a retried batch must be the same batch.
    case partialDuplicate(id: UUID, position: UInt64)
    /// The batch itself is malformed (empty, duplicate id in it, a stream or type name out of bounds).
    case invalidBatch(String)
    /// A stored record could not be decoded or disagrees with its key.
    case corruptRecord(position: UInt64, reason: String)
    /// An event's stored hash is not the one the chain gives it (its record, or one before it, was altered), or the
    /// log has a gap there: found by a read that checks the chain (``Snapshot/checkedEvents(from:after:limit:)``).
    case hashMismatch(position: UInt64, reason: String)
    /// The store was written by a newer Reel; this one can't read it safely.
    case newerFormat(found: UInt32, supported: UInt32)
    /// The directory is not a Reel store (or has no store and was opened read-only).
    case notAStore(path: String, reason: String)
    /// The store's data file is damaged (truncated, or pages LMDB cannot follow); restore it from a backup or an export.
    case damaged(path: String, reason: String)
    /// The store has been closed.
    case closed
    /// No projection of that name is registered with this store.
    case unknownProjection(String)
    /// Another rebuild of the projection switched generations first (two rebuilds ran at once).
    case rebuildConflict(String)
    /// A read-only open found a projection built by another version of its fold than this program's: its databases
    /// may not mean what this program reads them as. A writable open rebuilds it.
    case projectionOutdated(name: String, built: UInt32, current: UInt32)
    /// A read-only open found no databases of a registered projection (`missing` names the first one looked for): the
    /// store was never opened writable with it. A writable open builds it.
    case projectionNotBuilt(name: String, missing: String)
    /// A read-only open found a projection that has folded the log only up to `folded` of `head` (a process without
    /// it appended, or its fold was cut short). A writable open catches it up.
    case projectionBehind(name: String, folded: UInt64, head: UInt64)
    /// An import into the store began and has not finished: it was stopped (killed, a system crash) or is still
    /// running. What it left holds only part of an export and is not served; `source` is the export it was reading
    /// (empty when not known). An import opened with ``StoreOptions/importing`` starts it over.
    case importUnfinished(path: String, source: String)
    /// Another import into the store is running (``Store/beginImport(source:)``).
    case importRunning(path: String)
    /// An import needs an empty store (or one an unfinished import left) and this one holds events.
    case notEmpty(path: String)
    /// LMDB failed; the underlying error says what and how to remedy it.
    case storage(LMDBError)
    /// The log of record of a replica (``StoreOptions/logOfRecord``) failed or refused: see ``LogOfRecordError``.
    case logOfRecord(LogOfRecordError)

    public var description: String {
        switch self {
        case let .wrongExpectedVersion(stream, expected, actual):
            "wrong expected version for stream \(stream): expected \(expected), actual \(actual)"
        case let .idempotencyConflict(id, position):
            "event id \(id.lowercased) is already stored at position \(position) with other content"
        case let .partialDuplicate(id, position):
            "event id \(id.lowercased) is already stored at position \(position) but other events of the batch are not"
        case let .invalidBatch(reason): "invalid batch: \(reason)"
        case let .corruptRecord(position, reason): "corrupt record at position \(position): \(reason)"
        case let .hashMismatch(position, reason): "hash mismatch at position \(position): \(reason)"
        case let .newerFormat(found, supported):
            "the store has format \(found), newer than this Reel's \(supported); use a newer reel"
        case let .notAStore(path, reason): "\(path) is not a Reel store: \(reason)"
        case let .damaged(path, reason): "the store at \(path) is damaged: \(reason)"
        case .closed: "the store is closed"
        case let .unknownProjection(name): "no projection named \(name) is registered"
        case let .rebuildConflict(name): "projection \(name) was rebuilt by someone else meanwhile; run the rebuild again"
        case let .projectionOutdated(name, built, current):
            "projection \(name) was built by version \(built) of its fold and this program has version \(current); open the store "
                + "writable once (any writing command, such as `reel rebuild`) to rebuild it"
        case let .projectionBehind(name, folded, head):
            "projection \(name) has folded the log up to position \(folded) of \(head); open the store writable once (any "
                + "writing command, such as `reel rebuild`) to catch it up"
        case let .projectionNotBuilt(name, missing):
            "projection \(name) has not been built in this store (\(missing)); open the store writable once (any writing "
                + "command, such as `reel rebuild`) to build it"
        case let .importUnfinished(path, source):
            "the import into \(path) did not finish (it was stopped, or is still running), so it holds no usable store; start it "
                + "again with `reel import --store \(shellQuoted(path)) \(source.isEmpty ? "FILE" : shellQuoted(source))`, which "
                + "erases what the unfinished import left first (or delete data.mdb and lock.mdb in \(path))"
        case let .importRunning(path): "another import into \(path) is running"
        case let .notEmpty(path): "the store at \(path) is not empty; import only into an empty store"
        case let .storage(error): error.description
        case let .logOfRecord(error): error.description
        }
    }
}

/// A path as a shell word: as it is when it holds only characters a shell leaves alone, else in single quotes.
private func shellQuoted(_ text: String) -> String {
    let plain = text.unicodeScalars.allSatisfy { scalar in
        scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "/._-+:,=@%".unicodeScalars.contains(scalar))
    }
    return plain && !text.isEmpty ? text : "'" + text.replacing("'", with: #"'\''"#) + "'"
}

extension EventStoreError: LocalizedError {
    /// The ``description``, so that `localizedDescription` reads the same.
    public var errorDescription: String? { description }
}

extension EventStoreError {
    /// Wraps LMDB errors, passes every other error through.
    static func wrap(_ error: any Error) -> any Error {
        if let lmdb = error as? LMDBError { return EventStoreError.storage(lmdb) }
        if error is EnvironmentClosed { return EventStoreError.closed }
        if let log = error as? LogOfRecordError { return EventStoreError.logOfRecord(log) }
        return error
    }
}
