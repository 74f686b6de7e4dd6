// A thin libpq client: one connection, prepared statements, text results copied into Swift strings, COPY FROM STDIN.

import CLibPQ
import Foundation

struct PGError: Error, CustomStringConvertible {
    let description: String
}

final class PG: @unchecked Sendable {
    let conn: OpaquePointer
    private var prepared: Set<String> = []

    init(_ conninfo: String) throws {
        guard let conn = PQconnectdb(conninfo) else { throw PGError(description: "PQconnectdb returned nil") }
        guard PQstatus(conn) == CONNECTION_OK else {
            let message = String(cString: PQerrorMessage(conn))
            PQfinish(conn)
            throw PGError(description: "connect: \(message)")
        }
        self.conn = conn
        try exec("SET client_min_messages TO warning")
    }

    deinit { PQfinish(conn) }

    private func check(_ result: OpaquePointer?, _ what: String) throws -> OpaquePointer {
        guard let result else { throw PGError(description: "\(what): \(String(cString: PQerrorMessage(conn)))") }
        let status = PQresultStatus(result)
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_COPY_IN else {
            let message = String(cString: PQresultErrorMessage(result))
            PQclear(result)
            throw PGError(description: "\(what): \(message)")
        }
        return result
    }

    /// Runs SQL (several statements allowed), discarding results.
    func exec(_ sql: String) throws {
        let result = try check(PQexec(conn, sql), String(sql.prefix(120)))
        PQclear(result)
    }

    /// Runs one statement and returns its rows as strings (nil for NULL).
    func rows(_ sql: String) throws -> [[String?]] {
        let result = try check(PQexec(conn, sql), String(sql.prefix(120)))
        defer { PQclear(result) }
        return Self.strings(result)
    }

    func prepare(_ name: String, _ sql: String) throws {
        let result = try check(PQprepare(conn, name, sql, 0, nil), "prepare \(name)")
        PQclear(result)
        prepared.insert(name)
    }

    /// Runs a prepared statement with text parameters; returns the rows copied into strings.
    @discardableResult
    func run(_ name: String, _ params: [String?]) throws -> [[String?]] {
        let result = try execPrepared(name, params)
        defer { PQclear(result) }
        return Self.strings(result)
    }

    /// Runs a prepared statement whose rows, if any, are not wanted.
    func command(_ name: String, _ params: [String?]) throws {
        let result = try execPrepared(name, params)
        PQclear(result)
    }

    private func execPrepared(_ name: String, _ params: [String?]) throws -> OpaquePointer {
        var cStrings: [UnsafeMutablePointer<CChar>?] = params.map { $0.map { strdup($0) } ?? nil }
        defer { for p in cStrings { free(p) } }
        let result = cStrings.withUnsafeMutableBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: max(1, params.count)) { pointer in
                PQexecPrepared(conn, name, Int32(params.count), params.isEmpty ? nil : pointer, nil, nil, 0)
            }
        }
        return try check(result, "execute \(name)")
    }

    static func strings(_ result: OpaquePointer) -> [[String?]] {
        let n = PQntuples(result), m = PQnfields(result)
        var out: [[String?]] = []
        out.reserveCapacity(Int(n))
        for i in 0..<n {
            var row: [String?] = []
            row.reserveCapacity(Int(m))
            for j in 0..<m {
                row.append(PQgetisnull(result, i, j) == 1 ? nil : String(cString: PQgetvalue(result, i, j)))
            }
            out.append(row)
        }
        return out
    }

    /// COPY table (columns) FROM STDIN in text format, with `data` already in COPY text format.
    func copy(_ table: String, _ columns: String, _ data: [UInt8]) throws {
        let result = try check(PQexec(conn, "COPY \(table) (\(columns)) FROM STDIN"), "COPY \(table)")
        PQclear(result)
        var offset = 0
        while offset < data.count {
            let n = min(1 << 20, data.count - offset)
            let rc = data.withUnsafeBytes { raw in
                PQputCopyData(conn, raw.baseAddress!.advanced(by: offset).assumingMemoryBound(to: CChar.self), Int32(n))
            }
            guard rc == 1 else { throw PGError(description: "PQputCopyData: \(String(cString: PQerrorMessage(conn)))") }
            offset += n
        }
        guard PQputCopyEnd(conn, nil) == 1 else { throw PGError(description: "PQputCopyEnd: \(String(cString: PQerrorMessage(conn)))") }
        while let result = PQgetResult(conn) {
            let status = PQresultStatus(result)
            let message = String(cString: PQresultErrorMessage(result))
            PQclear(result)
            if status != PGRES_COMMAND_OK { throw PGError(description: "COPY \(table): \(message)") }
        }
    }
}

/// Rows in PostgreSQL's COPY text format.
struct CopyBuffer {
    var bytes: [UInt8] = []
    var rows = 0
    private var first = true

    mutating func field(_ value: String?) {
        if !first { bytes.append(0x09) }
        first = false
        guard let value else {
            bytes.append(contentsOf: [0x5C, 0x4E])  // \N
            return
        }
        for byte in value.utf8 {
            switch byte {
            case 0x5C: bytes.append(contentsOf: [0x5C, 0x5C])
            case 0x09: bytes.append(contentsOf: [0x5C, 0x74])
            case 0x0A: bytes.append(contentsOf: [0x5C, 0x6E])
            case 0x0D: bytes.append(contentsOf: [0x5C, 0x72])
            default: bytes.append(byte)
            }
        }
    }

    mutating func endRow() {
        bytes.append(0x0A)
        first = true
        rows += 1
    }
}
