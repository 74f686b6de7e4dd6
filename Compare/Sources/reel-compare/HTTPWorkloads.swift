// W7, HTTP append: 64 keep-alive connections, each request one durable `scene_image.saved`, against `reel serve`, the
// same route on PostgreSQL (pg-append-service) and the library alone (64 tasks calling `MediaStore.append`).
// W8, fan-out: 100 Server-Sent Events subscribers of `reel serve` receive a paced load of appends.

import EventStore
import Foundation
import MediaPipeline
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// Image g of a load: project g mod the projects' count, then scene and image index from the rest (4 images a scene),
/// so that every request saves a distinct (project, scene, image index).
struct ImagePlan: Sendable {
    let projects: [UUID]
    private let texts: [String]

    init(projects: [UUID]) {
        self.projects = projects
        texts = projects.map(\.text)
    }

    func image(_ g: Int) -> (project: UUID, scene: Int, index: Int, url: String) {
        let slot = g / projects.count
        let text = texts[g % projects.count]
        return (projects[g % projects.count], slot / 4, slot % 4, "https://cdn/http/\(text)/\(slot / 4)/\(slot % 4).png")
    }

    /// The input line of image g, as `reel append` and `POST /v1/events` take it.
    func line(_ g: Int) -> String {
        let slot = g / projects.count
        let text = texts[g % projects.count]
        return "{\"type\":\"scene_image.saved\",\"data\":{\"project_id\":\"\(text)\",\"scene_index\":\(slot / 4),\"image_index\":\(slot % 4),\"image_url\":\"https://cdn/http/\(text)/\(slot / 4)/\(slot % 4).png\"}}\n"
    }

    static func projectLines(_ projects: [UUID]) -> String {
        projects.map { "{\"type\":\"project.created\",\"data\":{\"project_id\":\"\($0.text)\",\"title\":\"HTTP\"}}\n" }.joined()
    }
}

struct HTTPAppendResult {
    var seconds: Double
    var acknowledged: Int
    var failures: Int
    var firstFailure: String?
    var found: Int
    /// Milliseconds.
    var p50: Double
    var p99: Double
    /// CPU seconds during the timed run: this process (the load generator; for the library, the library's work too),
    /// the service's process, PostgreSQL's processes.
    var clientCPU: Double
    var serviceCPU: Double?
    var databaseCPU: Double?
    /// Reel: the group commits of the timed run and their seconds together (transaction start to synced commit).
    /// PostgreSQL: the WAL syncs (`pg_stat_wal`: count, seconds) over the service's whole run, and the lines it saved
    /// (each its own commit) in that time.
    var commits: Int?
    var commitSeconds: Double?
    var walSyncs: Int?
    var walSyncSeconds: Double?
    var serviceSaves: Int?
    var lost: Int { acknowledged - found }
    var rate: Double { Double(acknowledged) / seconds }
    /// CPU milliseconds per request.
    func perRequest(_ seconds: Double?) -> Double? { seconds.map { $0 * 1_000 / Double(max(1, acknowledged + failures)) } }
}

struct FanOutResult {
    var subscribers: Int
    var events: Int
    var rate: Double
    /// Subscribers that received every event of the load.
    var complete: Int
    var firstEnding: String?
    var appended: Int
    var appendFailures: Int
    var firstFailure: String?
    /// From the first scheduled append to the last acknowledgement.
    var appendSeconds: Double
    /// How late the latest append was sent against its schedule, ms.
    var worstStartDelay: Double
    /// Events delivered to all subscribers together, and the seconds from the first scheduled append to the last delivery.
    var delivered: Int
    var deliverySeconds: Double
    var bytesPerEvent: Double
    /// The slowest subscriber's lag per event (its delivery to the last subscriber to get it − its acknowledgement), ms.
    var lagP50: Double
    var lagP99: Double
    var lagMax: Double
    /// Events delivered to a subscriber before their appender had its answer (lag counted as 0).
    var beforeAcknowledgement: Int
    var clientCPU: Double
    var serviceCPU: Double
    var deliveredRate: Double { Double(delivered) / deliverySeconds }
}

enum HTTPWorkloads {
    static let connections = 64
    static let projectCount = 8
    /// Seconds of load before each timed run, into a project of its own (not counted).
    static let warmup = 1.0
    /// W8's appenders: at 2,000 a second each connection sends one every 128 ms.
    static let appendConnections = 256

    private static func freshDirectory(_ path: String) throws {
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    private static func percentiles(_ latencies: [Double]) -> (Double, Double) {
        guard !latencies.isEmpty else { return (.nan, .nan) }
        let sorted = latencies.sorted()
        return (percentile(sorted, 0.5) / 1_000, percentile(sorted, 0.99) / 1_000)
    }

    /// Creates the projects through the service (one request, one line each), then runs the warm-up and the timed load.
    private static func load(
        port: Int, servicePID: Int32, plan: ImagePlan, warmup: ImagePlan, seconds: Double,
        databaseCPU: (() -> Double)? = nil, commits: (() async throws -> (Int, Double))? = nil
    ) async throws -> HTTPAppendResult {
        let (status, answer) = try await HTTPOnce.post(port: port, path: "/v1/events", body: ImagePlan.projectLines(plan.projects + warmup.projects))
        guard status == 200, HTTPOnce.number("appended", in: answer) == UInt64(plan.projects.count + warmup.projects.count) else {
            throw Failure(description: "creating the projects through the service: \(status) \(answer)")
        }
        let warmupLine: @Sendable (Int) -> String = { warmup.line($0) }
        let (warm, _) = try await HTTPLoad.run(port: port, connections: connections, seconds: min(Self.warmup, seconds), body: warmupLine)
        settleDisk()
        let commitsBefore = try await commits?()
        let before = (ownCPU(), processCPU(servicePID), databaseCPU?())
        let line: @Sendable (Int) -> String = { plan.line($0) }
        let (record, elapsed) = try await HTTPLoad.run(port: port, connections: connections, seconds: seconds, body: line)
        let after = (ownCPU(), processCPU(servicePID), databaseCPU?())
        let commitsAfter = try await commits?()
        let (p50, p99) = percentiles(record.latencies)
        var result = HTTPAppendResult(
            seconds: elapsed, acknowledged: record.acknowledged, failures: record.failures, firstFailure: record.firstFailure, found: 0,
            p50: p50, p99: p99, clientCPU: after.0 - before.0, serviceCPU: after.1 - before.1)
        if let a = after.2, let b = before.2 { result.databaseCPU = a - b }
        if let commitsBefore, let commitsAfter {
            result.commits = commitsAfter.0 - commitsBefore.0
            result.commitSeconds = commitsAfter.1 - commitsBefore.1
        }
        // Every line the service saved: the projects', the warm-up's and the timed ones.
        result.serviceSaves = plan.projects.count + warmup.projects.count + warm.acknowledged + warm.failures + record.acknowledged + record.failures
        return result
    }

    /// `reel serve`'s group commits so far and their seconds together, from its metrics.
    private static func serveCommits(port: Int) async throws -> (Int, Double) {
        let (status, text) = try await HTTPOnce.get(port: port, path: "/metrics")
        guard status == 200, let count = HTTPOnce.metric("reel_group_commit_events_count", in: text),
            let seconds = HTTPOnce.metric("reel_commit_duration_seconds_sum", in: text)
        else { throw Failure(description: "reel serve's /metrics has no group-commit figures (status \(status))") }
        return (Int(count), seconds)
    }

    // MARK: W7 (a): reel serve

    /// `reel serve` on a fresh store and a free loopback port; afterwards, stopped (SIGTERM) and the images counted in
    /// its store by `imagesByScene`.
    static func reelServe(binary: String, work: String, seconds: Double) async throws -> HTTPAppendResult {
        let path = work + "/w7-reel-serve"
        try freshDirectory(path)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let service = try ServiceProcess("reel serve", executable: binary, arguments: ["serve", "--store", path, "--port", "0"], pidFile: work + "/children")
        let plan = ImagePlan(projects: (0..<projectCount).map { _ in UUID() })
        var result: HTTPAppendResult
        do {
            let port = service.port
            result = try await load(
                port: port, servicePID: service.pid, plan: plan, warmup: ImagePlan(projects: [UUID()]), seconds: seconds,
                commits: { try await serveCommits(port: port) })
        } catch {
            service.stop()
            throw error
        }
        let status = service.stop()
        guard status == 0 else { throw Failure(description: "reel serve exited with status \(status)") }
        let media = try retryingBusy { try MediaStore.open(at: path) }
        result.found = try plan.projects.reduce(0) { sum, project in
            sum + (try media.imagesByScene(project: project).scenes.reduce(0) { $0 + $1.imageURLs.count })
        }
        try media.close()
        return result
    }

    // MARK: W7 (b): the same route on PostgreSQL

    /// pg-append-service with a pool of `pool` connections, on the projects design's tables in a fresh schema `w7`;
    /// afterwards, stopped (SIGTERM) and the rows counted by a SELECT.
    static func postgres(binary: String, work: String, admin: PG, conninfo: String, pool: Int, seconds: Double) async throws -> HTTPAppendResult {
        try admin.exec("DROP SCHEMA IF EXISTS w7 CASCADE; CREATE SCHEMA w7;\n" + projectsDesignTables(schema: "w7"))
        defer { try? admin.exec("DROP SCHEMA IF EXISTS w7 CASCADE") }
        var settings: [String: String] = [:]
        for pair in conninfo.split(separator: " ") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { settings[String(parts[0])] = String(parts[1]) }
        }
        let service = try ServiceProcess(
            "pg-append-service", executable: binary,
            arguments: [
                "--pg-host", settings["host"] ?? "127.0.0.1", "--pg-port", settings["port"] ?? "5432", "--pg-user", settings["user"] ?? "postgres",
                "--pg-database", settings["dbname"] ?? "postgres", "--schema", "w7", "--pool", String(pool), "--port", "0",
            ],
            pidFile: work + "/children")
        let plan = ImagePlan(projects: (0..<projectCount).map { _ in UUID() })
        let wal = try admin.rows("SELECT wal_sync, wal_sync_time FROM pg_stat_wal")[0]
        var result: HTTPAppendResult
        do {
            let postmaster = postmasterPID(work)
            result = try await load(
                port: service.port, servicePID: service.pid, plan: plan, warmup: ImagePlan(projects: [UUID()]), seconds: seconds,
                databaseCPU: { postgresCPU(postmaster: postmaster) })
        } catch {
            service.stop()
            throw error
        }
        let status = service.stop()
        guard status == 0 else { throw Failure(description: "pg-append-service exited with status \(status)") }
        // The backends report their WAL figures as they exit; the WAL writer's within a second or so.
        try admin.exec("SELECT pg_sleep(1.5)")
        let walAfter = try admin.rows("SELECT wal_sync, wal_sync_time FROM pg_stat_wal")[0]
        if let a = walAfter[0].flatMap({ Int($0) }), let b = wal[0].flatMap({ Int($0) }) { result.walSyncs = a - b }
        if let a = walAfter[1].flatMap({ Double($0) }), let b = wal[1].flatMap({ Double($0) }) { result.walSyncSeconds = (a - b) / 1_000 }
        let list = plan.projects.map { "'\($0.text)'" }.joined(separator: ",")
        result.found = Int(try admin.rows("SELECT count(*) FROM w7.generated_images WHERE content_creation_request_id IN (\(list))")[0][0]!)!
        return result
    }

    /// The projects design's two tables (`Schema.postgres`'s content schema) in `schema`.
    static func projectsDesignTables(schema: String) -> String {
        let ddl = Schema.postgres
        guard let start = ddl.range(of: "CREATE TABLE content.content_creation_requests") else { fatalError("the projects design's DDL moved") }
        return String(ddl[start.lowerBound...]).replacingOccurrences(of: "content.", with: "\(schema).")
    }

    /// The cluster's postmaster, from `postmaster.pid` in the data directory tools/compare makes in the work directory.
    static func postmasterPID(_ work: String) -> Int32? {
        guard let text = try? String(contentsOfFile: work + "/pgdata/postmaster.pid", encoding: .utf8) else { return nil }
        return text.split(separator: "\n").first.flatMap { Int32($0.trimmingCharacters(in: .whitespaces)) }
    }

    // MARK: W7 (c): the library alone

    /// 64 tasks calling `MediaStore.append` on a fresh store in this process, each one image after another.
    static func library(work: String, seconds: Double) async throws -> HTTPAppendResult {
        let path = work + "/w7-library"
        try freshDirectory(path)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let observed = Mutex<(commits: Int, seconds: Double)>((0, 0))
        var options = StoreOptions()
        options.commitObserver = { report in observed.withLock { $0.commits += 1; $0.seconds += report.seconds } }
        let media = try MediaStore.open(at: path, options: options)
        let plan = ImagePlan(projects: (0..<projectCount).map { _ in UUID() })
        let warmupPlan = ImagePlan(projects: [UUID()])
        for project in plan.projects + warmupPlan.projects {
            try await media.append(.projectCreated(ProjectCreated(projectID: project, title: "HTTP")))
        }
        func run(_ plan: ImagePlan, _ seconds: Double) async throws -> (latencies: [Double], acknowledged: Int, last: UInt64, start: UInt64) {
            let start = nanos()
            let deadline = start + UInt64(seconds * 1e9)
            return try await withThrowingTaskGroup(of: ([Double], UInt64).self) { group in
                for w in 0..<connections {
                    group.addTask {
                        var latencies: [Double] = []
                        var last: UInt64 = 0
                        var k = 0
                        while nanos() < deadline {
                            let image = plan.image(w + connections * k)
                            k += 1
                            let sent = nanos()
                            try await media.append(.sceneImageSaved(SceneImageSaved(
                                projectID: image.project, sceneIndex: image.scene, imageIndex: image.index, imageURL: image.url)))
                            last = nanos()
                            latencies.append(Double(last - sent) / 1_000)
                        }
                        return (latencies, last)
                    }
                }
                var all: [Double] = []
                var last: UInt64 = 0
                for try await (latencies, end) in group {
                    all += latencies
                    last = max(last, end)
                }
                return (all, all.count, last, start)
            }
        }
        _ = try await run(warmupPlan, min(warmup, seconds))
        settleDisk()
        let cpu = ownCPU()
        let commitsBefore = observed.withLock { $0 }
        let timed = try await run(plan, seconds)
        let clientCPU = ownCPU() - cpu
        let commitsAfter = observed.withLock { $0 }
        let (p50, p99) = percentiles(timed.latencies)
        var result = HTTPAppendResult(
            seconds: Double(max(timed.last, timed.start + 1) - timed.start) / 1e9, acknowledged: timed.acknowledged, failures: 0, found: 0,
            p50: p50, p99: p99, clientCPU: clientCPU)
        result.commits = commitsAfter.commits - commitsBefore.commits
        result.commitSeconds = commitsAfter.seconds - commitsBefore.seconds
        result.found = try plan.projects.reduce(0) { sum, project in
            sum + (try media.imagesByScene(project: project).scenes.reduce(0) { $0 + $1.imageURLs.count })
        }
        try media.close()
        return result
    }

    // MARK: W8: fan-out

    /// `reel serve` on a fresh store; `subscribers` subscriptions from the store's last event, then `events` appends
    /// (`scene_image.saved`, one a request) at `rate` a second over `appendConnections` connections, each sent at its
    /// time (or as soon as its connection's previous answer is in, if that is later). Every subscriber closes once it
    /// has every event; those still open 60 s after the last append are counted incomplete.
    static func fanOut(binary: String, work: String, subscribers: Int, events: Int, rate: Double) async throws -> FanOutResult {
        let path = work + "/w8-reel-serve"
        try freshDirectory(path)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let service = try ServiceProcess(
            "reel serve", executable: binary, arguments: ["serve", "--store", path, "--port", "0", "--max-subscribers", String(max(256, subscribers + 16))],
            pidFile: work + "/children")
        do {
            let result = try await fanOut(service, subscribers: subscribers, events: events, rate: rate)
            let status = service.stop()
            guard status == 0 else { throw Failure(description: "reel serve exited with status \(status)") }
            return result
        } catch {
            service.stop()
            throw error
        }
    }

    private static func fanOut(_ service: ServiceProcess, subscribers: Int, events: Int, rate: Double) async throws -> FanOutResult {
        let port = service.port
        let plan = ImagePlan(projects: (0..<projectCount).map { _ in UUID() })
        let (status, answer) = try await HTTPOnce.post(port: port, path: "/v1/events", body: ImagePlan.projectLines(plan.projects))
        guard status == 200, let head = HTTPOnce.number("last_position", in: answer) else {
            throw Failure(description: "W8: creating the projects through the service: \(status) \(answer)")
        }

        // The subscribers, each live once it has the store's last event (the load's events follow it).
        let records = (0..<subscribers).map { _ in SubscriberRecord(count: events) }
        var channels: [any Channel] = []
        var ready: [EventLoopFuture<Void>] = []
        var done: [EventLoopFuture<Void>] = []
        for s in 0..<subscribers {
            let subscription = try await subscribe(port: port, from: head, record: records[s])
            channels.append(subscription.channel)
            ready.append(subscription.ready)
            done.append(subscription.done)
        }
        let giveUp = Task {
            try await Task.sleep(for: .seconds(60))
            for channel in channels { channel.close(promise: nil) }
        }
        for future in ready { try await future.get() }
        giveUp.cancel()

        // The paced appends, over enough connections that one slow answer does not hold the next appends back.
        let senders = appendConnections
        let cpu = (ownCPU(), processCPU(service.pid))
        let start = nanos() + 20_000_000
        let paced = try await sendPaced(
            count: events, rate: rate, connections: senders, start: start, port: port, group: clientGroup, body: { plan.line($0) })
        let closeLate = Task {
            try await Task.sleep(for: .seconds(60))
            for channel in channels { channel.close(promise: nil) }
        }
        for future in done { try await future.get() }
        closeLate.cancel()
        let cpuAfter = (ownCPU(), processCPU(service.pid))

        // Acknowledgements by position, then each event's delivery to its slowest subscriber.
        var acknowledged = [UInt64](repeating: 0, count: events)
        var appendFailures = 0
        var firstFailure: String?
        var worstDelay: UInt64 = 0
        var lastAck: UInt64 = start
        for record in paced {
            appendFailures += record.failures
            firstFailure = firstFailure ?? record.firstFailure
            worstDelay = max(worstDelay, record.worstStartDelay)
            for (position, at) in record.acknowledged {
                let index = Int(position) - Int(head) - 1
                if index >= 0, index < events { acknowledged[index] = at }
                lastAck = max(lastAck, at)
            }
        }
        var lags: [Double] = []
        lags.reserveCapacity(events)
        var early = 0
        var lastDelivery: UInt64 = start
        for i in 0..<events where acknowledged[i] != 0 {
            var slowest: UInt64 = 0
            var missing = false
            for record in records {
                let at = record.deliveries[i]
                if at == 0 { missing = true } else { slowest = max(slowest, at) }
            }
            lastDelivery = max(lastDelivery, slowest)
            if missing { continue }
            if slowest < acknowledged[i] { early += 1 }
            lags.append(slowest > acknowledged[i] ? Double(slowest - acknowledged[i]) / 1e6 : 0)
        }
        lags.sort()
        let delivered = records.reduce(0) { $0 + $1.received }
        let bytes = records.reduce(0) { $0 + $1.bytes }
        return FanOutResult(
            subscribers: subscribers, events: events, rate: rate, complete: records.filter(\.complete).count,
            firstEnding: records.first(where: { !$0.complete })?.ending,
            appended: acknowledged.filter { $0 != 0 }.count, appendFailures: appendFailures, firstFailure: firstFailure,
            appendSeconds: Double(lastAck - start) / 1e9, worstStartDelay: Double(worstDelay) / 1e6,
            delivered: delivered, deliverySeconds: Double(max(lastDelivery, start + 1) - start) / 1e9,
            bytesPerEvent: Double(bytes) / Double(max(1, delivered)),
            lagP50: lags.isEmpty ? .nan : percentile(lags, 0.5), lagP99: lags.isEmpty ? .nan : percentile(lags, 0.99), lagMax: lags.last ?? .nan,
            beforeAcknowledgement: early, clientCPU: cpuAfter.0 - cpu.0, serviceCPU: cpuAfter.1 - cpu.1)
    }
}
