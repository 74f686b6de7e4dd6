import ArgumentParser
import EventStore
import Foundation
import Logging
import MediaPipeline
import ReelServer

/// `reel serve [--host H] [--port P] [--token-file F] …` — the store as an HTTP service (`Sources/ReelServer`).
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the store over HTTP: appends, reads, queries, live subscriptions, stats, audits, metrics.",
        discussion: """
            Prints {"listening":"http://HOST:PORT"} on stdout once it is ready, and logs to stderr.
            Routes: POST/GET /v1/events, GET /v1/queries/NAME, GET /v1/subscribe (Server-Sent
            Events), GET /v1/stats, /v1/audit/verify, /v1/audit/history, /health, /metrics,
            /openapi.json (the OpenAPI document of them all).

            A token file holds one token per line with its scopes: `TOKEN read,append`
            (scopes read, append, admin; admin includes the others). Without one every route
            is open, and only a loopback address may be bound. SIGTERM or SIGINT stop it
            gracefully: subscriptions end, the requests in flight finish (every append it
            acknowledged is durable), the store is closed, exit 0.
            """
    )

    @OptionGroup var location: StoreLocation
    @Option(help: "The address to bind.") var host = "127.0.0.1"
    @Option(help: "The port; 0 takes a free one.") var port = 8080
    @Option(help: "A file of tokens and their scopes.") var tokenFile: String?
    @Option(help: "The largest request body, in bytes.") var bodyLimit = 16 << 20
    @Option(help: "The longest input line of a body, in bytes.") var lineLimit = 1 << 20
    @Option(help: "Seconds a request body may take to arrive.") var requestTimeout = 30.0
    @Option(help: "The most subscriptions at once.") var maxSubscribers = 256
    @Option(help: "The most connections at once.") var maxConnections = 1_024
    @Option(help: "Events a subscription keeps ready for its client, at most.") var subscriberBuffer = 4_096
    @Option(help: "Seconds a subscriber may take nothing before it is disconnected.") var slowSubscriberTimeout = 10.0
    @Option(help: "Seconds between heartbeats on an idle subscription.") var heartbeat = 15.0
    @Option(help: "Log lines as text or json (one JSON object per line).") var logFormat = "text"
    @Option(help: "The least level logged: trace, debug, info (a line per request), notice, warning, error.") var logLevel = "info"
    @Option(help: "A PEM certificate chain, to serve HTTPS (with --tls-key).") var tlsCertificate: String?
    @Option(help: "The PEM private key of --tls-certificate.") var tlsKey: String?

    func validate() throws {
        guard (0...65_535).contains(port) else { throw ValidationError("--port \(port) is not a port (0–65535)") }
        guard ["text", "json"].contains(logFormat) else { throw ValidationError("--log-format \(logFormat) is not text or json") }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level \(logLevel) is not one of trace, debug, info, notice, warning, error, critical")
        }
        for (name, value) in [("--body-limit", bodyLimit), ("--line-limit", lineLimit), ("--max-subscribers", maxSubscribers), ("--max-connections", maxConnections), ("--subscriber-buffer", subscriberBuffer)]
        where value < 1 {
            throw ValidationError("\(name) \(value) must be at least 1")
        }
        for (name, value) in [("--request-timeout", requestTimeout), ("--slow-subscriber-timeout", slowSubscriberTimeout), ("--heartbeat", heartbeat)]
        where !(value > 0 && value <= 86_400) {
            throw ValidationError("\(name) \(value) must be above 0 and at most 86400 (a day)")
        }
        guard (tlsCertificate == nil) == (tlsKey == nil) else { throw ValidationError("give --tls-certificate and --tls-key together") }
    }

    func run() async throws {
        var configuration = ServerConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.bodyLimit = bodyLimit
        configuration.lineLimit = lineLimit
        configuration.requestTimeout = requestTimeout
        configuration.maxSubscribers = maxSubscribers
        configuration.maxConnections = maxConnections
        configuration.slowSubscriberTimeout = slowSubscriberTimeout
        configuration.subscriberBuffer = subscriberBuffer
        configuration.heartbeat = heartbeat
        configuration.jsonLogs = logFormat == "json"
        if let tlsCertificate, let tlsKey { configuration.tls = (tlsCertificate, tlsKey) }
        do {
            configuration.tokens = try tokenFile.map { try Tokens(file: $0) }
        } catch {
            throw ValidationError("\(error)")
        }
        let json = configuration.jsonLogs
        LoggingSystem.bootstrap { label in
            json ? JSONLogHandler(label: label) as any LogHandler : StreamLogHandler.standardError(label: label)
        }
        var logger = Logger(label: "reel.serve")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        var options = ReelServer.storeOptions()
        let repairLogger = logger
        options.replicaRepaired = { message in repairLogger.warning("\(message)") }
        let media = try openStore(location, readOnly: false, base: options)
        let server: ReelServer
        do {
            server = try ReelServer(media: media, configuration: configuration, logger: logger)
        } catch {
            try? media.close()
            throw ValidationError("\(error)")
        }
        do {
            try await server.run { url in
                var line = JSONObject()
                line.set("listening", .string(url))
                printJSON(.object(line))
            }
        } catch {
            try? media.close()
            warn("reel: the service stopped: \(error)")
            throw Exit.cannotOpen
        }
    }
}

/// One JSON object per log line on standard error: time, level, label, message, then the metadata. swift-log has no
/// such handler of its own.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let (level, message, explicit) = (event.level, event.message, event.metadata)
        var object = JSONObject()
        object.set("time", .string(Timestamp.iso8601(Int64((Date().timeIntervalSince1970 * 1_000).rounded(.down)))))
        object.set("level", .string(level.rawValue))
        object.set("label", .string(label))
        object.set("message", .string(message.description))
        for (key, value) in metadata.merging(explicit ?? [:], uniquingKeysWith: { $1 }).sorted(by: { $0.key < $1.key }) {
            object.set(key, .string(value.description))
        }
        if let error = event.error { object.set("error", .string("\(error)")) }
        var bytes = [UInt8](JSONValue.object(object).jsonData)
        bytes.append(0x0A)
        _ = writeFully(2, bytes)
    }
}
