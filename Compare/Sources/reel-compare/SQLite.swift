// A thin client over SQLite's C API: prepared statements kept per connection, text/int binding, text results.

import CSQLite3
import Foundation

struct SQLiteError: Error, CustomStringConvertible {
    let description: String
}

/// sqlite3.h: "If the fifth argument has the value SQLITE_TRANSIENT, then SQLite makes its own private copy of the
/// data immediately, before the sqlite3_bind_*() routine returns." (The Swift string's buffer lives only for the call.)
let SQLITE_TRANSIENT = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

enum SQLValue {
    case text(String)
    case int(Int)
    case null
}

final class SQLite: @unchecked Sendable {
    let db: OpaquePointer
    private var statements: [String: OpaquePointer] = [:]

    init(_ path: String) throws {
        var db: OpaquePointer?
        let rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil)
        guard rc == SQLITE_OK, let db else { throw SQLiteError(description: "open \(path): \(rc)") }
        self.db = db
        sqlite3_busy_timeout(db, 60_000)
    }

    deinit {
        for statement in statements.values { sqlite3_finalize(statement) }
        sqlite3_close_v2(db)
    }

    private func fail(_ what: String) -> SQLiteError {
        SQLiteError(description: "\(what): \(String(cString: sqlite3_errmsg(db)))")
    }

    func exec(_ sql: String) throws {
        var message: UnsafeMutablePointer<CChar>?
        if sqlite3_exec(db, sql, nil, nil, &message) != SQLITE_OK {
            let text = message.map { String(cString: $0) } ?? "?"
            sqlite3_free(message)
            throw SQLiteError(description: "\(sql.prefix(120)): \(text)")
        }
    }

    func prepare(_ name: String, _ sql: String) throws {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v3(db, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil) == SQLITE_OK, let statement else {
            throw fail("prepare \(name)")
        }
        statements[name] = statement
    }

    private func bind(_ statement: OpaquePointer, _ params: [SQLValue]) {
        for (i, param) in params.enumerated() {
            let index = Int32(i + 1)
            switch param {
            case let .text(s): sqlite3_bind_text(statement, index, s, -1, SQLITE_TRANSIENT)
            case let .int(n): sqlite3_bind_int64(statement, index, sqlite3_int64(n))
            case .null: sqlite3_bind_null(statement, index)
            }
        }
    }

    /// Runs a prepared statement to completion, returning its rows as strings.
    @discardableResult
    func run(_ name: String, _ params: [SQLValue]) throws -> [[String?]] {
        guard let statement = statements[name] else { throw SQLiteError(description: "no statement \(name)") }
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        bind(statement, params)
        var out: [[String?]] = []
        let columns = sqlite3_column_count(statement)
        while true {
            let rc = sqlite3_step(statement)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else { throw fail("step \(name)") }
            var row: [String?] = []
            row.reserveCapacity(Int(columns))
            for j in 0..<columns {
                if sqlite3_column_type(statement, j) == SQLITE_NULL {
                    row.append(nil)
                } else {
                    row.append(String(cString: sqlite3_column_text(statement, j)))
                }
            }
            out.append(row)
        }
        return out
    }

    /// Runs a prepared statement that returns no rows (inserts in a load).
    func command(_ name: String, _ params: [SQLValue]) throws {
        guard let statement = statements[name] else { throw SQLiteError(description: "no statement \(name)") }
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        bind(statement, params)
        let rc = sqlite3_step(statement)
        guard rc == SQLITE_DONE || rc == SQLITE_ROW else { throw fail("step \(name)") }
    }

    func rows(_ sql: String) throws -> [[String?]] {
        let name = "adhoc:\(sql)"
        if statements[name] == nil { try prepare(name, sql) }
        return try run(name, [])
    }
}
