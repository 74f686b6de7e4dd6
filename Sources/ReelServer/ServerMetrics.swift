import CoreMetrics
import EventStore
import Foundation
import Metrics
import Prometheus

/// The service's metrics, in Prometheus's text format at `GET /metrics` (swift-metrics, swift-prometheus): appends and
/// rejections by reason (`reel_appends_total`, `reel_rejections_total`), group-commit sizes and latency
/// (`reel_group_commit_events`, `reel_commit_duration_seconds`), the writer's queue (`reel_writer_queue_depth`),
/// subscribers (`reel_subscribers`), and HTTP requests by route and status with their latency
/// (`reel_http_requests_total`, `reel_http_request_duration_seconds`).
///
/// swift-metrics has one factory per process: the first ``ServerMetrics`` bootstraps it, later ones share its registry.
final class ServerMetrics: Sendable {
    let registry: PrometheusCollectorRegistry

    private static let shared: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
            .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
            .seconds(5),
        ]
        factory.valueHistogramBuckets["reel_group_commit_events"] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 1_024, 4_096, 16_384, 65_536]
        // swift-metrics takes one factory per process, and traps on a second: a program that set its own keeps it (its
        // metrics go where it sends them; this registry, and `/metrics`, then hold nothing).
        if MetricsSystem.factory is NOOPMetricsHandler { MetricsSystem.bootstrap(factory) }
        return registry
    }()

    init() { registry = Self.shared }

    /// What the store's writer reports after each group commit (``StoreOptions/commitObserver``).
    static let commitObserver: @Sendable (CommitReport) -> Void = { report in
        _ = ServerMetrics.shared
        Recorder(label: "reel_group_commit_events", aggregate: true).record(report.events)
        Timer(label: "reel_commit_duration_seconds").recordNanoseconds(Int64(report.seconds * 1e9))
        Gauge(label: "reel_writer_queue_depth").record(report.queued)
    }

    /// The metrics, in Prometheus's text format.
    func text() -> [UInt8] { registry.emitToBuffer() }
}
