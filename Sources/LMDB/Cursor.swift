import CLMDB

/// A position in one database, lent by ``Transaction/withCursor(_:_:)``.
///
/// Each move lends the key and value it lands on to a closure; the bytes are valid only inside it.
public struct Cursor: ~Copyable {
    @usableFromInline let handle: OpaquePointer
    @usableFromInline let database: Database
    @usableFromInline let ledger: WriteLedger?
    @usableFromInline let map: MapBounds

    @usableFromInline
    init(handle: OpaquePointer, database: Database, ledger: WriteLedger?, map: MapBounds) {
        self.handle = handle
        self.database = database
        self.ledger = ledger
        self.map = map
    }

    /// The key and value LMDB lent, once both are known to lie where they can be read. Some moves leave the key the
    /// caller gave (`MDB_GET_BOTH_RANGE`): that one is the caller's own.
    @inlinable @inline(__always)
    func lent(_ k: MDB_val, _ v: MDB_val, given: UnsafeRawBufferPointer?) throws -> (UnsafeRawBufferPointer, UnsafeRawBufferPointer) {
        let readOnly = ledger == nil
        let isGiven = given.map { k.mv_data == UnsafeMutableRawPointer(mutating: $0.baseAddress) && k.mv_size == $0.count } ?? false
        guard isGiven || map.lends(k, readOnly: readOnly) else { throw map.outside(k, "mdb_cursor_get(\(database))") }
        guard map.lends(v, readOnly: readOnly) else { throw map.outside(v, "mdb_cursor_get(\(database))") }
        return (UnsafeRawBufferPointer(start: k.mv_data, count: k.mv_size), UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size))
    }

    /// Where to move.
    public enum Move: Sendable {
        case first, last, next, previous
        /// The current entry again.
        case current
        /// The next value of the current key (`duplicateSort` databases).
        case nextDuplicate
        /// The first value of the next key (`duplicateSort` databases).
        case nextKey

        @usableFromInline var op: MDB_cursor_op {
            switch self {
            case .first: MDB_FIRST
            case .last: MDB_LAST
            case .next: MDB_NEXT
            case .previous: MDB_PREV
            case .current: MDB_GET_CURRENT
            case .nextDuplicate: MDB_NEXT_DUP
            case .nextKey: MDB_NEXT_NODUP
            }
        }
    }

    @inlinable @inline(__always)
    func run<R>(
        _ op: MDB_cursor_op, _ key: UnsafeRawBufferPointer?, _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> R
    ) throws -> R? {
        var k = MDB_val(mv_size: key?.count ?? 0, mv_data: UnsafeMutableRawPointer(mutating: key?.baseAddress))
        var v = MDB_val()
        let rc = mdb_cursor_get(handle, &k, &v, op)
        if rc == MDB_NOTFOUND { return nil }
        if rc != 0 {
            let error = LMDBError(code: rc, operation: "mdb_cursor_get(\(database))")
            if let ledger, ledger.failure == nil { ledger.failure = error }
            throw error
        }
        let (lentKey, value) = try lent(k, v, given: key)
        return try body(lentKey, value)
    }

    /// Moves and lends the entry landed on to `body`; `nil` when there is none.
    @inlinable
    public func move<R>(_ move: Move, _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> R) throws -> R? {
        try run(move.op, nil, body)
    }

    /// Moves to the first key greater than or equal to `key`; `nil` when there is none.
    @inlinable
    public func seek<R>(
        atLeast key: UnsafeRawBufferPointer, _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> R
    ) throws -> R? {
        try run(MDB_SET_RANGE, key, body)
    }

    /// Moves to exactly `key` (its first value in a `duplicateSort` database); `nil` when it is not stored.
    @inlinable
    public func seek<R>(
        exactly key: UnsafeRawBufferPointer, _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> R
    ) throws -> R? {
        try run(MDB_SET_KEY, key, body)
    }

    /// Moves to `key`'s first value greater than or equal to `value` (`duplicateSort` databases); `nil` when there is
    /// none.
    @inlinable
    public func seek<R>(
        _ key: UnsafeRawBufferPointer, atLeast value: UnsafeRawBufferPointer,
        _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> R
    ) throws -> R? {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        let rc = mdb_cursor_get(handle, &k, &v, MDB_GET_BOTH_RANGE)
        if rc == MDB_NOTFOUND { return nil }
        if rc != 0 { throw LMDBError(code: rc, operation: "mdb_cursor_get(\(database), MDB_GET_BOTH_RANGE)") }
        let (lentKey, lentValue) = try lent(k, v, given: key)
        return try body(lentKey, lentValue)
    }

    /// How many values the current key has (`duplicateSort` databases).
    public func valueCount() throws -> Int {
        var count = 0
        let rc = mdb_cursor_count(handle, &count)
        if rc != 0 { throw LMDBError(code: rc, operation: "mdb_cursor_count(\(database))") }
        return count
    }

    /// Calls `body` for each entry from the first key ≥ `start` (from the first entry when `start` is `nil`),
    /// in key order, while it returns `true`.
    @inlinable
    public func forEach(
        from start: UnsafeRawBufferPointer? = nil,
        _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> Bool
    ) throws {
        var more = try (start.map { try seek(atLeast: $0, body) } ?? move(.first, body)) ?? false
        while more {
            more = try move(.next, body) ?? false
        }
    }

    /// Stores `value` under `key` through the cursor (with `.append`, the fast path for ever-growing keys).
    @discardableResult
    @inlinable
    public func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, flags: PutFlags = []) throws -> Bool {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        let rc = mdb_cursor_put(handle, &k, &v, flags.rawValue)
        if rc == MDB_KEYEXIST, !flags.isDisjoint(with: [.noOverwrite, .noDuplicateData]) { return false }
        if rc != 0 {
            let error = LMDBError(code: rc, operation: "mdb_cursor_put(\(database))")
            if let ledger, ledger.failure == nil, error.kind != .badValueSize { ledger.failure = error }
            throw error
        }
        ledger?.writes += 1
        return true
    }

    /// Stores `values`, `count` contiguous values of `values.count / count` bytes each, under `key` in one call
    /// (`MDB_MULTIPLE`): the key is found once, not once per value. Only in a `duplicateSort | duplicateFixed` database;
    /// with `.appendDuplicate`, each value must be greater than the one before it (they then go at the key's end).
    ///
    /// LMDB puts the values one by one: when one fails (a value out of order, a full map), those before it are already
    /// in the transaction. The error marks the transaction failed, so it never commits (``Environment/write(_:)``).
    @inlinable
    public func putMultiple(_ key: UnsafeRawBufferPointer, values: UnsafeRawBufferPointer, count: Int, flags: PutFlags = []) throws {
        guard count > 0 else { return }
        precondition(
            values.count >= count && values.count % count == 0, "putMultiple: \(values.count) bytes are not \(count) values of one size")
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        // LMDB reads two MDB_vals: the first value (its size and where the array starts), then the count in `mv_size`
        // (where it writes back how many it stored).
        var v = (
            MDB_val(mv_size: values.count / count, mv_data: UnsafeMutableRawPointer(mutating: values.baseAddress)),
            MDB_val(mv_size: count, mv_data: nil)
        )
        let rc = withUnsafeMutableBytes(of: &v) { pair in
            mdb_cursor_put(handle, &k, pair.baseAddress!.assumingMemoryBound(to: MDB_val.self), flags.rawValue | UInt32(MDB_MULTIPLE))
        }
        if rc != 0 {
            let error = LMDBError(code: rc, operation: "mdb_cursor_put(\(database), MDB_MULTIPLE)")
            if let ledger, ledger.failure == nil, error.kind != .badValueSize { ledger.failure = error }
            throw error
        }
        ledger?.writes += count
    }

    /// Deletes the entry the cursor is on.
    @inlinable
    public func deleteCurrent() throws {
        let rc = mdb_cursor_del(handle, 0)
        if rc != 0 {
            let error = LMDBError(code: rc, operation: "mdb_cursor_del(\(database))")
            if let ledger, ledger.failure == nil { ledger.failure = error }
            throw error
        }
        ledger?.writes += 1
    }
}

@available(*, unavailable)
extension Cursor: Sendable {}
