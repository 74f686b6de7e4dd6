// W9, cluster append: three `reel serve --postgres` nodes on a primary PostgreSQL 15 with a synchronous standby, 16
// writers each (keep-alive connections), every request a batch of 64 `scene_image.saved` into the writer's own
// project; beside `reel serve` alone (48 writers) and an event table designed as Message DB and Marten design theirs
// (bigserial position, unique (stream, version), unique id, jsonb payload; 48 connections appending 64 events a
// transaction with expected versions), on the same primary and standby. The sides take turns round by round. During
// W9, readers tail each log and record every position they see, in order: skipped events and reorderings.
// W10, follow lag: paced single appends on one node, delivered by two other nodes' /v1/subscribe.
// Then images-by-scene on a node beside the same query on the single store.
//
// Run alone with `tools/compare --only W9,W10`, which makes the standby; the table goes to Compare/RESULTS-cluster.md.

import CLibPQ
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

struct ClusterSettings {
    var primary: String
    var standby: String
    var work: String
    var binDir: String
    var seconds: Double
    var rounds: Int
    var followEvents: Int
    var querySamples: Int
    var only: Set<String>
}

/// What one side of one W9 round measured.
struct AppendRound {
    var events = 0
    var seconds = 0.0
    var failures = 0
    var firstFailure: String?
    var p50 = 0.0
    var p99 = 0.0
    /// PostgreSQL transactions that carried the events (Reel: its nodes' group commits; the event table: one a batch).
    var commits = 0
    /// Seconds of the commits together (Reel's group commits, from the lock to the synced LMDB commit).
    var commitSeconds = 0.0
    var walSyncs = 0
    var walSyncSeconds = 0.0
    var walBytes = 0.0
    var serviceCPU = 0.0
    var databaseCPU = 0.0
    var clientCPU = 0.0
    var conflicts = 0
    /// The average number of PostgreSQL sessions in each of `ActivitySampler.states` during the run.
    var activity: [Double] = []
    var rate: Double { Double(events) / max(seconds, 1e-9) }
}

/// A reader's positions, in the order it saw them, checked against the log's final positions.
struct TailCheck {
    var name: String
    var seen = 0
    /// A position seen lower than the one before it.
    var reorderings = 0
    /// Positions in the log at or below the highest the reader saw that it never saw: events that committed after the
    /// reader had passed their position.
    var skipped = 0
    var duplicates = 0
    var highest: Int64 = 0

    static func check(_ name: String, seen: [Int64], log: [Int64]) -> TailCheck {
        var result = TailCheck(name: name, seen: seen.count)
        var set = Set<Int64>()
        set.reserveCapacity(seen.count)
        var previous: Int64 = .min
        for p in seen {
            if p < previous { result.reorderings += 1 }
            previous = p
            if !set.insert(p).inserted { result.duplicates += 1 }
            result.highest = max(result.highest, p)
        }
        for p in log where p <= result.highest && !set.contains(p) { result.skipped += 1 }
        return result
    }
}

enum ClusterWorkloads {
    static let nodeCount = 3
    static let writersPerNode = 16
    static let writers = nodeCount * writersPerNode
    static let batch = 64
    static let acknowledgement = Array("{\"appended\":\(batch),".utf8)

    /// The input lines of writer batch `k` into `project`: images k×64 … k×64+63, 4 to a scene.
    static func batchBody(_ project: String, _ k: Int) -> String {
        var body = ""
        body.reserveCapacity(batch * 190)
        for i in (k * batch)..<((k + 1) * batch) {
            body += "{\"type\":\"scene_image.saved\",\"data\":\(imageData(project, i))}\n"
        }
        return body
    }

    @inline(__always) static func imageData(_ project: String, _ i: Int) -> String {
        "{\"project_id\":\"\(project)\",\"scene_index\":\(i / 4),\"image_index\":\(i % 4),\"image_url\":\"https://cdn/w9/\(project)/\(i / 4)/\(i % 4).png\"}"
    }

    static func projectLines(_ projects: [String], title: String = "W9") -> String {
        projects.map { "{\"type\":\"project.created\",\"data\":{\"project_id\":\"\($0)\",\"title\":\"\(title)\"}}\n" }.joined()
    }

    static func settings(_ conninfo: String) -> [String: String] {
        var settings: [String: String] = [:]
        for pair in conninfo.split(separator: " ") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { settings[String(parts[0])] = String(parts[1]) }
        }
        return settings
    }

    static func dataDirectoryPID(_ path: String) -> Int32? {
        guard let text = try? String(contentsOfFile: path + "/postmaster.pid", encoding: .utf8) else { return nil }
        return text.split(separator: "\n").first.flatMap { Int32($0.trimmingCharacters(in: .whitespaces)) }
    }

    /// CPU seconds of the primary's and the standby's processes.
    static func databaseCPU(_ work: String) -> Double {
        [work + "/pgdata", work + "/standby"].compactMap(dataDirectoryPID).reduce(0) { $0 + postgresCPU(postmaster: $1) }
    }

    static func runProgram(_ executable: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(description: "`\(executable) \(arguments.joined(separator: " "))` exited with status \(process.terminationStatus)")
        }
    }

    /// A node's group commits: (groups, events, seconds) so far, from its /metrics.
    static func groupCommits(port: Int) async throws -> (Int, Int, Double) {
        let (status, text) = try await HTTPOnce.get(port: port, path: "/metrics")
        guard status == 200, let count = HTTPOnce.metric("reel_group_commit_events_count", in: text),
            let sum = HTTPOnce.metric("reel_group_commit_events_sum", in: text),
            let seconds = HTTPOnce.metric("reel_commit_duration_seconds_sum", in: text)
        else { return (0, 0, 0) }
        return (Int(count), Int(sum), seconds)
    }

    /// (wal_sync, wal_sync_time in s, wal_bytes) on the primary.
    static func wal(_ admin: PG) throws -> (Int, Double, Double) {
        let row = try admin.rows("SELECT wal_sync, wal_sync_time, wal_bytes FROM pg_stat_wal")[0]
        return (Int(row[0] ?? "0") ?? 0, (Double(row[1] ?? "0") ?? 0) / 1_000, Double(row[2] ?? "0") ?? 0)
    }

    static func syncState(_ admin: PG) -> String {
        ((try? admin.rows("SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby'"))?.first?.first ?? nil) ?? "none"
    }

    // MARK: The run

    static func run(_ s: ClusterSettings, command: String, reelCommit: String) async throws -> String {
        let admin = try PG(s.primary)
        let pgSettings = settings(s.primary)
        let url = "postgres://\(pgSettings["user"] ?? "postgres")@\(pgSettings["host"] ?? "127.0.0.1"):\(pgSettings["port"] ?? "5432")/\(pgSettings["dbname"] ?? "postgres")"
        let reel = s.binDir + "/reel"
        var report = ClusterReport()
        report.command = command
        report.reelCommit = reelCommit
        report.loadAtStart = ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?").split(separator: " ").prefix(3).joined(separator: " ")
        report.postgresVersion = try admin.rows("SHOW server_version")[0][0] ?? "?"
        report.postgresSettings = try admin.rows("""
            SELECT string_agg(name || '=' || setting, ', ' ORDER BY name) FROM pg_settings
            WHERE name IN ('fsync', 'synchronous_commit', 'synchronous_standby_names', 'wal_sync_method', 'shared_buffers')
            """)[0][0] ?? "?"
        report.syncStateBefore = syncState(admin)
        if !s.standby.isEmpty, let standby = try? PG(s.standby) {
            report.standbyInRecovery = (try? standby.rows("SELECT pg_is_in_recovery()")[0][0] ?? nil) == "t"
        }
        guard report.syncStateBefore == "sync" else {
            throw Failure(description: "the primary has no synchronous standby (sync_state \(report.syncStateBefore)); run through tools/compare --only W9,W10")
        }

        log("cluster: reel cluster init --postgres \(url)")
        try runProgram(reel, ["cluster", "init", "--postgres", url])
        var nodes: [ServiceProcess] = []
        var single: ServiceProcess?
        defer {
            for node in nodes { node.stop() }
            single?.stop()
        }
        for n in 0..<nodeCount {
            let path = s.work + "/cluster-node\(n)"
            try? FileManager.default.removeItem(atPath: path)
            nodes.append(try ServiceProcess(
                "reel serve --postgres (node \(n))", executable: reel,
                arguments: ["--store", path, "serve", "--port", "0", "--postgres", url, "--max-subscribers", "64"], pidFile: s.work + "/children"))
        }
        let singlePath = s.work + "/cluster-single"
        try? FileManager.default.removeItem(atPath: singlePath)
        single = try ServiceProcess("reel serve", executable: reel, arguments: ["--store", singlePath, "serve", "--port", "0"], pidFile: s.work + "/children")
        let singlePort = single!.port
        let nodePorts = nodes.map(\.port)
        log("cluster: nodes on \(nodePorts), the single store on \(singlePort)")

        // The event table, on the same primary (and so the same standby).
        try admin.exec("""
            DROP TABLE IF EXISTS w9_events;
            CREATE TABLE w9_events (
                position bigserial PRIMARY KEY,
                id uuid NOT NULL UNIQUE,
                stream text NOT NULL,
                version bigint NOT NULL,
                type text NOT NULL,
                data jsonb NOT NULL,
                metadata jsonb,
                recorded_at timestamptz NOT NULL DEFAULT now(),
                UNIQUE (stream, version)
            );
            """)
        defer { try? admin.exec("DROP TABLE IF EXISTS w9_events") }

        if s.only.contains("W9") {
            // The readers, for the whole of W9.
            let clusterHead = try await post(nodePorts[0], projectLines([UUID().text], title: "start"))
            let sse = try await TailSubscription.start(port: nodePorts[2], from: 1)
            let reelPoll = PollReader(conninfo: s.primary, table: "reel_events")
            let tablePoll = PollReader(conninfo: s.primary, table: "w9_events")
            _ = clusterHead

            for round in 1...s.rounds {
                let order = [0, 1, 2, 3].map { ($0 + round - 1) % 4 }
                var results: [Int: AppendRound] = [:]
                for side in order {
                    switch side {
                    case 0:
                        log("W9 round \(round): the cluster, \(nodeCount) nodes × \(writersPerNode) writers, \(s.seconds) s")
                        results[0] = try await reelAppend(ports: nodePorts, pids: nodes.map(\.pid), admin: admin, conninfo: s.primary, work: s.work, seconds: s.seconds)
                    case 1:
                        log("W9 round \(round): reel serve alone, \(writers) writers, \(s.seconds) s")
                        results[1] = try await reelAppend(ports: [singlePort], pids: [single!.pid], admin: admin, conninfo: s.primary, work: s.work, seconds: s.seconds)
                    case 3:
                        log("W9 round \(round): the cluster, all \(writers) writers on node 1, \(s.seconds) s")
                        results[3] = try await reelAppend(ports: [nodePorts[0]], pids: nodes.map(\.pid), admin: admin, conninfo: s.primary, work: s.work, seconds: s.seconds)
                    default:
                        log("W9 round \(round): the event table, \(writers) connections, \(s.seconds) s")
                        results[2] = try eventTableAppend(admin: admin, conninfo: s.primary, work: s.work, seconds: s.seconds)
                    }
                    let r = results[side]!
                    log(String(format: "W9 round %d side %d: %.0f events/s, %d commits (%.1f events each), p50 %.1f ms, p99 %.1f ms, %d failed%@",
                               round, side, r.rate, r.commits, Double(r.events) / Double(max(1, r.commits)), r.p50, r.p99, r.failures,
                               r.firstFailure.map { " (\($0))" } ?? ""))
                }
                report.cluster.append(results[0]!)
                report.single.append(results[1]!)
                report.table.append(results[2]!)
                report.oneNode.append(results[3]!)
            }

            // The readers catch up with the logs' heads, then stop.
            let reelHead = Int64(try admin.rows("SELECT head_position FROM reel_log")[0][0] ?? "0") ?? 0
            let tableHead = Int64(try admin.rows("SELECT coalesce(max(position), 0) FROM w9_events")[0][0] ?? "0") ?? 0
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline, sse.highest < reelHead || reelPoll.highest < reelHead || tablePoll.highest < tableHead {
                try await Task.sleep(for: .milliseconds(100))
            }
            let sseSeen = try await sse.stop()
            let reelSeen = reelPoll.stop()
            let tableSeen = tablePoll.stop()
            let reelLog = try admin.rows("SELECT position FROM reel_events ORDER BY position").map { Int64($0[0]!)! }
            let tableLog = try admin.rows("SELECT position FROM w9_events ORDER BY position").map { Int64($0[0]!)! }
            report.reelLogGapless = reelLog.enumerated().allSatisfy { Int64($0.offset + 1) == $0.element }
            report.reelLogCount = reelLog.count
            report.tableLogCount = tableLog.count
            report.tails = [
                TailCheck.check("Reel: node 3's `/v1/subscribe?from=1`", seen: sseSeen, log: reelLog),
                TailCheck.check("Reel: `reel_events` polled by position", seen: reelSeen, log: reelLog),
                TailCheck.check("event table: `w9_events` polled by position", seen: tableSeen, log: tableLog),
            ]
            for t in report.tails { log("W9 tail \(t.name): seen \(t.seen), skipped \(t.skipped), reordered \(t.reorderings), duplicates \(t.duplicates)") }
        }

        if s.only.contains("W10") {
            log("W10: \(s.followEvents) appends at 200/s on node 1, followed by nodes 2 and 3")
            report.follow = try await followLag(ports: nodePorts, events: s.followEvents, rate: 200)
            log(String(format: "W10: lag p50 %.1f ms, p99 %.1f ms, max %.1f ms; %d of %d delivered", report.follow!.p50, report.follow!.p99,
                       report.follow!.max, report.follow!.delivered, report.follow!.expected))
        }

        // Queries: images-by-scene of a project of 100 scenes × 4 images, on node 2 and on the single store.
        log("queries: images-by-scene on node 2 and on the single store")
        report.queries = try await queries(nodePorts: nodePorts, singlePort: singlePort, samples: s.querySamples)
        log(String(format: "queries: p50 node %.0f µs, single %.0f µs", report.queries!.nodeP50, report.queries!.singleP50))

        report.syncStateAfter = syncState(admin)
        for node in nodes {
            let status = node.stop()
            if status != 0 { throw Failure(description: "\(node.name) exited with status \(status)") }
        }
        nodes = []
        single?.stop()
        single = nil
        return report.markdown()
    }

    static func post(_ port: Int, _ body: String) async throws -> UInt64 {
        let (status, answer) = try await HTTPOnce.post(port: port, path: "/v1/events", body: body)
        guard status == 200, let head = HTTPOnce.number("last_position", in: answer) else {
            throw Failure(description: "POST /v1/events on port \(port): \(status) \(answer.prefix(300))")
        }
        return head
    }

    // MARK: W9: Reel (the cluster's nodes, or the single store)

    /// Writers split evenly over `ports`, each with a project of its own (made first), sending batches back to back for
    /// a warm-up second (other projects), then for `seconds`.
    static func reelAppend(ports: [Int], pids: [Int32], admin: PG, conninfo: String, work: String, seconds: Double) async throws -> AppendRound {
        let perPort = writers / ports.count
        let projects = (0..<writers).map { _ in UUID().text }
        let warm = (0..<writers).map { _ in UUID().text }
        _ = try await post(ports[0], projectLines(projects + warm))
        func load(_ list: [String], _ seconds: Double) async throws -> [(LoadRecord, Double)] {
            try await withThrowingTaskGroup(of: (LoadRecord, Double).self) { group in
                for (n, port) in ports.enumerated() {
                    group.addTask {
                        try await HTTPLoad.run(port: port, connections: perPort, seconds: seconds, acknowledgement: acknowledgement) { g in
                            batchBody(list[n * perPort + g % perPort], g / perPort)
                        }
                    }
                }
                var all: [(LoadRecord, Double)] = []
                for try await r in group { all.append(r) }
                return all
            }
        }
        _ = try await load(warm, 1)
        var before: [(Int, Int, Double)] = []
        for port in ports { before.append(try await groupCommits(port: port)) }
        let walBefore = try wal(admin)
        let cpu = (ownCPU(), pids.reduce(0) { $0 + processCPU($1) }, databaseCPU(work))
        let sampler = ActivitySampler(conninfo: conninfo)
        let records = try await load(projects, seconds)
        let activity = sampler.stop()
        let cpuAfter = (ownCPU(), pids.reduce(0) { $0 + processCPU($1) }, databaseCPU(work))
        var result = AppendRound()
        result.activity = activity
        var latencies: [Double] = []
        for (record, elapsed) in records {
            result.events += record.acknowledged * batch
            result.failures += record.failures
            result.firstFailure = result.firstFailure ?? record.firstFailure
            result.seconds = max(result.seconds, elapsed)
            latencies += record.latencies
        }
        for (n, port) in ports.enumerated() {
            let after = try await groupCommits(port: port)
            result.commits += after.0 - before[n].0
            result.commitSeconds += after.2 - before[n].2
        }
        try await Task.sleep(for: .milliseconds(1_200))  // the backends' WAL statistics
        let walAfter = try wal(admin)
        (result.walSyncs, result.walSyncSeconds, result.walBytes) = (walAfter.0 - walBefore.0, walAfter.1 - walBefore.1, walAfter.2 - walBefore.2)
        (result.clientCPU, result.serviceCPU, result.databaseCPU) = (cpuAfter.0 - cpu.0, cpuAfter.1 - cpu.1, cpuAfter.2 - cpu.2)
        latencies.sort()
        if !latencies.isEmpty { (result.p50, result.p99) = (percentile(latencies, 0.5) / 1_000, percentile(latencies, 0.99) / 1_000) }
        return result
    }

    // MARK: W9: the event table

    /// 48 connections on threads, each appending batches of 64 events to a stream of its own, one transaction a batch:
    /// the stream's lock (`pg_advisory_xact_lock`, as Message DB's `write_message` takes it), its current version
    /// checked against the expected one, the 64 rows inserted with versions +1 … +64, commit.
    static func eventTableAppend(admin: PG, conninfo: String, work: String, seconds: Double) throws -> AppendRound {
        final class Writer: @unchecked Sendable {
            var events = 0
            var commits = 0
            var conflicts = 0
            var latencies: [Double] = []
            var error: String?
            var last: UInt64 = 0
        }
        let streams = (0..<writers).map { _ in "project-" + UUID().text }
        func run(_ seconds: Double) -> ([Writer], UInt64) {
            let list = (0..<writers).map { _ in Writer() }
            let start = Mutex<UInt64>(0)
            _ = onThreads(writers) { w in
                let writer = list[w]
                let project = String(streams[w].dropFirst("project-".count))
                do {
                    let pg = try PG(conninfo)
                    try pg.prepare("version", "SELECT pg_advisory_xact_lock(hashtext($1)), (SELECT coalesce(max(version), 0) FROM w9_events WHERE stream = $1)")
                    try pg.prepare("append", """
                        INSERT INTO w9_events (id, stream, version, type, data)
                        SELECT t.id, $1, $2::bigint + t.n, 'scene_image.saved', t.d
                        FROM ROWS FROM (unnest($3::uuid[]), jsonb_array_elements($4::jsonb)) WITH ORDINALITY AS t(id, d, n)
                        """)
                    var expected = Int(try pg.run("version", [streams[w]])[0][1] ?? "0")!
                    let begin = nanos()
                    start.withLock { $0 = $0 == 0 ? begin : min($0, begin) }
                    let deadline = begin + UInt64(seconds * 1e9)
                    var k = expected / batch  // the timed run goes on after the warm-up's images
                    while nanos() < deadline {
                        let sent = nanos()
                        var ids = "{"
                        var data = "["
                        for i in (k * batch)..<((k + 1) * batch) {
                            if i > k * batch { ids += ","; data += "," }
                            ids += UUID().text
                            data += imageData(project, i)
                        }
                        ids += "}"
                        data += "]"
                        try pg.exec("BEGIN")
                        let current = Int(try pg.run("version", [streams[w]])[0][1] ?? "0")!
                        if current != expected {
                            try pg.exec("ROLLBACK")
                            writer.conflicts += 1
                            expected = current
                            continue
                        }
                        try pg.command("append", [streams[w], String(expected), ids, data])
                        try pg.exec("COMMIT")
                        expected += batch
                        k += 1
                        writer.events += batch
                        writer.commits += 1
                        writer.last = nanos()
                        writer.latencies.append(Double(writer.last - sent) / 1_000)
                    }
                } catch {
                    writer.error = "\(error)"
                }
            }
            return (list, start.withLock { $0 })
        }
        _ = run(1)
        let walBefore = try wal(admin)
        let cpu = (ownCPU(), databaseCPU(work))
        let sampler = ActivitySampler(conninfo: conninfo)
        let (list, start) = run(seconds)
        let activity = sampler.stop()
        let cpuAfter = (ownCPU(), databaseCPU(work))
        Thread.sleep(forTimeInterval: 1.2)
        let walAfter = try wal(admin)
        var result = AppendRound()
        result.activity = activity
        var latencies: [Double] = []
        var last: UInt64 = start
        for writer in list {
            result.events += writer.events
            result.commits += writer.commits
            result.conflicts += writer.conflicts
            if writer.error != nil { result.failures += 1 }
            result.firstFailure = result.firstFailure ?? writer.error
            latencies += writer.latencies
            last = max(last, writer.last)
        }
        result.seconds = Double(max(last, start + 1) - start) / 1e9
        (result.walSyncs, result.walSyncSeconds, result.walBytes) = (walAfter.0 - walBefore.0, walAfter.1 - walBefore.1, walAfter.2 - walBefore.2)
        (result.clientCPU, result.databaseCPU) = (cpuAfter.0 - cpu.0, cpuAfter.1 - cpu.1)
        latencies.sort()
        if !latencies.isEmpty { (result.p50, result.p99) = (percentile(latencies, 0.5) / 1_000, percentile(latencies, 0.99) / 1_000) }
        return result
    }

    // MARK: W10: follow lag

    struct FollowResult {
        var expected = 0
        var delivered = 0
        var appended = 0
        var failures = 0
        var firstFailure: String?
        var p50 = 0.0
        var p99 = 0.0
        var max = 0.0
        var early = 0
        var worstStartDelay = 0.0
        var rate = 0.0
    }

    /// `events` single appends (`scene_image.saved`) paced at `rate` a second over 16 connections to node 1, each
    /// subscribed to on nodes 2 and 3 from the log's head; each delivery's lag is its arrival − its acknowledgement.
    static func followLag(ports: [Int], events: Int, rate: Double) async throws -> FollowResult {
        let plan = ImagePlan(projects: (0..<8).map { _ in UUID() })
        let head = try await post(ports[0], ImagePlan.projectLines(plan.projects))
        let records = [SubscriberRecord(count: events), SubscriberRecord(count: events)]
        var channels: [any Channel] = []
        var ready: [EventLoopFuture<Void>] = []
        var done: [EventLoopFuture<Void>] = []
        for (s, port) in ports.dropFirst().prefix(2).enumerated() {
            let subscription = try await subscribe(port: port, from: head, record: records[s])
            channels.append(subscription.channel)
            ready.append(subscription.ready)
            done.append(subscription.done)
        }
        for future in ready { try await future.get() }
        let senders = 16
        let start = nanos() + 20_000_000
        let paced = try await sendPaced(
            count: events, rate: rate, connections: senders, start: start, port: ports[0], group: clientGroup, body: { plan.line($0) })
        let closeLate = Task {
            try await Task.sleep(for: .seconds(30))
            for channel in channels { channel.close(promise: nil) }
        }
        for future in done { try await future.get() }
        closeLate.cancel()

        var result = FollowResult(expected: events * records.count)
        var acknowledged = [UInt64](repeating: 0, count: events)
        var lastAck = start
        for record in paced {
            result.failures += record.failures
            result.firstFailure = result.firstFailure ?? record.firstFailure
            result.worstStartDelay = Swift.max(result.worstStartDelay, Double(record.worstStartDelay) / 1e6)
            for (position, at) in record.acknowledged {
                let index = Int(position) - Int(head) - 1
                if index >= 0, index < events { acknowledged[index] = at }
                lastAck = Swift.max(lastAck, at)
            }
        }
        result.appended = acknowledged.filter { $0 != 0 }.count
        result.rate = Double(result.appended) / (Double(lastAck - start) / 1e9)
        var lags: [Double] = []
        for record in records {
            result.delivered += record.received
            for i in 0..<events where acknowledged[i] != 0 && record.deliveries[i] != 0 {
                let at = record.deliveries[i]
                if at < acknowledged[i] { result.early += 1 }
                lags.append(at > acknowledged[i] ? Double(at - acknowledged[i]) / 1e6 : 0)
            }
        }
        lags.sort()
        if !lags.isEmpty { (result.p50, result.p99, result.max) = (percentile(lags, 0.5), percentile(lags, 0.99), lags.last!) }
        return result
    }

    // MARK: Queries

    struct QueryResult {
        var nodeP50 = 0.0
        var nodeP99 = 0.0
        var singleP50 = 0.0
        var singleP99 = 0.0
        var samples = 0
    }

    /// A project of 100 scenes × 4 images appended on node 1 and on the single store; then images-by-scene on node 2
    /// and on the single store, each over a keep-alive connection, the two taking turns 50 requests at a time.
    static func queries(nodePorts: [Int], singlePort: Int, samples: Int) async throws -> QueryResult {
        let project = UUID().text
        let body = projectLines([project], title: "queries") + (0..<400).map {
            "{\"type\":\"scene_image.saved\",\"data\":\(imageData(project, $0))}\n"
        }.joined()
        _ = try await post(nodePorts[0], body)
        _ = try await post(singlePort, body)
        let path = "/v1/queries/images-by-scene?project=\(project)"
        // Node 2 follows node 1's append within milliseconds.
        let deadline = Date().addingTimeInterval(30)
        while true {
            let (status, answer) = try await HTTPOnce.get(port: nodePorts[1], path: path)
            if status == 200, answer.components(separatedBy: "https://cdn/w9/").count - 1 == 400 { break }
            guard Date() < deadline else { throw Failure(description: "node 2 does not have the query's project: \(status) \(answer.prefix(200))") }
            try await Task.sleep(for: .milliseconds(20))
        }
        let (nodeStatus, nodeAnswer) = try await HTTPOnce.get(port: nodePorts[1], path: path)
        let (singleStatus, singleAnswer) = try await HTTPOnce.get(port: singlePort, path: path)
        guard nodeStatus == 200, singleStatus == 200, nodeAnswer == singleAnswer else {
            throw Failure(description: "images-by-scene differs between a node and the single store")
        }
        let node = try await GetLoop.connect(port: nodePorts[1], path: path)
        let single = try await GetLoop.connect(port: singlePort, path: path)
        _ = try await node.run(100)
        _ = try await single.run(100)
        var nodeLatencies: [Double] = []
        var singleLatencies: [Double] = []
        for _ in 0..<max(1, samples / 50) {
            nodeLatencies += try await node.run(50)
            singleLatencies += try await single.run(50)
        }
        node.close()
        single.close()
        nodeLatencies.sort()
        singleLatencies.sort()
        return QueryResult(
            nodeP50: percentile(nodeLatencies, 0.5), nodeP99: percentile(nodeLatencies, 0.99), singleP50: percentile(singleLatencies, 0.5),
            singleP99: percentile(singleLatencies, 0.99), samples: nodeLatencies.count)
    }
}

// MARK: - What PostgreSQL's sessions are doing

/// A thread sampling `pg_stat_activity` every 10 ms (the sessions of the load: not the readers', not its own) and
/// counting each session's state: the average number of sessions in each state over a run.
final class ActivitySampler: @unchecked Sendable {
    static let states = ["running", "waiting for the standby (SyncRep)", "waiting for a lock", "WAL writes and locks", "idle in a transaction (its client working)", "other waits"]
    private let stopped = Atomic<Bool>(false)
    private var counts = [Int](repeating: 0, count: ActivitySampler.states.count)
    private var samples = 0
    private let finished = DispatchSemaphore(value: 0)

    init(conninfo: String) {
        let thread = Thread { [self] in
            defer { finished.signal() }
            guard let pg = try? PG(conninfo + " application_name=w9-sampler"),
                (try? pg.prepare("activity", """
                    SELECT state, coalesce(wait_event_type, ''), coalesce(wait_event, '') FROM pg_stat_activity
                    WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND state <> 'idle'
                    AND application_name NOT IN ('w9-reader', 'w9-sampler')
                    """)) != nil
            else { return }
            while !stopped.load(ordering: .relaxed) {
                guard let rows = try? pg.run("activity", []) else { break }
                samples += 1
                for row in rows {
                    let (state, type, event) = (row[0] ?? "", row[1] ?? "", row[2] ?? "")
                    let k: Int
                    if state.hasPrefix("idle in transaction") { k = 4 }
                    else if event == "SyncRep" { k = 1 }
                    else if type == "Lock" { k = 2 }
                    else if type.isEmpty { k = 0 }
                    else if event.hasPrefix("WAL") || type == "LWLock" || type == "IO" { k = 3 }
                    else { k = 5 }
                    counts[k] += 1
                }
                usleep(10_000)
            }
        }
        thread.start()
    }

    /// The average number of sessions in each state.
    func stop() -> [Double] {
        stopped.store(true, ordering: .relaxed)
        finished.wait()
        return counts.map { Double($0) / Double(max(1, samples)) }
    }
}

// MARK: - A reader polling a log table by position

/// A thread that polls `SELECT position FROM table WHERE position > last ORDER BY position` every 2 ms (at once while
/// a poll fills its limit), as a consumer of such a table reads, recording every position in the order it got them.
/// Each poll is an index scan from `last`.
final class PollReader: @unchecked Sendable {
    private let stopped = Atomic<Bool>(false)
    private let high = Atomic<Int64>(0)
    private var positions: [Int64] = []
    private let finished = DispatchSemaphore(value: 0)
    var highest: Int64 { high.load(ordering: .relaxed) }

    init(conninfo: String, table: String) {
        let thread = Thread { [self] in
            defer { finished.signal() }
            guard let pg = try? PG(conninfo + " application_name=w9-reader") else { return }
            // Planned for each poll: a plan cached while the table was nearly empty scans all of it once it is not, and
            // such a reader's scans would take the machine's CPU from the appends it watches.
            guard (try? pg.exec("SET plan_cache_mode = force_custom_plan")) != nil else { return }
            guard (try? pg.prepare("poll", "SELECT position FROM \(table) WHERE position > $1 ORDER BY position LIMIT 5000")) != nil else { return }
            var last: Int64 = 0
            while !stopped.load(ordering: .relaxed) {
                guard let rows = try? pg.run("poll", [String(last)]) else { break }
                for row in rows {
                    let p = Int64(row[0]!)!
                    positions.append(p)
                    last = max(last, p)
                }
                high.store(last, ordering: .relaxed)
                if rows.count < 5000 { usleep(2_000) }
            }
        }
        thread.start()
    }

    func stop() -> [Int64] {
        stopped.store(true, ordering: .relaxed)
        finished.wait()
        return positions
    }
}

// MARK: - A Server-Sent Events reader recording every position

final class TailRecord: @unchecked Sendable {
    var positions: [Int64] = []
    let high = Atomic<Int64>(0)
}

/// `GET /v1/subscribe?from=F`: every `id: P` line's P, in the order they arrive.
final class TailHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    let from: UInt64
    let host: String
    let record: TailRecord
    let started: EventLoopPromise<Void>
    private var isStarted = false
    private var ids = EventIDParser()

    init(from: UInt64, host: String, record: TailRecord, started: EventLoopPromise<Void>) {
        self.from = from
        self.host = host
        self.record = record
        self.started = started
    }

    func channelActive(context: ChannelHandlerContext) {
        requestSubscription(context, from: from, host: host)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case let .head(head):
            if !isStarted {
                isStarted = true
                if head.status.code == 200 { started.succeed() } else { started.fail(Failure(description: "subscribe: status \(head.status.code)")) }
            }
        case let .body(buffer):
            var found: [Int64] = []
            buffer.withUnsafeReadableBytes { bytes in ids.scan(bytes) { found.append(Int64($0)) } }
            record.positions.append(contentsOf: found)
            if let last = record.positions.last { record.high.store(max(record.high.load(ordering: .relaxed), last), ordering: .relaxed) }
        case .end:
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !isStarted { isStarted = true; started.fail(error) }
        context.close(promise: nil)
    }
}

final class TailSubscription: @unchecked Sendable {
    let channel: any Channel
    let record: TailRecord
    var highest: Int64 { record.high.load(ordering: .relaxed) }

    private init(channel: any Channel, record: TailRecord) {
        self.channel = channel
        self.record = record
    }

    static func start(port: Int, from: UInt64) async throws -> TailSubscription {
        let loop = clientGroup.next()
        let started = loop.makePromise(of: Void.self)
        let record = TailRecord()
        let channel = try await ClientBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(TailHandler(from: from, host: "127.0.0.1:\(port)", record: record, started: started))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        try await started.futureResult.get()
        return TailSubscription(channel: channel, record: record)
    }

    /// Closes the subscription; the positions it got, in order.
    func stop() async throws -> [Int64] {
        try? await channel.close()
        return try await channel.eventLoop.submit { self.record.positions }.get()
    }
}

// MARK: - GETs over one keep-alive connection

/// Made before its connection and then used only on that connection's event loop.
final class GetLoopHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    let host: String
    let path: String
    var remaining = 0
    var latencies: [Double] = []
    var promise: EventLoopPromise<[Double]>?
    private var sentAt: UInt64 = 0
    private var status: UInt = 0
    var context: ChannelHandlerContext?

    init(host: String, path: String) {
        self.host = host
        self.path = path
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func start(_ count: Int, _ promise: EventLoopPromise<[Double]>) {
        remaining = count
        latencies = []
        self.promise = promise
        send()
    }

    private func send() {
        guard let context else { return }
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path)
        head.headers.add(name: "Host", value: host)
        sentAt = nanos()
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case let .head(head): status = head.status.code
        case .body: break
        case .end:
            latencies.append(Double(nanos() - sentAt) / 1_000)
            if status != 200 {
                promise?.fail(Failure(description: "GET \(path): status \(status)"))
                promise = nil
                return
            }
            remaining -= 1
            if remaining > 0 { send() } else { promise?.succeed(latencies); promise = nil }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise?.fail(error)
        promise = nil
        context.close(promise: nil)
    }
}

final class GetLoop: @unchecked Sendable {
    let channel: any Channel
    let handler: GetLoopHandler

    private init(channel: any Channel, handler: GetLoopHandler) {
        self.channel = channel
        self.handler = handler
    }

    static func connect(port: Int, path: String) async throws -> GetLoop {
        let loop = clientGroup.next()
        let handler = GetLoopHandler(host: "127.0.0.1:\(port)", path: path)
        let channel = try await ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return GetLoop(channel: channel, handler: handler)
    }

    /// `count` GETs one after another; their latencies in µs.
    func run(_ count: Int) async throws -> [Double] {
        let promise = channel.eventLoop.makePromise(of: [Double].self)
        channel.eventLoop.execute { self.handler.start(count, promise) }
        return try await promise.futureResult.get()
    }

    func close() { channel.close(promise: nil) }
}
