import EventStore
import Foundation
import PostgresNIO

/// Setting up and looking at a cluster's log in PostgreSQL: `reel cluster init` and `reel cluster status`.
public enum Cluster {
    /// The schema of format 1, made in one transaction under an advisory lock (two `init`s at once are safe), each
    /// statement safe to run again.
    static let schema: [PostgresQuery] = [
        "SELECT pg_advisory_xact_lock(7370656)",
        """
        CREATE TABLE IF NOT EXISTS reel_log (
            singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
            format integer NOT NULL,
            identity uuid NOT NULL,
            head_position bigint NOT NULL,
            head_hash bytea NOT NULL
        )
        """,
        """
        CREATE TABLE IF NOT EXISTS reel_events (
            position bigint PRIMARY KEY,
            stream text NOT NULL,
            version bigint NOT NULL,
            id uuid NOT NULL UNIQUE,
            type text NOT NULL,
            recorded_at bigint NOT NULL,
            data bytea NOT NULL,
            metadata bytea NOT NULL,
            hash bytea NOT NULL
        )
        """,
        """
        CREATE TABLE IF NOT EXISTS reel_nodes (
            node text PRIMARY KEY,
            replica_head bigint NOT NULL,
            updated_at timestamptz NOT NULL
        )
        """,
        """
        INSERT INTO reel_log (format, identity, head_position, head_hash)
        VALUES (1, gen_random_uuid(), 0, '\\x0000000000000000000000000000000000000000000000000000000000000000')
        ON CONFLICT DO NOTHING
        """,
    ]

    /// Creates the log's schema where it is missing, and returns the log's identity and whether this call made it.
    /// A log of a newer format is refused.
    public static func initialize(_ address: PostgresAddress) throws -> (identity: String, created: Bool) {
        let connection = try PostgresLog.connect(address)
        defer { PostgresLog.close(connection) }
        func run(_ query: PostgresQuery) throws -> PostgresQueryResult {
            try PostgresLog.wait(connection.query(query, logger: PostgresLog.logger), seconds: 60)
        }
        do {
            _ = try run("BEGIN")
            // Whether it existed is asked under the advisory lock, the first statement of the schema: of several
            // `init`s at once, only the one that made it says so.
            var existed = false
            for (index, statement) in schema.enumerated() {
                // The head row is made only with the tables: a log whose head row is gone while it holds events is
                // damaged, and a new head row (a new identity, at position 0) would start another log over them.
                if index == schema.count - 1, try run("SELECT NOT EXISTS (SELECT 1 FROM reel_log) AND EXISTS (SELECT 1 FROM reel_events)")
                    .rows.first?.decode(Bool.self) == true
                {
                    _ = try? run("ROLLBACK")
                    throw LogOfRecordError.refused(
                        log: address.description,
                        reason: "its table reel_log has no head row while reel_events holds events: the log's record is damaged; restore it "
                            + "from a backup (a new head row would start another log over those events)")
                }
                _ = try run(statement)
                if index == 0 { existed = try run("SELECT to_regclass('reel_log') IS NOT NULL").rows.first?.decode(Bool.self) ?? false }
            }
            guard let row = try run("SELECT format, identity FROM reel_log").rows.first else {
                throw LogOfRecordError.unavailable(log: address.description, reason: "reel_log is empty after it was made")
            }
            let (format, identity) = try row.decode((Int32, UUID).self)
            if let refusal = PostgresLog.refusal(ofFormat: format) {
                _ = try? run("ROLLBACK")
                throw LogOfRecordError.refused(log: address.description, reason: refusal)
            }
            _ = try run("COMMIT")
            return (identity.uuidString.lowercased(), !existed)
        } catch {
            throw PostgresLog.unavailable(error, address)
        }
    }

    /// One node's replica as it last reported it.
    public struct Node: Sendable, Hashable {
        public let name: String
        public let head: UInt64
        /// Events of the log the replica did not hold when it reported.
        public let lag: UInt64
        /// Seconds since it reported (0 for a time in the future).
        public let secondsAgo: Double
        /// What in the node's row of `reel_nodes` cannot be read (a negative or missing head, a time that is not
        /// one), or `nil`: a row is a report, and one damaged row does not hide the others.
        public let problem: String?
    }

    /// The log's head and each node's replica.
    public struct Status: Sendable, Hashable {
        public let log: String
        public let identity: String
        public let format: Int32
        public let head: LogHead
        public let nodes: [Node]
    }

    public static func status(_ address: PostgresAddress) throws -> Status {
        let log = PostgresLog(address: address, node: "")
        let (identity, format) = try log.headRow()
        let head = try log.head()
        let connection = try PostgresLog.connect(address, readOnlyAllowed: true)
        defer { PostgresLog.close(connection) }
        do {
            let rows = try PostgresLog.wait(
                connection.query(
                    """
                    SELECT node, replica_head,
                        CASE WHEN isfinite(updated_at) THEN greatest(0, extract(epoch FROM now() - updated_at))::float8 END
                    FROM reel_nodes ORDER BY node
                    """,
                    logger: PostgresLog.logger), seconds: 30
            ).rows
            let nodes = try rows.map { row in
                let (name, reported, age) = try row.decode((String?, Int64?, Double?).self)
                let node = name ?? "(no name)"
                guard let reported, let replica = UInt64(exactly: reported), let age else {
                    let problem: String
                    if let reported, UInt64(exactly: reported) == nil {
                        problem = "its replica_head is \(reported)"
                    } else if reported == nil {
                        problem = "it has no replica_head"
                    } else {
                        problem = "its updated_at is not a time"
                    }
                    return Node(name: node, head: 0, lag: 0, secondsAgo: 0, problem: problem)
                }
                return Node(name: node, head: replica, lag: head.position > replica ? head.position - replica : 0, secondsAgo: age, problem: nil)
            }
            return Status(log: address.description, identity: identity, format: format, head: head, nodes: nodes)
        } catch {
            throw PostgresLog.unavailable(error, address)
        }
    }

    /// The log for a node whose replica is the store at `path`, named in `reel_nodes` by this host and that path.
    public static func log(_ address: PostgresAddress, store path: String) -> PostgresLog {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        return PostgresLog(address: address, node: "\(ProcessInfo.processInfo.hostName):\(absolute)")
    }
}

/// Event metadata as the log's `metadata` column holds it: a JSON object of the members present — `actor`,
/// `causation_id`, `correlation_id`, in that order — the way an export writes them.
///
/// Written and read here, not by Foundation's `JSONSerialization`: its reader on Linux drops a U+FEFF that begins a
/// string, and a replica that read `"\u{FEFF}bot"` as `"bot"` would find the event's hash wrong. Every string comes
/// back exactly.
enum MetadataCodec {
    static let empty = Array("{}".utf8)

    static func encode(_ metadata: EventMetadata) -> [UInt8] {
        let members = [("actor", metadata.actor), ("causation_id", metadata.causationID), ("correlation_id", metadata.correlationID)]
        var bytes: [UInt8] = [UInt8(ascii: "{")]
        for (name, value) in members {
            guard let value else { continue }
            if bytes.count > 1 { bytes.append(UInt8(ascii: ",")) }
            appendString(name, to: &bytes)
            bytes.append(UInt8(ascii: ":"))
            appendString(value, to: &bytes)
        }
        bytes.append(UInt8(ascii: "}"))
        return bytes
    }

    /// A JSON string: `"` and `\` escaped, control characters as `\n`, `\t`… or `\u00XX`, the rest as UTF-8.
    private static func appendString(_ string: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0x0A: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0..<0x20: bytes += Array(String(format: "\\u%04x", byte).utf8)
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Reads an object of string members (any JSON whitespace and escapes, as this codec and earlier versions of
    /// Reel wrote them); members other than the three are ignored.
    static func decode(_ bytes: [UInt8], position: Int64) throws -> EventMetadata {
        if bytes == empty { return EventMetadata() }
        func damaged(_ what: String) -> PostgresLog.DamagedRow {
            PostgresLog.DamagedRow(description: "the log's metadata at position \(position) \(what)")
        }
        var index = 0
        func skipSpace() {
            while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
        }
        func expect(_ character: UInt8) throws {
            skipSpace()
            guard index < bytes.count, bytes[index] == character else { throw damaged("is not a JSON object of strings") }
            index += 1
        }
        func hexDigits() throws -> UInt32 {
            guard index + 4 <= bytes.count, let value = UInt32(String(decoding: bytes[index..<index + 4], as: UTF8.self), radix: 16) else {
                throw damaged("holds a malformed \\u escape")
            }
            index += 4
            return value
        }
        func string() throws -> String {
            try expect(UInt8(ascii: "\""))
            var text: [UInt8] = []
            while true {
                guard index < bytes.count else { throw damaged("ends inside a string") }
                let byte = bytes[index]
                index += 1
                if byte == UInt8(ascii: "\"") { break }
                guard byte >= 0x20 else { throw damaged("holds a control character outside an escape") }
                guard byte == UInt8(ascii: "\\") else {
                    text.append(byte)
                    continue
                }
                guard index < bytes.count else { throw damaged("ends inside an escape") }
                let escaped = bytes[index]
                index += 1
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): text.append(escaped)
                case UInt8(ascii: "b"): text.append(0x08)
                case UInt8(ascii: "f"): text.append(0x0C)
                case UInt8(ascii: "n"): text.append(0x0A)
                case UInt8(ascii: "r"): text.append(0x0D)
                case UInt8(ascii: "t"): text.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hexDigits()
                    if (0xD800..<0xDC00).contains(scalar) {
                        // A surrogate pair: the low half follows as another escape.
                        guard index + 2 <= bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                            throw damaged("holds half a surrogate pair")
                        }
                        index += 2
                        let low = try hexDigits()
                        guard (0xDC00..<0xE000).contains(low) else { throw damaged("holds half a surrogate pair") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let character = Unicode.Scalar(scalar) else { throw damaged("holds half a surrogate pair") }
                    text += Array(String(character).utf8)
                default: throw damaged("holds an unknown escape")
                }
            }
            guard let decoded = String(validating: text, as: UTF8.self) else { throw damaged("is not UTF-8") }
            return decoded
        }
        var members: [String: String] = [:]
        try expect(UInt8(ascii: "{"))
        skipSpace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
        } else {
            while true {
                let name = try string()
                try expect(UInt8(ascii: ":"))
                skipSpace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw damaged(": \(name) is not text") }
                members[name] = try string()
                skipSpace()
                guard index < bytes.count else { throw damaged("ends inside the object") }
                index += 1
                if bytes[index - 1] == UInt8(ascii: "}") { break }
                guard bytes[index - 1] == UInt8(ascii: ",") else { throw damaged("is not a JSON object of strings") }
            }
        }
        skipSpace()
        guard index == bytes.count else { throw damaged("has bytes after its object") }
        return EventMetadata(actor: members["actor"], correlationID: members["correlation_id"], causationID: members["causation_id"])
    }
}
