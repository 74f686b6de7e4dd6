import EventStore
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO

/// A cluster's log of record in PostgreSQL: the table `reel_events`, one row per event with Reel's own gapless
/// position, and the row `reel_log` that holds the head and serialises every node's appends (`SELECT … FOR UPDATE`).
/// `docs/FORMAT.md` describes the schema.
///
/// Its calls block (the store makes them from its writer thread and its follower's queue, never from an event loop).
/// Connections go to the first host of the address that accepts one and is not a standby; one that fails is replaced
/// on the next call, by the next host that answers — after a failover, the promoted standby.
public final class PostgresLog: LogOfRecord, Sendable {
    public let address: PostgresAddress
    /// This node's name in `reel_nodes` (`reel cluster status`): the host name and the store's path.
    public let node: String
    public var name: String { address.description }

    /// The writer thread's connection, holding the log's lock between `beginGroup` and its end.
    private let writer = Locked<PostgresConnection?>(nil)
    /// The connection for reads outside a group (catch-up, checks) and this node's reports, one query at a time.
    private let reader = Locked<PostgresConnection?>(nil)
    private let watcher = Locked<Watch?>(nil)
    /// When this node last wrote its replica's head into `reel_nodes` outside a group.
    private let lastReported = Locked((position: UInt64.max, at: 0.0))

    static let logger: Logger = {
        var logger = Logger(label: "reel.cluster")
        logger.logLevel = .error
        return logger
    }()

    /// The newest schema this code reads and writes (`reel_log.format`).
    public static let format: Int32 = 1

    /// Why a log of `format` is refused, or `nil`: a newer format than this code reads, or none Reel ever wrote.
    static func refusal(ofFormat format: Int32) -> String? {
        if format > Self.format { return "its log is of format \(format), newer than this reel reads (\(Self.format)): upgrade reel" }
        if format < 1 { return "its head row gives format \(format), which no Reel writes: the log's record is damaged" }
        return nil
    }

    /// Why a log whose table `reel_log` has no row is refused.
    static let noHeadRow =
        "its table reel_log has no head row: in a log that holds no events yet, `reel cluster init` makes it again; in one that "
        + "holds events, the log's record is damaged (restore it from a backup)"
    /// The channel each commit notifies, with its head position as the payload.
    static let channel = "reel_log"

    public init(address: PostgresAddress, node: String) {
        self.address = address
        self.node = node
    }

    deinit {
        stopWatching()
        for box in [writer, reader] {
            box.withLock { connection in
                Self.close(connection)
                connection = nil
            }
        }
    }

    // MARK: Connections

    /// Connects to the first host that accepts and is a primary.
    static func connect(_ address: PostgresAddress, readOnlyAllowed: Bool = false) throws -> PostgresConnection {
        var failures: [String] = []
        var refusals = 0
        for (index, endpoint) in address.endpoints.enumerated() {
            var configuration = PostgresConnection.Configuration(
                host: endpoint.host, port: endpoint.port, username: address.user, password: address.password, database: address.database,
                tls: try tls(address))
            configuration.options.connectTimeout = .milliseconds(Int64(address.connectTimeout * 1000))
            configuration.options.additionalStartupParameters = address.settings.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            configuration.options.additionalStartupParameters.append(("application_name", "reel"))
            do {
                let connection = try wait(
                    PostgresConnection.connect(
                        on: MultiThreadedEventLoopGroup.singleton.any(), configuration: configuration, id: index, logger: logger),
                    seconds: address.connectTimeout + 1)
                if !readOnlyAllowed {
                    let standby = try wait(
                        connection.query("SELECT pg_is_in_recovery()", logger: logger), seconds: address.connectTimeout + 1)
                    if try standby.rows.first?.decode(Bool.self) ?? true {
                        failures.append("\(endpoint.host):\(endpoint.port) is a standby")
                        PostgresLog.close(connection)
                        continue
                    }
                }
                return connection
            } catch {
                failures.append("\(endpoint.host):\(endpoint.port): \(describe(error))")
                refusals += isRefusal(error, connecting: true) ? 1 : 0
            }
        }
        let reason = "no primary accepted a connection (\(failures.joined(separator: "; ")))"
        // Every host answered, and refused for a reason that stays (a password, a database, TLS): say so.
        if refusals == address.endpoints.count { throw LogOfRecordError.refused(log: address.description, reason: reason) }
        throw LogOfRecordError.unavailable(log: address.description, reason: reason)
    }

    /// The TLS of a connection, from the address's `sslmode` and `sslrootcert`.
    static func tls(_ address: PostgresAddress) throws -> PostgresConnection.Configuration.TLS {
        var configuration = TLSConfiguration.makeClientConfiguration()
        switch address.tls {
        case .disable: return .disable
        // As libpq: `require` with a root file checks the certificate as `verify-ca` does.
        case .prefer, .require where address.rootCertificates == nil: configuration.certificateVerification = .none
        case .require, .verifyCA: configuration.certificateVerification = .noHostnameVerification
        case .verifyFull: configuration.certificateVerification = .fullVerification
        }
        if let roots = address.rootCertificates { configuration.trustRoots = .file(roots) }
        do {
            let context = try NIOSSLContext(configuration: configuration)
            return address.tls == .prefer ? .prefer(context) : .require(context)
        } catch {
            throw LogOfRecordError.refused(
                log: address.description, reason: "its TLS settings cannot be used (sslrootcert \(address.rootCertificates ?? "-")): \(error)")
        }
    }

    /// Runs `body` on the reader connection, connecting first if needed; a connection that fails is dropped, and the
    /// call made once more on a new one (the primary may have restarted, or moved).
    private func withReader<R>(_ body: (PostgresConnection) throws -> R) throws -> R {
        try reader.withLock { connection in try reading(&connection, body) }
    }

    /// Runs `body` on the reading connection if no other thread is using it now; `nil` at once otherwise.
    private func withIdleReader<R>(_ body: (PostgresConnection) throws -> R) throws -> R? {
        try reader.withLockIfAvailable { connection in try reading(&connection, body) }
    }

    /// Runs `body` on the reading connection, made (again) when there is none or it was closed.
    private func reading<R>(_ connection: inout PostgresConnection?, _ body: (PostgresConnection) throws -> R) throws -> R {
        var attempts = 0
        // Whether the attempt used a connection made before it: one the server closed meanwhile (it restarted,
        // or failed over) is replaced once; a new one that fails is not tried again at once.
        var reused = false
        while true {
            attempts += 1
            do {
                let current: PostgresConnection
                if let connection, !connection.isClosed {
                    current = connection
                    reused = true
                } else {
                    reused = false
                    Self.close(connection)
                    connection = nil
                    current = try Self.connect(address)
                    connection = current
                    // The only write made here is this node's row of reel_nodes, a report: its commit does not wait
                    // for a synchronous standby (one that is down would hold it, and its row, for good).
                    _ = try query(current, "SET synchronous_commit TO local")
                }
                return try body(current)
            } catch let error as PSQLError where error.serverInfo == nil && attempts == 1 && reused {
                PostgresLog.close(connection)
                connection = nil
            } catch {
                if !(error is LogOfRecordError) {
                    PostgresLog.close(connection)
                    connection = nil
                }
                throw Self.unavailable(error, address)
            }
        }
    }

    static func unavailable(_ error: any Error, _ address: PostgresAddress) -> any Error {
        if error is LogOfRecordError { return error }
        if let psql = error as? PSQLError, psql.serverInfo?[.sqlState] == "55P03" {
            return LogOfRecordError.unavailable(
                log: address.description,
                reason: "another node held the log's lock longer than lock_timeout (\(address.settings["lock_timeout"] ?? "?"))")
        }
        // A row already at the position an append takes (or with its id): the log holds rows past its head row, which
        // no append leaves. Trying again meets the same row.
        if let psql = error as? PSQLError, psql.serverInfo?[.sqlState] == "23505" {
            return LogOfRecordError.refused(
                log: address.description,
                reason: "\(describe(error)): the group conflicts with a row already in reel_events, which no append leaves (a head row "
                    + "set back, or a row altered): the log's record is damaged; `reel audit verify --postgres` names it")
        }
        if isRefusal(error) { return LogOfRecordError.refused(log: address.description, reason: describe(error)) }
        return LogOfRecordError.unavailable(log: address.description, reason: describe(error))
    }

    /// Whether PostgreSQL refused for a reason that trying again does not change: authentication (SQLSTATE class
    /// 28), a database or schema that does not exist (3D, 3F), a permission, a table or a statement (42), a row the
    /// log cannot hold; and, while `connecting`, TLS the server does not offer or a certificate that does not verify.
    /// A connection lost during a TLS handshake or after it is not a refusal: a server restarting or failing over
    /// closes connections so.
    static func isRefusal(_ error: any Error, connecting: Bool = false) -> Bool {
        if error is DamagedRow || error is PostgresDecodingError { return true }
        guard let psql = error as? PSQLError else { return false }
        if let state = psql.serverInfo?[.sqlState] { return ["28", "3D", "3F", "42"].contains(String(state.prefix(2))) }
        if [.unsupportedAuthMechanism, .authMechanismRequiresPassword].contains(psql.code) { return true }
        guard connecting else { return false }
        if psql.code == .sslUnsupported || psql.underlying is NIOSSLExtraError { return true }
        if case .handshakeFailed(let failure)? = psql.underlying as? NIOSSLError {
            return "\(failure)".contains("CERTIFICATE") || "\(failure)".contains("WRONG_VERSION")
        }
        return false
    }

    /// A row of `reel_events` or `reel_log` holding what no log of Reel's can (a negative position or version,
    /// metadata that does not decode): the log was altered in PostgreSQL.
    struct DamagedRow: Error, CustomStringConvertible {
        let description: String
    }

    /// What went wrong, in PostgreSQL's words when it said something: at most ``longestDescription`` characters, however
    /// much a server (or something posing as one) sent.
    static func describe(_ error: any Error) -> String {
        let text = fullDescription(error)
        guard text.count > longestDescription else { return text }
        return text.prefix(longestDescription) + "… (\(text.utf8.count) bytes in all)"
    }

    /// The most of an error's text a message quotes.
    static let longestDescription = 2_000

    private static func fullDescription(_ error: any Error) -> String {
        // A cell of the log's tables that is NULL, or of another type than the schema's: the table was altered.
        if let decoding = error as? PostgresDecodingError {
            return "its column \(decoding.columnName) holds \(decoding.code == .missingData ? "NULL" : "a value of type \(decoding.postgresType)") "
                + "where Reel's schema has \(decoding.targetType): the log's tables were altered"
        }
        if let psql = error as? PSQLError {
            // A message this client could not decode: what it holds may be anything, of any size (not a PostgreSQL
            // server at the other end, say), and is not quoted.
            if [.messageDecodingFailure, .unexpectedBackendMessage].contains(psql.code) {
                return "the server sent what is not PostgreSQL's protocol (\(psql.code)): is it a PostgreSQL server?"
            }
            if let message = psql.serverInfo?[.message] {
                return "\(message) (SQLSTATE \(psql.serverInfo?[.sqlState] ?? "?"))"
            }
            if let refused = psql.underlying as? NIOConnectionError, let cause = refused.connectionErrors.first?.error as? IOError {
                return "could not connect: \(String(cString: strerror(cause.errnoCode)))"
            }
            switch psql.code {
            case .sslUnsupported: return "the server does not offer TLS, which the URL's sslmode requires"
            case .serverClosedConnection: return "the server closed the connection" + (psql.underlying.map { " (\($0))" } ?? "")
            case .uncleanShutdown: return "the connection ended without a proper close"
            case .clientClosedConnection: return "the connection was closed before PostgreSQL answered"
            case .authMechanismRequiresPassword: return "the server asks for a password and the URL has none"
            case .unsupportedAuthMechanism: return "the server asks for an authentication method this client does not support"
            default: break
            }
            if let underlying = psql.underlying { return "\(psql.code): \(underlying)" }
            return "\(psql.code)"
        }
        if error is Timeout { return "no answer within the time allowed" }
        return "\(error)"
    }

    struct Timeout: Error {}

    /// Closes a connection and waits for it to be closed (PostgresNIO requires it before the last reference goes).
    static func close(_ connection: PostgresConnection?) {
        guard let connection else { return }
        _ = try? wait(connection.close(), seconds: 5)
    }

    /// Waits for a future from a thread that is not an event loop's, for at most `seconds`.
    static func wait<T: Sendable>(_ future: EventLoopFuture<T>, seconds: Double) throws -> T {
        let done = DispatchSemaphore(value: 0)
        let result = Locked<Result<T, any Error>?>(nil)
        future.whenComplete { outcome in
            result.withLock { $0 = outcome }
            done.signal()
        }
        guard done.wait(timeout: .now() + seconds) == .success else { throw Timeout() }
        return try result.withLock { $0! }.get()
    }

    /// The longest a statement may take before the connection is given up (PostgreSQL's statement_timeout, plus a
    /// margin for its answer to arrive).
    private var statementSeconds: Double { address.seconds(of: "statement_timeout") + 5 }

    private func query(_ connection: PostgresConnection, _ query: PostgresQuery) throws -> PostgresQueryResult {
        try Self.wait(connection.query(query, logger: Self.logger), seconds: statementSeconds)
    }

    // MARK: LogOfRecord

    public func identity() throws -> String { try headRow().identity }

    /// The log's identity and format, from its head row: a log of a format this code does not read is refused.
    func headRow() throws -> (identity: String, format: Int32) {
        try withReader { connection in
            let rows = try query(connection, "SELECT to_regclass('reel_log') IS NOT NULL").rows
            guard try rows.first?.decode(Bool.self) == true else {
                throw LogOfRecordError.refused(
                    log: name, reason: "it has no Reel log (no table reel_log): create it with `reel cluster init --postgres URL`")
            }
            guard let row = try query(connection, "SELECT format, identity FROM reel_log").rows.first else {
                throw LogOfRecordError.refused(log: name, reason: Self.noHeadRow)
            }
            let (format, identity) = try row.decode((Int32, UUID).self)
            if let refusal = Self.refusal(ofFormat: format) { throw LogOfRecordError.refused(log: name, reason: refusal) }
            return (identity.uuidString.lowercased(), format)
        }
    }

    public func beginGroup(limit: Int, locked: @escaping @Sendable () throws -> UInt64) throws -> (head: LogHead, events: [ExportedEvent]) {
        try writer.withLock { connection in
            var attempts = 0
            // Whether the lock was held and `locked` told: from then on a failure ends the group.
            var held = false
            // Whether the attempt used a connection made before it (see `withReader`).
            var reused = false
            while true {
                attempts += 1
                // Closed when the attempt ends in failure: the lock's answer may still come (after a timeout here),
                // and `locked` is not called then.
                let open = Locked(true)
                do {
                    // A connection the server closed is replaced before it is used: a query written to a closed
                    // channel is never answered, and would wait for its whole timeout.
                    if connection?.isClosed == true {
                        Self.close(connection)
                        connection = nil
                    }
                    reused = connection != nil
                    let current = try connection ?? Self.connect(address)
                    connection = current
                    // Sent together: the connection's event loop sends each once the one before is answered. Once the
                    // lock is held, the event loop asks the replica's head and sends the read right away, with no
                    // round trip through this thread between. Its snapshot is taken under the lock (read committed),
                    // so it sees every commit up to the head: the events the replica lacks and, for the checks below,
                    // the event the head row names and the one before it.
                    let begin = current.query("BEGIN", logger: Self.logger)
                    let locking = current.query("SELECT head_position, head_hash FROM reel_log FOR UPDATE", logger: Self.logger)
                    let reading = locking.flatMap { answer -> EventLoopFuture<(UInt64, PostgresQueryResult)?> in
                        // No head row: refused below, and `locked` is not told of a lock.
                        guard answer.rows.first != nil else { return current.eventLoop.makeSucceededFuture(nil) }
                        do {
                            let local = try open.withLock { open in
                                guard open else {
                                    throw LogOfRecordError.unavailable(log: self.name, reason: "the group was given up")
                                }
                                return try locked()
                            }
                            let query = Self.lockedQuery(after: local, limit: limit)
                            return current.query(query, logger: Self.logger).map { (local, $0) }
                        } catch {
                            return current.eventLoop.makeFailedFuture(error)
                        }
                    }
                    _ = try Self.wait(begin, seconds: statementSeconds)
                    guard let row = try Self.wait(locking, seconds: statementSeconds).rows.first else {
                        throw LogOfRecordError.refused(log: name, reason: Self.noHeadRow)
                    }
                    let (position, hash) = try row.decode((Int64, ByteBuffer).self)
                    let head = LogHead(position: try Self.natural(position, "reel_log.head_position"), hash: Array(hash.readableBytesView))
                    held = true
                    guard let (local, result) = try Self.wait(reading, seconds: statementSeconds) else {
                        throw LogOfRecordError.refused(log: name, reason: Self.noHeadRow)
                    }
                    let rows = try result.rows.map(Self.event)
                    // A group is never appended after a head the log does not hold (a row deleted, the table emptied),
                    // which would leave a gap, nor after an event altered in the log.
                    if head.position > 0 {
                        let logged = rows.last { $0.position == head.position }
                        guard let logged, logged.hash == head.hash else {
                            throw DamagedRow(
                                description: logged == nil
                                    ? "its head row says it holds position \(head.position), and it has no event there"
                                    : "its head row gives its event at position \(head.position) another hash than the event has")
                        }
                        let previous = head.position == 1 ? LogHead.empty.hash : rows.last { $0.position == head.position - 1 }?.hash
                        if let previous, logged.expectedHash(after: previous) != logged.hash {
                            throw DamagedRow(
                                description: "its event at position \(head.position) (stream \(logged.stream)) does not give its own hash: "
                                    + "the log's record was altered")
                        }
                    }
                    guard limit > 0, local < head.position else { return (head, []) }
                    let (first, last) = Self.lockedRange(after: local, limit: limit)
                    var events = rows.filter { $0.position >= first && $0.position <= last }
                    if zip(events, events.dropFirst()).contains(where: { $0.position >= $1.position }) {
                        events.sort { $0.position < $1.position }
                    }
                    try Self.check(events, head: head)
                    return (head, events)
                } catch {
                    open.withLock { $0 = false }
                    // The connection goes, and with it the transaction and the lock.
                    PostgresLog.close(connection)
                    connection = nil
                    // Lost before the lock was held (PostgreSQL restarted, or failed over): once more, on a new one.
                    if !held, attempts == 1, reused, let psql = error as? PSQLError, psql.serverInfo == nil { continue }
                    // The replica's own failure (reading its head) is its own, not the log's.
                    if !(error is PSQLError || error is PostgresDecodingError || error is Timeout || error is LogOfRecordError || error is DamagedRow) { throw error }
                    throw Self.unavailable(error, address)
                }
            }
        }
    }

    public func events(after position: UInt64, limit: Int) throws -> [ExportedEvent] {
        try withReader { connection in try events(connection, after: position, limit: limit) }
    }

    public func eventsIfIdle(after position: UInt64, limit: Int) throws -> [ExportedEvent]? {
        try withIdleReader { connection in try events(connection, after: position, limit: limit) }
    }

    /// Events after `position`, with the head row read in the same round trip: an event the head row names must have
    /// the hash the head row gives it (a replica never takes in an event of the log that its head row contradicts).
    private func events(_ connection: PostgresConnection, after position: UInt64, limit: Int) throws -> [ExportedEvent] {
        let reading = connection.query(Self.eventsQuery(after: position, limit: limit), logger: Self.logger)
        let heading = connection.query("SELECT head_position, head_hash FROM reel_log", logger: Self.logger)
        let events = try Self.wait(reading, seconds: statementSeconds).rows.map(Self.event)
        if let row = try Self.wait(heading, seconds: statementSeconds).rows.first {
            let (position, hash) = try row.decode((Int64, ByteBuffer).self)
            try Self.check(events, head: LogHead(position: try Self.natural(position, "reel_log.head_position"), hash: Array(hash.readableBytesView)))
        }
        return events
    }

    /// Events after `position` as the log stores them, without the head row's check: for the audit, which reports
    /// what disagrees rather than refusing it.
    func storedEvents(after position: UInt64, limit: Int) throws -> [ExportedEvent] {
        try withReader { connection in
            try query(connection, Self.eventsQuery(after: position, limit: limit, throughHead: false)).rows.map(Self.event)
        }
    }

    /// Throws ``DamagedRow`` when `events` hold the event `head` names with another hash.
    static func check(_ events: [ExportedEvent], head: LogHead) throws {
        guard let first = events.first, head.position >= first.position else { return }
        let index = Int(head.position - first.position)
        guard index < events.count, events[index].position == head.position, events[index].hash != head.hash else { return }
        throw DamagedRow(description: "its head row gives its event at position \(head.position) another hash than the event has")
    }

    /// The positions a group's read under the lock returns as events: up to `limit` after `position`.
    static func lockedRange(after position: UInt64, limit: Int) -> (first: UInt64, last: UInt64) {
        let first = min(position, UInt64(Int64.max) - 1) + 1
        return (first, min(first + UInt64(max(limit, 0)), UInt64(Int64.max)) - 1)
    }

    /// What a group reads once it holds the lock, in one statement: up to `limit` events after `position` (no further
    /// than the head), and the event the head row names with the one before it, when they are not among them.
    static func lockedQuery(after position: UInt64, limit: Int) -> PostgresQuery {
        let (first, last) = lockedRange(after: position, limit: limit)
        let (low, high) = (Int64(first), Int64(last))
        return """
            SELECT * FROM (
                SELECT position, stream, version, id, type, recorded_at, data, metadata, hash FROM reel_events
                WHERE position >= \(low) AND position <= \(high) AND position <= (SELECT head_position FROM reel_log)
                ORDER BY position LIMIT \(Int64(max(limit, 0)))
            ) AS lacking
            UNION ALL
            SELECT position, stream, version, id, type, recorded_at, data, metadata, hash FROM reel_events
            WHERE position >= (SELECT head_position FROM reel_log) - 1 AND position <= (SELECT head_position FROM reel_log)
                AND NOT (position >= \(low) AND position <= \(high))
            """
    }

    /// Rows after `position`; `throughHead`, only those up to the head row's position: a row past it is no event of
    /// the log (a group's rows and its head move in one transaction), and a replica does not take it in.
    static func eventsQuery(after position: UInt64, limit: Int, throughHead: Bool = true) -> PostgresQuery {
        if !throughHead {
            return """
                SELECT position, stream, version, id, type, recorded_at, data, metadata, hash FROM reel_events
                WHERE position > \(Int64(clamping: position)) ORDER BY position LIMIT \(Int64(max(limit, 1)))
                """
        }
        return """
            SELECT position, stream, version, id, type, recorded_at, data, metadata, hash FROM reel_events
            WHERE position > \(Int64(clamping: position)) AND position <= (SELECT head_position FROM reel_log)
            ORDER BY position LIMIT \(Int64(max(limit, 1)))
            """
    }

    public func event(at position: UInt64) throws -> ExportedEvent? {
        try withReader { connection in
            try query(
                connection,
                "SELECT position, stream, version, id, type, recorded_at, data, metadata, hash FROM reel_events WHERE position = \(Int64(clamping: position))"
            ).rows.first.map(Self.event)
        }
    }

    public func head() throws -> LogHead {
        try withReader { connection in
            guard let row = try query(connection, "SELECT head_position, head_hash FROM reel_log").rows.first else {
                throw LogOfRecordError.refused(log: name, reason: Self.noHeadRow)
            }
            let (position, hash) = try row.decode((Int64, ByteBuffer).self)
            return LogHead(position: try Self.natural(position, "reel_log.head_position"), hash: Array(hash.readableBytesView))
        }
    }

    public func commitGroup(_ events: [ExportedEvent]) throws {
        try writer.withLock { connection in
            guard let current = connection, !events.isEmpty else { return }
            // The insert and the COMMIT are sent together (the event loop sends the COMMIT once the insert is
            // answered), so the outcome is read from both: once the COMMIT is on its way, a lost connection leaves it
            // unknown even when the insert's answer is what was lost.
            let inserting = current.query(insertion(events), logger: Self.logger)
            let committing = current.query("COMMIT", logger: Self.logger)
            do {
                _ = try Self.wait(inserting, seconds: statementSeconds)
            } catch {
                PostgresLog.close(current)
                connection = nil
                // PostgreSQL refused the insert: its transaction is aborted, and the COMMIT rolls it back.
                if let psql = error as? PSQLError, psql.serverInfo != nil { throw Self.unavailable(error, address) }
                throw LogOfRecordError.outcomeUnknown(log: name, reason: Self.describe(error))
            }
            try commit(current, committing, connection: &connection)
        }
    }

    /// Inserts events in the open group's transaction, with the head they make, this node's place and the notice its
    /// commit sends, in one statement. A failure drops the connection (and with it the transaction).
    private func record(_ events: [ExportedEvent], on current: PostgresConnection, connection: inout PostgresConnection?) throws {
        guard !events.isEmpty else { return }
        do {
            _ = try query(current, insertion(events))
        } catch {
            PostgresLog.close(current)
            connection = nil
            throw Self.unavailable(error, address)
        }
    }

    /// The statement that inserts events (at least one), moves the head, reports this node's place and sends the
    /// notice of the commit.
    private func insertion(_ events: [ExportedEvent]) -> PostgresQuery {
        let last = events[events.count - 1]
        let positions = events.map { Int64($0.position) }
        let streams = events.map(\.stream)
        let versions = events.map { Int64($0.version) }
        let ids = events.map(\.id)
        let types = events.map(\.type)
        let times = events.map(\.recordedAtMilliseconds)
        let data = events.map { ByteBuffer(bytes: $0.payload) }
        let metadata = events.map { ByteBuffer(bytes: MetadataCodec.encode($0.metadata)) }
        let hashes = events.map { ByteBuffer(bytes: $0.hash) }
        let head = Int64(last.position)
        let headHash = ByteBuffer(bytes: last.hash)
        let notice = String(last.position)
        return """
            WITH inserted AS (
                INSERT INTO reel_events (position, stream, version, id, type, recorded_at, data, metadata, hash)
                SELECT * FROM unnest(\(positions)::bigint[], \(streams)::text[], \(versions)::bigint[], \(ids)::uuid[],
                    \(types)::text[], \(times)::bigint[], \(data)::bytea[], \(metadata)::bytea[], \(hashes)::bytea[])
            ), moved AS (
                UPDATE reel_log SET head_position = \(head), head_hash = \(headHash)
            ), reported AS (
                INSERT INTO reel_nodes (node, replica_head, updated_at) VALUES (\(node), \(head), now())
                ON CONFLICT (node) DO UPDATE SET replica_head = EXCLUDED.replica_head, updated_at = now()
            )
            SELECT pg_notify(\(Self.channel), \(notice))
            """
    }

    /// Commits the open group (or waits for the COMMIT already sent). A connection lost before PostgreSQL answered
    /// leaves the outcome unknown.
    private func commit(
        _ current: PostgresConnection, _ sent: EventLoopFuture<PostgresQueryResult>? = nil, connection: inout PostgresConnection?
    ) throws {
        do {
            _ = try Self.wait(sent ?? current.query("COMMIT", logger: Self.logger), seconds: statementSeconds)
        } catch let error as PSQLError where error.serverInfo != nil && !["FATAL", "PANIC"].contains(error.serverInfo?[.severity] ?? "") {
            // PostgreSQL answered, and refused: nothing was committed. (A session ended with FATAL — terminated, or
            // the server shutting down — may have ended after the commit was made, while it waited for a standby.)
            PostgresLog.close(current)
            connection = nil
            throw Self.unavailable(error, address)
        } catch {
            PostgresLog.close(current)
            connection = nil
            throw LogOfRecordError.outcomeUnknown(log: name, reason: Self.describe(error))
        }
    }

    /// A log that holds events, refused by ``load(_:)``: retrying cannot help.
    public struct NotEmpty: Error, Sendable, CustomStringConvertible {
        public let log: String
        public let events: UInt64
        public init(log: String, events: UInt64) { (self.log, self.events) = (log, events) }
        public var description: String { "the cluster's log at \(log) holds \(events) events: an import needs an empty log (a new cluster)" }
    }

    /// Fills an empty log with the events `next` returns, chunk by chunk until it returns none, in one transaction:
    /// the log holds all of them or none. The events must be a whole log from position 1, their chain checked (a
    /// store's, as an import leaves it). Returns the log's head; refuses a log that holds events (``NotEmpty``).
    public func load(_ next: () throws -> [ExportedEvent]) throws -> UInt64 {
        let (head, _) = try beginGroup(limit: 0) { 0 }
        var finished = false
        defer { if !finished { abandonGroup() } }
        guard head.position == 0 else { throw NotEmpty(log: name, events: head.position) }
        var last: UInt64 = 0
        try writer.withLock { connection in
            while true {
                let events = try next()
                guard !events.isEmpty else { break }
                guard let current = connection else { throw LogOfRecordError.unavailable(log: name, reason: "the connection was lost") }
                try record(events, on: current, connection: &connection)
                last = events.last!.position
            }
            guard let current = connection else { throw LogOfRecordError.unavailable(log: name, reason: "the connection was lost") }
            finished = true
            do {
                try commit(current, connection: &connection)
            } catch LogOfRecordError.outcomeUnknown(let log, let reason) {
                // Whether the whole load is there: the log's head says. Not there yet, it may still come.
                guard let now = try? self.head(), now.position == last else {
                    throw LogOfRecordError.outcomeUnknown(log: log, reason: reason)
                }
            }
        }
        return last
    }

    public func abandonGroup() {
        writer.withLock { connection in
            guard let current = connection, !current.isClosed else {
                Self.close(connection)
                connection = nil
                return
            }
            do {
                _ = try query(current, "ROLLBACK")
            } catch {
                PostgresLog.close(current)
                connection = nil
            }
        }
    }

    /// Records the replica's head in `reel_nodes`, at most once a second, for `reel cluster status`.
    public func replicated(through position: UInt64) {
        let now = Date().timeIntervalSince1970
        let due = lastReported.withLock { last -> Bool in
            guard last.position != position, now - last.at >= 1 else { return false }
            last = (position, now)
            return true
        }
        guard due else { return }
        _ = try? withReader { connection in
            try query(
                connection,
                """
                INSERT INTO reel_nodes (node, replica_head, updated_at) VALUES (\(node), \(Int64(position)), now())
                ON CONFLICT (node) DO UPDATE SET replica_head = EXCLUDED.replica_head, updated_at = now()
                """)
        }
    }

    // MARK: Following

    /// A LISTEN connection and a fallback timer.
    private final class Watch: @unchecked Sendable {
        let timer: DispatchSourceTimer
        var connection: PostgresConnection?
        init(timer: DispatchSourceTimer) { self.timer = timer }
    }

    /// How often a follower looks at the log when no notice came.
    public static let fallbackInterval = 1.0

    public func watch(_ wake: @escaping @Sendable () -> Void) {
        let queue = DispatchQueue(label: "reel.cluster.watch")
        let timer = DispatchSource.makeTimerSource(queue: queue)
        let watch = Watch(timer: timer)
        let address = address
        timer.setEventHandler {
            // The LISTEN connection, made again when lost (PostgreSQL restarted or failed over); a wake follows each
            // new one, for the commits no notice reported meanwhile.
            if watch.connection == nil || watch.connection?.isClosed == true {
                watch.connection = nil
                if let connection = try? Self.connect(address) {
                    _ = connection.addListener(channel: Self.channel) { _, _ in wake() }
                    // The LISTEN is sent with the listener; a query after it returns once it has been.
                    _ = try? Self.wait(connection.query("SELECT 1", logger: Self.logger), seconds: 5)
                    watch.connection = connection
                }
            }
            wake()
        }
        timer.schedule(deadline: .now(), repeating: Self.fallbackInterval, leeway: .milliseconds(50))
        watcher.withLock { $0 = watch }
        timer.resume()
    }

    public func stopWatching() {
        guard
            let watch = watcher.withLock({ current -> Watch? in
                defer { current = nil }
                return current
            })
        else { return }
        // The handler may be running: the cancel takes effect after it, on the timer's queue.
        let done = DispatchSemaphore(value: 0)
        watch.timer.setCancelHandler {
            PostgresLog.close(watch.connection)
            done.signal()
        }
        watch.timer.cancel()
        _ = done.wait(timeout: .now() + 10)
    }

    // MARK: Rows

    /// An event from a row of `SELECT position, stream, version, id, type, recorded_at, data, metadata, hash`.
    static func event(_ row: PostgresRow) throws -> ExportedEvent {
        try directEvent(row) ?? genericEvent(row)
    }

    /// The event of a row whose cells are in PostgreSQL's binary format, which postgres-nio asks for, read directly:
    /// a follower reads every event the other nodes append, and postgres-nio's generic decoder took about as long per
    /// event as folding it. `nil` for a row of any other shape.
    static func directEvent(_ row: PostgresRow) throws -> ExportedEvent? {
        var cells = row.makeIterator()
        func cell(_ type: PostgresDataType) -> ByteBuffer? {
            guard let cell = cells.next(), cell.format == .binary, cell.dataType == type else { return nil }
            return cell.bytes
        }
        guard var position = cell(.int8), var stream = cell(.text), var version = cell(.int8), var id = cell(.uuid), var type = cell(.text),
            var recordedAt = cell(.int8), let data = cell(.bytea), let metadata = cell(.bytea), let hash = cell(.bytea),
            let position = position.readInteger(as: Int64.self), let stream = stream.readString(length: stream.readableBytes),
            let version = version.readInteger(as: Int64.self), let id = id.readUUIDBytes(),
            let type = type.readString(length: type.readableBytes),
            let recordedAt = recordedAt.readInteger(as: Int64.self)
        else { return nil }
        return ExportedEvent(
            position: try natural(position, "position"), stream: stream, version: try natural(version, "version at position \(position)"), id: id,
            type: type, recordedAtMilliseconds: recordedAt,
            payload: Array(data.readableBytesView),
            metadata: try MetadataCodec.decode(Array(metadata.readableBytesView), position: position),
            hash: Array(hash.readableBytesView))
    }

    /// A position or version as read from the log; a negative one is a damaged row.
    static func natural(_ value: Int64, _ what: String) throws -> UInt64 {
        guard let natural = UInt64(exactly: value) else { throw DamagedRow(description: "\(what) is \(value) in PostgreSQL") }
        return natural
    }

    /// The event of a row through postgres-nio's decoder, which takes any format it knows.
    static func genericEvent(_ row: PostgresRow) throws -> ExportedEvent {
        let (position, stream, version, id, type, recordedAt, data, metadata, hash) = try row.decode(
            (Int64, String, Int64, UUID, String, Int64, ByteBuffer, ByteBuffer, ByteBuffer).self)
        return ExportedEvent(
            position: try natural(position, "position"), stream: stream, version: try natural(version, "version at position \(position)"), id: id,
            type: type, recordedAtMilliseconds: recordedAt,
            payload: Array(data.readableBytesView),
            metadata: try MetadataCodec.decode(Array(metadata.readableBytesView), position: position),
            hash: Array(hash.readableBytesView))
    }
}
