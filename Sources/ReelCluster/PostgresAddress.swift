import Foundation

/// Where a cluster's log lives: a `postgres://` URL naming one host or several, tried in turn.
///
///     postgres://USER[:PASSWORD]@HOST[:PORT][,HOST[:PORT]…]/DATABASE[?OPTION=VALUE&…]
///
/// Options: `lock_timeout` (default `5s`): how long an append waits for another node's group before it fails, to be
/// retried; `statement_timeout` (`30s`): the longest any statement of the log may run — PostgreSQL does not apply it
/// to a commit's wait for a synchronous standby, so a node waits for a commit this long plus 5 seconds and then
/// reports an unknown outcome; `idle_in_transaction_session_timeout` (`15s`): PostgreSQL ends the session
/// of a node that stalls while it holds the log's lock, releasing it; `connect_timeout` (seconds, `5`).
public struct PostgresAddress: Sendable, Hashable, CustomStringConvertible {
    /// The hosts, in the order they are tried.
    public struct Endpoint: Sendable, Hashable {
        public var host: String
        public var port: Int
    }
    public var endpoints: [Endpoint]
    public var user: String
    public var password: String?
    public var database: String
    /// PostgreSQL settings for every session of the log, by name.
    public var settings: [String: String]
    public var connectTimeout: Double

    /// Why a URL is not a PostgreSQL address.
    public struct Malformed: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    static let defaultSettings = ["lock_timeout": "5s", "statement_timeout": "30s", "idle_in_transaction_session_timeout": "15s"]

    public init(_ url: String) throws {
        func fail(_ reason: String) -> Malformed {
            Malformed(description: "--postgres: \(reason) (expected postgres://USER[:PASSWORD]@HOST[:PORT][,HOST[:PORT]…]/DATABASE)")
        }
        guard let schemeEnd = url.range(of: "://"), ["postgres", "postgresql"].contains(url[..<schemeEnd.lowerBound].lowercased()) else {
            throw fail("not a postgres:// URL")
        }
        var rest = Substring(url[schemeEnd.upperBound...])
        var query = Substring("")
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        guard let at = rest.lastIndex(of: "@") else { throw fail("no USER@ before the host") }
        let credentials = rest[..<at]
        rest = rest[rest.index(after: at)...]
        let slash = rest.firstIndex(of: "/")
        let hostList = slash.map { rest[..<$0] } ?? rest
        let database = slash.map { String(rest[rest.index(after: $0)...]) } ?? ""
        let userParts = credentials.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard let user = userParts.first.flatMap({ String($0).removingPercentEncoding }), !user.isEmpty else { throw fail("no user") }
        self.user = user
        password = userParts.count > 1 ? String(userParts[1]).removingPercentEncoding : nil
        guard let decoded = database.removingPercentEncoding, !decoded.isEmpty else { throw fail("no database") }
        self.database = decoded
        endpoints = try hostList.split(separator: ",").map { item -> Endpoint in
            let parts = item.split(separator: ":", omittingEmptySubsequences: false)
            guard let host = parts.first, !host.isEmpty, parts.count <= 2 else { throw fail("a malformed host \"\(item)\"") }
            guard parts.count == 1 || Int(parts[1]).map({ (1...65535).contains($0) }) == true else {
                throw fail("a malformed port in \"\(item)\"")
            }
            return Endpoint(host: String(host), port: parts.count == 2 ? Int(parts[1])! : 5432)
        }
        guard !endpoints.isEmpty else { throw fail("no host") }
        settings = Self.defaultSettings
        connectTimeout = 5
        for pair in query.split(separator: "&") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let name = String(parts[0]).removingPercentEncoding,
                let value = String(parts[1]).removingPercentEncoding
            else {
                throw fail("a malformed option \"\(pair)\"")
            }
            switch name {
            case "connect_timeout":
                guard let seconds = Double(value), seconds > 0 else { throw fail("connect_timeout must be a number of seconds") }
                connectTimeout = seconds
            case "lock_timeout", "statement_timeout", "idle_in_transaction_session_timeout":
                guard value.allSatisfy({ $0.isLetter || $0.isNumber }) else { throw fail("\(name) must read like 5s or 500ms") }
                settings[name] = value
            case "sslmode", "application_name":
                continue
            default:
                throw fail("an unknown option \"\(name)\"")
            }
        }
    }

    /// The URL without the password.
    public var description: String {
        "postgres://\(user)@\(endpoints.map { "\($0.host):\($0.port)" }.joined(separator: ","))/\(database)"
    }

    public static func == (lhs: PostgresAddress, rhs: PostgresAddress) -> Bool { lhs.description == rhs.description }
    public func hash(into hasher: inout Hasher) { hasher.combine(description) }
}
