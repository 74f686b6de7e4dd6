import EventStore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import MediaPipeline
import NIOCore
import NIOSSL
import ServiceLifecycle

/// The store as an HTTP service (`reel serve`): NDJSON appends, reads, queries, Server-Sent Events, stats, audits,
/// health, metrics and an OpenAPI document, for clients in any language.
///
/// One process owns the store: every request shares its group-commit writer (concurrent appends share commits) and its
/// read transactions (queries answer from the projections in microseconds). SIGTERM or SIGINT shut it down gracefully:
/// the subscriptions end, the server stops accepting connections and finishes the requests in flight — every append it
/// acknowledged is durable — and the store is closed.
public final class ReelServer: Sendable {
    public let media: MediaStore
    public let configuration: ServerConfiguration
    let logger: Logger

    /// A service over `media`, which it closes when it stops.
    public init(media: MediaStore, configuration: ServerConfiguration, logger: Logger) throws {
        if configuration.tokens == nil, !ServerConfiguration.isLoopback(configuration.host) {
            throw ServerError.configuration(
                "without a token file the service binds only a loopback address (127.0.0.1, ::1, localhost), not \(configuration.host): give --token-file")
        }
        self.media = media
        self.configuration = configuration
        self.logger = logger
    }

    /// Opens a store for a service: the options it needs (its writer reports to the service's metrics).
    public static func storeOptions(_ options: StoreOptions = StoreOptions()) -> StoreOptions {
        var options = options
        options.commitObserver = ServerMetrics.commitObserver
        return options
    }

    /// Runs until SIGTERM or SIGINT (or the task is cancelled), then shuts down as described above. `onListening` is
    /// called once with the URL the service answers on (`http://127.0.0.1:PORT`), when it is ready.
    public func run(onListening: @escaping @Sendable (String) -> Void) async throws {
        let metrics = ServerMetrics()
        let subscribers = Subscribers(limit: configuration.maxSubscribers)
        // HEAD on every GET route: its status and headers, without the body (RFC 9110).
        let router = Router(context: ReelRequestContext.self, options: .autoGenerateHeadEndpoints)
        router.add(middleware: ObservationMiddleware(logger: logger))
        router.add(middleware: AuthenticationMiddleware(tokens: configuration.tokens))
        router.add(middleware: MethodNotAllowedMiddleware())
        EventRoutes(media: media, configuration: configuration).add(to: router)
        ReadRoutes(media: media).add(to: router)
        SubscribeRoute(media: media, configuration: configuration, subscribers: subscribers, logger: logger).add(to: router)
        router.get("/metrics") { _, context in
            try context.require(.read)
            return Response.bytes(metrics.text(), contentType: "text/plain; version=0.0.4")
        }
        router.get("/openapi.json") { _, _ in Response.bytes(OpenAPI.document.utf8, contentType: "application/json") }

        // A connection on which nothing arrives for the request timeout is closed: a body that stops half-way, or a client
        // that holds an idle connection, never holds it longer.
        let idle = TimeAmount.milliseconds(Int64(min(configuration.idleTimeout, configuration.requestTimeout) * 1_000))
        let http1 = HTTPServerBuilder.http1(configuration: .init(idleTimeout: idle))
        let server: HTTPServerBuilder
        if let tls = configuration.tls {
            let chain = try NIOSSLCertificate.fromPEMFile(tls.certificate).map { NIOSSLCertificateSource.certificate($0) }
            let key = try NIOSSLPrivateKey(file: tls.key, format: .pem)
            server = try .tls(http1, tlsConfiguration: .makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key)))
        } else {
            server = http1
        }
        let scheme = configuration.tls == nil ? "http" : "https"
        let host = configuration.host
        let application = Application(
            router: router, server: server,
            configuration: .init(
                address: .hostname(host, port: configuration.port), serverName: "reel", backlog: 1_024, reuseAddress: true,
                availableConnectionsDelegate: MaximumAvailableConnections(configuration.maxConnections)),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                let shown = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
                onListening("\(scheme)://\(shown):\(port)")
            },
            logger: logger
        )
        // Shut down in the reverse of this order: the subscriptions end first, so that the server, next, can finish the
        // requests in flight; the store closes last, once every acknowledged append is in it.
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: StoreService(media: media, logger: logger)),
                    .init(service: application),
                    .init(service: SubscriptionsService(subscribers: subscribers)),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            ))
        try await group.run()
    }
}

/// Closes the store when the service shuts down (after the server has finished its requests).
struct StoreService: Service {
    let media: MediaStore
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        do {
            try media.close()
            logger.info("store closed")
        } catch {
            logger.error("closing the store failed", metadata: ["error": "\(error)"])
            throw error
        }
    }
}

/// Ends every subscription when the service shuts down.
struct SubscriptionsService: Service {
    let subscribers: Subscribers

    func run() async throws {
        try? await gracefulShutdown()
        subscribers.shutdown.raise()
    }
}
