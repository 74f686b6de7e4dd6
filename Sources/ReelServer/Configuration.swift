import Foundation

/// How `reel serve` runs: where it listens, who may call it, and the limits that keep one client from taking the
/// service down.
public struct ServerConfiguration: Sendable {
    /// The address to bind (default 127.0.0.1). Without a token file only a loopback address is allowed.
    public var host = "127.0.0.1"
    /// The port (default 8080); 0 takes a free one.
    public var port = 8080
    /// The tokens and their scopes (``Tokens``); nil leaves every route open.
    public var tokens: Tokens?
    /// The largest request body, in bytes (`413` beyond it).
    public var bodyLimit = 16 << 20
    /// The longest NDJSON line of a body, in bytes (the line is rejected, `400` for a one-line body).
    public var lineLimit = 1 << 20
    /// The longest a request may take to arrive and be answered (subscriptions excepted), in seconds.
    public var requestTimeout = 30.0
    /// The most subscriptions at once (`503` beyond it).
    public var maxSubscribers = 256
    /// The most connections at once: further ones wait in the listen backlog.
    public var maxConnections = 1_024
    /// Events a subscription keeps ready for its client, at most. A client that has not taken any of them for
    /// ``slowSubscriberTimeout`` seconds is disconnected with a reason, rather than buffered without bound.
    public var subscriberBuffer = 4_096
    public var slowSubscriberTimeout = 10.0
    /// Seconds between heartbeats (an SSE comment) on an idle subscription.
    public var heartbeat = 15.0
    /// A connection idle this long is closed, in seconds.
    public var idleTimeout = 60.0
    /// One JSON object per log line instead of text.
    public var jsonLogs = false
    /// A certificate chain and private key (PEM) to serve HTTPS.
    public var tls: (certificate: String, key: String)?

    public init() {}

    /// Whether `host` names the loopback interface (127.0.0.0/8, ::1, localhost).
    public static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host == "::1" || host == "[::1]" { return true }
        let parts = host.split(separator: ".")
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }
}

/// The tokens a service accepts, each with its scopes, read from a file of lines `TOKEN SCOPE[,SCOPE…]` (blank lines
/// and lines starting with `#` ignored). Scopes: `read`, `append`, `admin`; `admin` includes the others.
public struct Tokens: Sendable {
    public enum Scope: String, Sendable, CaseIterable {
        case read, append, admin
    }

    private let entries: [(token: [UInt8], scopes: Set<Scope>)]

    /// Parses a token file's text.
    ///
    /// - Throws: ``ServerError/configuration(_:)`` naming the line of a malformed entry.
    public init(parsing text: String) throws {
        var entries: [(token: [UInt8], scopes: Set<Scope>)] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count == 2 else {
                throw ServerError.configuration("token file line \(index + 1): expected `TOKEN SCOPES` (scopes: read, append, admin, comma-separated)")
            }
            var scopes = Set<Scope>()
            for name in fields[1].split(separator: ",") {
                guard let scope = Scope(rawValue: String(name)) else {
                    throw ServerError.configuration("token file line \(index + 1): unknown scope \"\(name)\" (read, append or admin)")
                }
                scopes.insert(scope)
            }
            guard fields[0].utf8.count >= 16 else {
                throw ServerError.configuration("token file line \(index + 1): a token of at least 16 characters")
            }
            if scopes.contains(.admin) { scopes.formUnion(Scope.allCases) }
            entries.append((Array(fields[0].utf8), scopes))
        }
        guard !entries.isEmpty else { throw ServerError.configuration("the token file holds no token") }
        self.entries = entries
    }

    /// Reads a token file.
    public init(file: String) throws {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ServerError.configuration("cannot read the token file \(file)")
        }
        try self.init(parsing: String(decoding: data, as: UTF8.self))
    }

    /// The scopes of `token`, or nil when it is not one of them. Compares every byte of every entry whatever matches,
    /// so that the time taken says nothing about a token.
    public func scopes(of token: some Collection<UInt8>) -> Set<Scope>? {
        var found: Set<Scope>?
        let given = Array(token)
        for entry in entries {
            var difference = UInt(bitPattern: entry.token.count ^ given.count)
            for index in 0..<entry.token.count {
                difference |= UInt(entry.token[index] ^ (index < given.count ? given[index] : 0))
            }
            if difference == 0 { found = entry.scopes }
        }
        return found
    }
}

/// Why a service cannot start.
public enum ServerError: Error, Sendable, CustomStringConvertible {
    case configuration(String)

    public var description: String {
        switch self {
        case let .configuration(message): message
        }
    }
}
