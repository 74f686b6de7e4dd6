import CLMDB
import Glibc

/// What a write transaction has done so far: how many changes, and the first LMDB failure, after which it is
/// never committed.
@usableFromInline
final class WriteLedger {
    @usableFromInline var writes = 0
    @usableFromInline var failure: LMDBError?

    init() {}
}

/// A transaction, lent to the body of ``Environment/read(_:)`` or ``Environment/write(_:)``.
///
/// Non-copyable and not `Sendable`: it cannot outlive its closure or cross to another thread, and it is committed or
/// aborted only by the environment. Values read through it are lent to closures and are valid only inside them;
/// lmdb.h says values from `mdb_get` "are valid only until a subsequent update operation, or the end of the
/// transaction".
public struct Transaction: ~Copyable {
    @usableFromInline let handle: OpaquePointer
    @usableFromInline let ledger: WriteLedger?
    @usableFromInline let map: MapBounds

    init(handle: OpaquePointer, ledger: WriteLedger?, map: MapBounds) {
        self.handle = handle
        self.ledger = ledger
        self.map = map
    }

    /// A second handle on this same transaction, for wrappers inside this package that must hold one (a snapshot
    /// type lent to a closure). It must not outlive the closure the original was lent to.
    package func lend() -> Transaction {
        Transaction(handle: handle, ledger: ledger, map: map)
    }

    /// Bytes LMDB lends, once they are known to lie where they can be read (``MapBounds/lends(_:readOnly:)``).
    @inlinable @inline(__always)
    func lent(_ value: MDB_val, _ operation: @autoclosure () -> String) throws -> UnsafeRawBufferPointer {
        guard map.lends(value, readOnly: ledger == nil) else { throw map.outside(value, operation()) }
        return UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size)
    }

    /// `true` in a read transaction.
    public var isReadOnly: Bool { ledger == nil }

    /// How many puts and deletes this write transaction has made (0 in a read transaction).
    ///
    /// Lets a caller that runs several independent batches in one transaction tell whether a failed batch changed
    /// anything before it failed.
    public var changeCount: Int { ledger?.writes ?? 0 }

    /// Records a failure that leaves the transaction unusable. `MDB_BAD_VALSIZE` does not: lmdb.h's `mdb_put` checks
    /// the sizes before it touches a page, so the caller may reject that one put and go on.
    @inlinable @inline(__always)
    func fail(_ code: Int32, _ operation: @autoclosure () -> String) -> LMDBError {
        let error = LMDBError(code: code, operation: operation())
        if let ledger, ledger.failure == nil, error.kind != .badValueSize { ledger.failure = error }
        return error
    }

    /// Opens a named database inside this transaction (see ``Environment/openDatabases(_:)``).
    public func openDatabase(_ name: String?, flags: DatabaseFlags = []) throws -> Database {
        var dbi: MDB_dbi = 0
        let rc = name.map { mdb_dbi_open(handle, $0, flags.rawValue, &dbi) } ?? mdb_dbi_open(handle, nil, flags.rawValue, &dbi)
        if rc != 0 { throw LMDBError(code: rc, operation: "mdb_dbi_open(\(name ?? "<main>"))") }
        return Database(dbi: dbi, name: name)
    }

    // MARK: Reading

    /// Lends the value stored under `key` to `body`, or `nil` when there is none.
    @inlinable
    public func get<R>(
        _ database: Database, _ key: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer?) throws -> R
    ) throws -> R {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val()
        let rc = mdb_get(handle, database.dbi, &k, &v)
        if rc == MDB_NOTFOUND { return try body(nil) }
        if rc != 0 { throw fail(rc, "mdb_get(\(database))") }
        return try body(lent(v, "mdb_get(\(database))"))
    }

    /// A copy of the value stored under `key`, or `nil`.
    public func get(_ database: Database, _ key: [UInt8]) throws -> [UInt8]? {
        try key.withUnsafeBytes { k in try get(database, k) { $0.map { Array($0) } } }
    }

    /// Whether `key` is stored.
    @inlinable
    public func contains(_ database: Database, _ key: UnsafeRawBufferPointer) throws -> Bool {
        try get(database, key) { $0 != nil }
    }

    /// Entry count and page use of a database.
    public func statistics(_ database: Database) throws -> DatabaseStatistics {
        var stat = MDB_stat()
        let rc = mdb_stat(handle, database.dbi, &stat)
        if rc != 0 { throw fail(rc, "mdb_stat(\(database))") }
        return DatabaseStatistics(
            entries: stat.ms_entries,
            depth: Int(stat.ms_depth),
            pages: stat.ms_branch_pages + stat.ms_leaf_pages + stat.ms_overflow_pages,
            pageSize: Int(stat.ms_psize)
        )
    }

    // MARK: Writing

    /// Stores `value` under `key`. Returns `false`, writing nothing, when `.noOverwrite` or `.noDuplicateData` is
    /// given and the key (or key and value) already exists.
    @discardableResult
    @inlinable
    public func put(
        _ database: Database, _ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, flags: PutFlags = []
    ) throws -> Bool {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        let rc = mdb_put(handle, database.dbi, &k, &v, flags.rawValue)
        if rc == MDB_KEYEXIST, !flags.isDisjoint(with: [.noOverwrite, .noDuplicateData]) { return false }
        if rc != 0 { throw fail(rc, "mdb_put(\(database))") }
        ledger?.writes += 1
        return true
    }

    /// Stores `value` under `key` (array convenience).
    @discardableResult
    public func put(_ database: Database, _ key: [UInt8], _ value: [UInt8], flags: PutFlags = []) throws -> Bool {
        try key.withUnsafeBytes { (k) throws -> Bool in
            try value.withUnsafeBytes { (v) throws -> Bool in try put(database, k, v, flags: flags) }
        }
    }

    /// Deletes `key` (in a `duplicateSort` database, only the pair `key`/`value` when `value` is given).
    /// Returns `false` when there was nothing to delete.
    @discardableResult
    @inlinable
    public func delete(
        _ database: Database, _ key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer? = nil
    ) throws -> Bool {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        let rc: Int32
        if let value {
            var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
            rc = mdb_del(handle, database.dbi, &k, &v)
        } else {
            rc = mdb_del(handle, database.dbi, &k, nil)
        }
        if rc == MDB_NOTFOUND { return false }
        if rc != 0 { throw fail(rc, "mdb_del(\(database))") }
        ledger?.writes += 1
        return true
    }

    /// Deletes `key` (array convenience).
    @discardableResult
    public func delete(_ database: Database, _ key: [UInt8]) throws -> Bool {
        try key.withUnsafeBytes { (k) throws -> Bool in try delete(database, k) }
    }

    /// Empties a database, and with `removeDatabase` deletes it from the environment and closes its handle.
    public func drop(_ database: Database, removeDatabase: Bool = false) throws {
        let rc = mdb_drop(handle, database.dbi, removeDatabase ? 1 : 0)
        if rc != 0 { throw fail(rc, "mdb_drop(\(database))") }
        ledger?.writes += 1
    }

    // MARK: Cursors

    /// Lends a cursor over `database` to `body`; it is closed when `body` returns.
    @inlinable
    public func withCursor<R>(_ database: Database, _ body: (borrowing Cursor) throws -> R) throws -> R {
        var cursor: OpaquePointer?
        let rc = mdb_cursor_open(handle, database.dbi, &cursor)
        if rc != 0 { throw fail(rc, "mdb_cursor_open(\(database))") }
        guard let cursor else { throw fail(EINVAL, "mdb_cursor_open(\(database))") }
        defer { mdb_cursor_close(cursor) }
        return try body(Cursor(handle: cursor, database: database, ledger: ledger, map: map))
    }
}

@available(*, unavailable)
extension Transaction: Sendable {}
