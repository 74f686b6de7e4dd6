import Foundation

/// Where a cluster's log lives: a `postgres://` URL naming one host or several, tried in turn.
///
///     postgres://USER[:PASSWORD]@HOST[:PORT][,HOST[:PORT]…]/DATABASE[?OPTION=VALUE&…]
///
/// A host is a name, an IPv4 address or an IPv6 address in brackets (`[::1]:5432`).
///
/// Options: `lock_timeout` (default `5s`): how long an append waits for another node's group before it fails, to be
/// retried; `statement_timeout` (`30s`): the longest any statement of the log may run — PostgreSQL does not apply it
/// to a commit's wait for a synchronous standby, so a node waits for a commit this long plus 5 seconds and then
/// reports an unknown outcome; `idle_in_transaction_session_timeout` (`15s`): PostgreSQL ends the session
/// of a node that stalls while it holds the log's lock, releasing it; `connect_timeout` (seconds, `5`). The three
/// durations are read as PostgreSQL reads them — a number with a unit (`us`, `ms`, `s`, `min`, `h`, `d`), a bare
/// number in milliseconds — and passed on in milliseconds; each must be at least 1 ms (PostgreSQL's 0, no limit at
/// all, would let a stalled node or a standby that is down hold every append forever).
///
/// TLS, as libpq's `sslmode` reads: `prefer` (the default) encrypts when the server offers it, without checking its
/// certificate; `require` refuses a server that does not (and, given `sslrootcert`, checks as `verify-ca` does);
/// `verify-ca` also checks that the certificate was signed by a root of `sslrootcert` (a PEM file, required);
/// `verify-full` also checks that it names the host, which must then be given by name (the system's roots without
/// `sslrootcert`); `disable` never encrypts (`allow` is read as `prefer`).
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
    /// Whether and how connections are encrypted (`sslmode`).
    public var tls: TLSMode
    /// The PEM file of the roots a server's certificate must come from (`sslrootcert`), for `verify-ca` and
    /// `verify-full`; `nil` for the system's.
    public var rootCertificates: String?

    /// libpq's `sslmode`, as far as a node connects.
    public enum TLSMode: String, Sendable, Hashable {
        case disable
        case prefer
        case require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    /// Why a URL is not a PostgreSQL address.
    public struct Malformed: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    static let defaultSettings = ["lock_timeout": "5000ms", "statement_timeout": "30000ms", "idle_in_transaction_session_timeout": "15000ms"]

    /// The longest `connect_timeout`, in seconds: a day.
    static let longestConnectTimeout = 86_400.0

    /// A duration setting read as PostgreSQL reads one of milliseconds: a number (a fraction allowed), optionally
    /// followed by a unit; `nil` for anything else. In whole milliseconds, rounded as PostgreSQL rounds.
    static func milliseconds(_ value: String) -> Double? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        let number = trimmed.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
        guard !number.isEmpty, number.filter({ $0 == "." }).count <= 1, number != ".", let amount = Double(number) else { return nil }
        let unit = trimmed.dropFirst(number.count).trimmingCharacters(in: .whitespaces)
        let scale: Double
        switch unit {
        case "": scale = 1
        case "us": scale = 0.001
        case "ms": scale = 1
        case "s": scale = 1_000
        case "min": scale = 60_000
        case "h": scale = 3_600_000
        case "d": scale = 86_400_000
        default: return nil
        }
        let total = (amount * scale).rounded(.toNearestOrEven)
        return total.isFinite ? total : nil
    }

    /// The seconds a duration setting holds (its default when unset).
    public func seconds(of setting: String) -> Double {
        let value = settings[setting] ?? Self.defaultSettings[setting] ?? "30000ms"
        return (Self.milliseconds(value) ?? 30_000) / 1_000
    }

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
        // A part's percent-encoding decoded: malformed (`%zz`) or holding a NUL, which PostgreSQL's startup message
        // cannot carry, the URL is refused, naming the part.
        func decoded(_ part: some StringProtocol, _ what: String) throws -> String {
            guard let text = String(part).removingPercentEncoding else { throw fail("a malformed percent-encoding in the \(what)") }
            guard !text.contains("\u{0}") else { throw fail("a NUL character (%00) in the \(what)") }
            return text
        }
        let userParts = credentials.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        let user = try decoded(userParts.first ?? "", "user")
        guard !user.isEmpty else { throw fail("no user") }
        self.user = user
        password = userParts.count > 1 ? try decoded(userParts[1], "password") : nil
        let name = try decoded(database, "database name")
        guard !name.isEmpty else { throw fail("no database") }
        self.database = name
        guard !hostList.isEmpty else { throw fail("no host") }
        endpoints = try hostList.split(separator: ",", omittingEmptySubsequences: false).map { item -> Endpoint in
            guard !item.isEmpty else { throw fail("an empty host in the list \"\(hostList)\"") }
            // `[v6 address]:port`, or `name:port`.
            let host: Substring
            let port: Substring?
            if item.hasPrefix("[") {
                guard let close = item.firstIndex(of: "]") else { throw fail("a malformed host \"\(item)\"") }
                host = item[item.index(after: item.startIndex)..<close]
                let after = item[item.index(after: close)...]
                guard after.isEmpty || after.hasPrefix(":") else { throw fail("a malformed host \"\(item)\"") }
                port = after.isEmpty ? nil : after.dropFirst()
                guard !host.isEmpty, host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else {
                    throw fail("a malformed host \"\(item)\"")
                }
            } else {
                let parts = item.split(separator: ":", omittingEmptySubsequences: false)
                guard let first = parts.first, !first.isEmpty, parts.count <= 2 else {
                    throw fail("a malformed host \"\(item)\" (an IPv6 address goes in brackets: [::1]:5432)")
                }
                host = first
                port = parts.count == 2 ? parts[1] : nil
            }
            guard port.map({ $0.allSatisfy { $0.isASCII && $0.isNumber } && Int($0).map { (1...65535).contains($0) } == true }) ?? true else {
                throw fail("a malformed port in \"\(item)\"")
            }
            return Endpoint(host: String(host), port: port.map { Int($0)! } ?? 5432)
        }
        settings = Self.defaultSettings
        connectTimeout = 5
        tls = .prefer
        rootCertificates = nil
        for pair in query.split(separator: "&") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let name = String(parts[0]).removingPercentEncoding,
                let value = String(parts[1]).removingPercentEncoding, !name.contains("\u{0}"), !value.contains("\u{0}")
            else {
                throw fail("a malformed option \"\(pair)\"")
            }
            switch name {
            case "connect_timeout":
                guard value.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }), let seconds = Double(value), seconds.isFinite, seconds >= 0.001, seconds <= Self.longestConnectTimeout else {
                    throw fail("connect_timeout must be a number of seconds, from 0.001 to \(Int(Self.longestConnectTimeout)), not \"\(value)\"")
                }
                connectTimeout = seconds
            case "lock_timeout", "statement_timeout", "idle_in_transaction_session_timeout":
                guard let milliseconds = Self.milliseconds(value) else {
                    throw fail("\(name) must read like 5s, 500ms or 2min (a bare number is milliseconds), not \"\(value)\"")
                }
                guard milliseconds >= 1, milliseconds <= Double(Int32.max) else {
                    throw fail("\(name) must be at least 1ms and at most \(Int32.max)ms (about 24 days), not \"\(value)\"")
                }
                settings[name] = "\(Int(milliseconds))ms"
            case "sslmode":
                guard let mode = value == "allow" ? .prefer : TLSMode(rawValue: value) else {
                    throw fail("sslmode must be disable, allow, prefer, require, verify-ca or verify-full, not \"\(value)\"")
                }
                tls = mode
            case "sslrootcert":
                guard !value.isEmpty else { throw fail("sslrootcert must name a PEM file") }
                rootCertificates = value
            case "application_name":
                continue
            default:
                throw fail("an unknown option \"\(name)\"")
            }
        }
        // Without roots of its own, verify-ca would take any certificate any public authority signed, for any name.
        if tls == .verifyCA, rootCertificates == nil {
            throw fail("sslmode=verify-ca needs sslrootcert, the PEM file of the roots the server's certificate must come from")
        }
        // A regular file only: opening a FIFO would wait for a writer for good, and a directory holds no roots.
        if let roots = rootCertificates {
            var info = stat()
            guard stat(roots, &info) == 0, info.st_mode & S_IFMT == S_IFREG, FileManager.default.isReadableFile(atPath: roots) else {
                throw fail("sslrootcert names \(roots), which is not a file that can be read")
            }
        }
        // The host name is what the certificate must name; postgres-nio sends none for an address.
        if tls == .verifyFull, let address = endpoints.first(where: { Self.isAddress($0.host) }) {
            throw fail("sslmode=verify-full checks the host's name in its certificate: name the host, not its address \(address.host)")
        }
    }

    /// Whether `host` is an IP address rather than a name.
    static func isAddress(_ host: String) -> Bool {
        host.contains(":") || (host.split(separator: ".").count == 4 && host.allSatisfy { $0.isNumber || $0 == "." })
    }

    /// The URL without the password.
    public var description: String {
        "postgres://\(user)@\(endpoints.map { "\($0.host.contains(":") ? "[\($0.host)]" : $0.host):\($0.port)" }.joined(separator: ","))/\(database)"
    }
}
