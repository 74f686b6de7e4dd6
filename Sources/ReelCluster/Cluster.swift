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
                _ = try run(statement)
                if index == 0 { existed = try run("SELECT to_regclass('reel_log') IS NOT NULL").rows.first?.decode(Bool.self) ?? false }
            }
            guard let row = try run("SELECT format, identity FROM reel_log").rows.first else {
                throw LogOfRecordError.unavailable(log: address.description, reason: "reel_log is empty after it was made")
            }
            let (format, identity) = try row.decode((Int32, UUID).self)
            guard format <= PostgresLog.format else {
                _ = try? run("ROLLBACK")
                throw LogOfRecordError.unavailable(
                    log: address.description,
                    reason: "its log is of format \(format), newer than this reel makes (\(PostgresLog.format)): upgrade reel")
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
        /// Seconds since it reported.
        public let secondsAgo: Double
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
        let identity = try log.identity()
        let head = try log.head()
        let connection = try PostgresLog.connect(address, readOnlyAllowed: true)
        defer { PostgresLog.close(connection) }
        do {
            let rows = try PostgresLog.wait(
                connection.query(
                    "SELECT node, replica_head, extract(epoch FROM now() - updated_at)::float8 FROM reel_nodes ORDER BY node",
                    logger: PostgresLog.logger), seconds: 30
            ).rows
            let nodes = try rows.map { row in
                let (name, replica, age) = try row.decode((String, Int64, Double).self)
                return Node(
                    name: name, head: UInt64(replica), lag: head.position > UInt64(replica) ? head.position - UInt64(replica) : 0,
                    secondsAgo: age)
            }
            return Status(log: address.description, identity: identity, format: PostgresLog.format, head: head, nodes: nodes)
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
enum MetadataCodec {
    static let empty = Array("{}".utf8)

    static func encode(_ metadata: EventMetadata) -> [UInt8] {
        // Most events carry none: no serialiser for them.
        if metadata.actor == nil, metadata.causationID == nil, metadata.correlationID == nil { return empty }
        var object: [String: String] = [:]
        object["actor"] = metadata.actor
        object["causation_id"] = metadata.causationID
        object["correlation_id"] = metadata.correlationID
        // Sorted keys are the order above; an object of strings always serialises.
        let data =
            (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return Array(data)
    }

    static func decode(_ bytes: [UInt8], position: Int64) throws -> EventMetadata {
        if bytes == empty { return EventMetadata() }
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            throw PostgresLog.DamagedRow(description: "the log's metadata at position \(position) is not a JSON object")
        }
        func text(_ name: String) throws -> String? {
            guard let value = object[name] else { return nil }
            guard let string = value as? String else {
                throw PostgresLog.DamagedRow(description: "the log's metadata at position \(position): \(name) is not text")
            }
            return string
        }
        return EventMetadata(actor: try text("actor"), correlationID: try text("correlation_id"), causationID: try text("causation_id"))
    }
}
