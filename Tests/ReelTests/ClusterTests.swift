import Foundation
import PostgresFixture
import Testing

/// Nodes of a cluster whose log is in a real PostgreSQL 15 (started by each test), each a `reel` process with a store
/// of its own.
@Suite("Cluster on PostgreSQL")
struct ClusterTests {
    static func user(_ id: String, _ email: String) -> String {
        inputLine("user.registered", ["user_id": .string(id), "email": .string(email)])
    }

    /// `reel --store STORE COMMAND… --postgres URL`.
    static func node(_ store: String, _ postgres: PostgresServer, _ arguments: [String], input: String? = nil) throws -> Run {
        try node(store, url: postgres.url, arguments, input: input)
    }

    static func node(_ store: String, url: String, _ arguments: [String], input: String? = nil) throws -> Run {
        try reel(["--store", store] + arguments + ["--postgres", url], input: input)
    }

    /// `reel append` through `store`: the project and its first 10 images, in scene 0 (11 events).
    static func appendProject(_ project: String, _ store: String, _ postgres: PostgresServer) throws -> Run {
        try node(
            store, postgres, ["append"],
            input: ndjson([ServeCommandTests.project(project)] + (0..<10).map { ServeCommandTests.image(project, scene: 0, index: $0) }))
    }

    /// Four writers save images through `server`, each retrying a line with the same id until it is acknowledged,
    /// while `fault` runs (given a way to wait until `n` more lines are acknowledged); returns the acknowledged ids and
    /// the statuses of the failed attempts.
    static func appendUnderLoad(
        _ server: ServeProcess, project: String, during fault: (_ waitForMore: (Int) -> Bool) throws -> Void
    ) throws -> (ids: [String], failures: [Int]) {
        let stop = Locked(false)
        let acknowledged = Locked<[String]>([])
        let failures = Locked<[Int]>([])
        let group = DispatchGroup()
        for writer in 0..<4 {
            DispatchQueue.global().async(group: group) {
                var index = 0
                while !stop.withLock({ $0 }) {
                    let id = uuid()
                    let body = ndjsonBody([ServeCommandTests.image(project, scene: writer, index: index, id: id)])
                    // Until it is acknowledged, the same line with the same id.
                    let deadline = Date().addingTimeInterval(90)
                    while Date() < deadline {
                        guard let answer = try? http("POST", server.url + "/v1/events", body: body, timeout: 30) else { continue }
                        if answer.status == 200 {
                            acknowledged.withLock { $0.append(id) }
                            break
                        }
                        failures.withLock { $0.append(answer.status) }
                        Thread.sleep(forTimeInterval: 0.05)
                    }
                    index += 1
                }
            }
        }
        // The writers stop, and finish the line each has in hand, before anything is counted.
        // Waits (at most a minute, however slow the machine) until `count` more lines are acknowledged.
        func waitForMore(_ count: Int) -> Bool {
            let target = acknowledged.withLock { $0.count } + count
            let deadline = Date().addingTimeInterval(60)
            while acknowledged.withLock({ $0.count }) < target {
                guard Date() < deadline else { return false }
                Thread.sleep(forTimeInterval: 0.02)
            }
            return true
        }
        let faulted = Result { try fault(waitForMore) }
        stop.withLock { $0 = true }
        group.wait()
        try faulted.get()
        return (acknowledged.withLock { $0 }, failures.withLock { $0 })
    }

    /// Every event of the log, as `reel read` prints it from a node.
    static func log(_ store: String, _ postgres: PostgresServer) throws -> [String] {
        let read = try node(store, postgres, ["read"])
        try #require(read.status == 0, "\(read)")
        return read.stdoutLines
    }

    /// The log's row count and greatest position in PostgreSQL.
    static func rows(_ postgres: PostgresServer) throws -> (count: Int, last: Int) {
        let parts = try postgres.sql("SELECT count(*), coalesce(max(position), 0) FROM reel_events").split(separator: "|")
        return (Int(parts[0]) ?? -1, Int(parts[1]) ?? -1)
    }

    @Test("two nodes: appends from either reach both in one order and one chain; their exports are one, and import into a single store")
    func twoNodes() throws {
        let postgres = try PostgresServer()
        defer { postgres.stop() }
        let first = try reel(["cluster", "init", "--postgres", postgres.url])
        #expect(first.status == 0 && first.stdout.contains(#""created":true"#), "\(first)")
        let again = try reel(["cluster", "init", "--postgres", postgres.url])
        #expect(again.status == 0 && again.stdout.contains(#""created":false"#), "running init again changes nothing: \(again)")
        let (a, b) = (nodeStore(), nodeStore())
        defer { remove(a); remove(b) }
        let project = uuid()
        let fromA = try Self.node(
            a, postgres, ["append"],
            input: ndjson(
                [ServeCommandTests.project(project)] + (0..<50).map { ServeCommandTests.image(project, scene: $0 % 5, index: $0) }))
        #expect(fromA.status == 0, "\(fromA)")
        let fromB = try Self.node(
            b, postgres, ["append"], input: ndjson((50..<80).map { ServeCommandTests.image(project, scene: $0 % 5, index: $0) }))
        #expect(fromB.status == 0 && fromB.stdout.contains(#""last_position":81"#), "B appends after A's 51 events: \(fromB)")
        let (logA, logB) = (try Self.log(a, postgres), try Self.log(b, postgres))
        #expect(logA.count == 81 && logA == logB, "both nodes hold the same 81 events")
        let positions = try logA.map { try #require(parseObject($0)["position"] as? Int) }
        #expect(positions == Array(1...81))
        // Queries answer the same on either node.
        let scenesA = try Self.node(a, postgres, ["query", "images-by-scene", "--project", project])
        let scenesB = try Self.node(b, postgres, ["query", "images-by-scene", "--project", project])
        #expect(scenesA.status == 0 && scenesA.stdout == scenesB.stdout, "\(scenesA)\n\(scenesB)")
        // One export, whichever node; it imports into a single store, whose export is the same text.
        let (exportA, exportB) = (try Self.node(a, postgres, ["export"]), try Self.node(b, postgres, ["export"]))
        #expect(exportA.status == 0 && exportA.stdout == exportB.stdout)
        let single = nodeStore()
        defer { remove(single) }
        let file = try temporaryFile(exportA.stdout)
        defer { remove(file) }
        let imported = try reel(["import", "--store", single, file])
        #expect(imported.status == 0, "\(imported)")
        #expect(try reel(["export", "--store", single]).stdout == exportA.stdout, "a single store's export of the same events is the same")
        // The status names both nodes at the log's head.
        let status = try reel(["cluster", "status", "--json", "--postgres", postgres.url])
        let object = try parseObject(status.stdout)
        #expect(object["head"] as? Int == 81)
        let nodes = try objects(object["nodes"])
        #expect(nodes.count == 2 && nodes.allSatisfy { $0["head"] as? Int == 81 && $0["lag"] as? Int == 0 }, "\(status)")
        for store in [a, b] {
            #expect(try Self.node(store, postgres, ["verify"]).status == 0)
        }
    }

    @Test("two nodes racing: one email registered by both at once is taken by exactly one; positions gapless")
    func racingNodes() throws {
        let postgres = try PostgresServer()
        defer { postgres.stop() }
        #expect(try reel(["cluster", "init", "--postgres", postgres.url]).status == 0)
        let (a, b) = (nodeStore(), nodeStore())
        defer { remove(a); remove(b) }
        let seed = testSeed("racingNodes")
        var random = SeededGenerator(seed: seed)
        let contested = Int.random(in: 20..<180, using: &random)
        func lines(_ node: String) -> String {
            ndjson(
                (0..<200).map { index in
                    Self.user(uuid(), index == contested ? "both@example.com" : "\(node)-\(index)@example.com")
                })
        }
        let (fileA, fileB) = (try temporaryFile(lines("a")), try temporaryFile(lines("b")))
        defer { remove(fileA); remove(fileB) }
        let results = Locked<[Run]>([])
        let group = DispatchGroup()
        for (store, file) in [(a, fileA), (b, fileB)] {
            DispatchQueue.global().async(group: group) {
                if let run = try? Self.node(store, postgres, ["append", file]) { results.withLock { $0.append(run) } }
            }
        }
        group.wait()
        let runs = results.withLock { $0 }
        #expect(runs.count == 2)
        let rejected = runs.flatMap(\.stderrLines).filter { $0.contains("both@example.com") && $0.contains("already registered") }
        #expect(rejected.count == 1, "exactly one registration of the shared email loses: \(runs)")
        let (count, last) = try Self.rows(postgres)
        #expect(count == 399 && last == 399, "399 events, positions 1…399 without a gap")
        #expect(try Self.log(a, postgres) == Self.log(b, postgres))
        for store in [a, b] { #expect(try Self.node(store, postgres, ["verify"]).status == 0) }
    }

    @Test("a node's store refuses a write without its cluster, and reads on its own; a store of its own is not taken into a cluster")
    func replicaRefusals() throws {
        let postgres = try PostgresServer()
        defer { postgres.stop() }
        #expect(try reel(["cluster", "init", "--postgres", postgres.url]).status == 0)
        let a = nodeStore()
        defer { remove(a) }
        let project = uuid()
        #expect(try Self.node(a, postgres, ["append"], input: ServeCommandTests.project(project) + "\n").status == 0)
        let alone = try append(ServeCommandTests.image(project, scene: 0, index: 0) + "\n", to: a)
        #expect(alone.status == 3 && alone.stderr.contains("replica"), "\(alone)")
        let read = try reel(["read", "--store", a])
        #expect(read.status == 0 && read.stdoutLines.count == 1, "read-only, the replica is served: \(read)")
        let single = nodeStore()
        defer { remove(single) }
        #expect(try append(ServeCommandTests.project(uuid()) + "\n", to: single).status == 0)
        let joined = try Self.node(single, postgres, ["read"])
        #expect(joined.status == 3 && joined.stderr.contains("not a replica"), "\(joined)")
        #expect(try reel(["verify", "--store", single]).status == 0, "and it is left as it was")
        let unreachable = try reel([
            "--store", nodeStore(), "read", "--postgres", "postgres://postgres@127.0.0.1:\(PostgresServer.freePort())/postgres",
        ])
        #expect(unreachable.status == 3 && unreachable.stderr.contains("unavailable"), "\(unreachable)")
        let malformed = try reel(["--store", nodeStore(), "read", "--postgres", "mysql://x"])
        #expect(malformed.status == 2, "\(malformed)")
    }

    @Test(
        "a replica ahead of PostgreSQL (restored from an earlier backup) is rebuilt from the log, and says so; a deleted store is rebuilt")
    func divergedReplica() throws {
        let postgres = try PostgresServer()
        defer { postgres.stop() }
        #expect(try reel(["cluster", "init", "--postgres", postgres.url]).status == 0)
        let a = nodeStore()
        defer { remove(a) }
        let project = uuid()
        #expect(try Self.appendProject(project, a, postgres).status == 0)
        // A backup of the database with 11 events…
        let backup = try postgres.backUp()
        // …then 20 more, which the node holds, and the backup restored.
        #expect(
            try Self.node(a, postgres, ["append"], input: ndjson((10..<30).map { ServeCommandTests.image(project, scene: 1, index: $0) }))
                .status == 0)
        try postgres.restore(backup)
        let read = try Self.node(a, postgres, ["read"])
        #expect(read.status == 0 && read.stdoutLines.count == 11, "the replica holds what the log holds: \(read.stdoutLines.count)")
        #expect(read.stderr.contains("rebuilt from the log") && read.stderr.contains("past the log's head"), "\(read.stderr)")
        // Appends go on from the log's head.
        let appended = try Self.node(a, postgres, ["append"], input: ServeCommandTests.image(project, scene: 2, index: 0) + "\n")
        #expect(appended.stdout.contains(#""last_position":12"#), "\(appended)")
        #expect(try Self.node(a, postgres, ["verify"]).status == 0)
        // A node whose directory was deleted takes the whole log again.
        remove(a)
        #expect(try Self.log(a, postgres).count == 12)
        #expect(try Self.node(a, postgres, ["verify"]).status == 0)
    }

    @Test("running nodes under a log restored from an earlier backup: the appending node and the idle one rebuild from the log, and say so")
    func divergedWhileRunning() throws {
        let postgres = try PostgresServer()
        defer { postgres.stop() }
        #expect(try reel(["cluster", "init", "--postgres", postgres.url]).status == 0)
        let (a, b) = (nodeStore(), nodeStore())
        defer { remove(a); remove(b) }
        let project = uuid()
        #expect(try Self.appendProject(project, a, postgres).status == 0)
        let backup = try postgres.backUp()
        let (serverA, serverB) = (
            try ServeProcess(store: a, ["--postgres", postgres.url]), try ServeProcess(store: b, ["--postgres", postgres.url])
        )
        let later = ndjsonBody((10..<30).map { ServeCommandTests.image(project, scene: 1, index: $0) })
        #expect(try http("POST", serverA.url + "/v1/events", body: later).status == 200)
        func head(_ server: ServeProcess) -> Int? { (try? http("GET", server.url + "/health", timeout: 5))?.json["head"] as? Int }
        let deadline = Date().addingTimeInterval(30)
        while head(serverB) != 31, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        #expect(head(serverB) == 31, "the idle node followed")
        // The log goes back to 11 events under both.
        try postgres.restore(backup)
        // Retried with the same id until acknowledged, as a client does.
        var answer: HTTPAnswer?
        var attempts: [String] = []
        let line = ndjsonBody([ServeCommandTests.image(project, scene: 2, index: 0, id: uuid())])
        for _ in 0..<100 {
            answer = try? http("POST", serverA.url + "/v1/events", body: line, timeout: 30)
            attempts.append(answer.map { "\($0.status) \($0.text.prefix(300))" } ?? "no answer")
            if answer?.status == 200 { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(
            answer?.status == 200 && answer?.text.contains(#""last_position":12"#) == true, "appends go on from the log's head: \(attempts)"
        )
        while head(serverB) != 12, Date() < deadline.addingTimeInterval(30) { Thread.sleep(forTimeInterval: 0.05) }
        #expect(head(serverB) == 12, "the idle node rebuilt itself and followed")
        let (stoppedA, stoppedB) = (serverA.stop(), serverB.stop())
        #expect(stoppedA.status == 0 && stoppedA.log.contains("rebuilt from the log"), "\(stoppedA.log.suffix(2_000))")
        #expect(stoppedB.status == 0 && stoppedB.log.contains("rebuilt from the log"), "\(stoppedB.log.suffix(2_000))")
        #expect(try Self.log(a, postgres) == Self.log(b, postgres))
        for store in [a, b] { #expect(try Self.node(store, postgres, ["verify"]).status == 0) }
    }

    @Test("processes of one node append at once — a service and two commands on one store — without a deadlock or a gap")
    func processesOfOneNode() throws {
        let postgres = try PostgresServer()
        defer { postgres.stop() }
        #expect(try reel(["cluster", "init", "--postgres", postgres.url]).status == 0)
        let a = nodeStore()
        defer { remove(a) }
        let server = try ServeProcess(store: a, ["--postgres", postgres.url])
        let files = try (0..<2).map { _ in try temporaryFile(ndjson(projectLines(5_000))) }
        defer { files.forEach(remove) }
        let results = Locked<[Int32]>([])
        let group = DispatchGroup()
        for file in files {
            DispatchQueue.global().async(group: group) {
                let run = try? Self.node(a, postgres, ["append", file])
                results.withLock { $0.append(run?.status ?? -1) }
            }
        }
        var served = 0
        for _ in 0..<50 {
            if (try? http("POST", server.url + "/v1/events", body: ndjsonBody([ServeCommandTests.project(uuid())]), timeout: 60))?.status
                == 200
            {
                served += 1
            }
        }
        #expect(group.wait(timeout: .now() + 300) == .success, "the commands ended")
        #expect(results.withLock { $0 } == [0, 0], "\(results.withLock { $0 })")
        #expect(served == 50)
        let (count, last) = try Self.rows(postgres)
        #expect(count == last, "positions gapless: \(count) rows, the last at \(last)")
        #expect(server.stop().status == 0)
        #expect(try Self.log(a, postgres).count == count)
        #expect(try Self.node(a, postgres, ["verify"]).status == 0)
    }

    @Test("a stalled lock holder and a synchronous standby that is down: appends end within the timeouts, never hang")
    func stalls() throws {
        let postgres = try PostgresServer()
        defer { postgres.stop() }
        #expect(try reel(["cluster", "init", "--postgres", postgres.url]).status == 0)
        let a = nodeStore()
        defer { remove(a) }
        let url = postgres.url + "?lock_timeout=1s&statement_timeout=2s"
        #expect(try Self.node(a, url: url, ["append"], input: ServeCommandTests.project(uuid()) + "\n").status == 0)
        // Another session holds the log's lock for 12 seconds: far longer than lock_timeout, and than a command takes
        // to start on a busy machine.
        let holder = DispatchGroup()
        DispatchQueue.global().async(group: holder) {
            _ = try? postgres.sql("SELECT 1 FROM reel_log FOR UPDATE; SELECT pg_sleep(12)")
        }
        Thread.sleep(forTimeInterval: 1)
        var started = Date()
        let blocked = try Self.node(a, url: url, ["append"], input: ServeCommandTests.project(uuid()) + "\n")
        #expect(blocked.status == 3 && blocked.stderr.contains("lock_timeout"), "\(blocked)")
        #expect(Date().timeIntervalSince(started) < 10, "it waited about lock_timeout, not for the holder")
        holder.wait()
        #expect(
            try Self.node(a, url: url, ["append"], input: ServeCommandTests.project(uuid()) + "\n").status == 0,
            "the lock released, appends go on")
        // A synchronous standby named that never connects: a commit waits for it, holding the log's lock. PostgreSQL
        // does not apply statement_timeout to that wait; the node stops waiting a little after it, and the outcome is
        // unknown. Other appends meanwhile fail after lock_timeout. Once the standby is not required any more, the
        // commit completes, and the retry with the same id finds it.
        let project = uuid()
        #expect(try Self.node(a, url: url, ["append"], input: ServeCommandTests.project(project) + "\n").status == 0)
        _ = try postgres.sql("ALTER SYSTEM SET synchronous_standby_names = 'absent'")
        _ = try postgres.sql("SELECT pg_reload_conf()")
        let line = ServeCommandTests.image(project, scene: 0, index: 0, id: uuid()) + "\n"
        started = Date()
        let waiting = try Self.node(a, url: url, ["append"], input: line)
        #expect(Date().timeIntervalSince(started) < 15, "the append ended: \(waiting)")
        #expect(
            waiting.status == 3 && waiting.stderr.contains("did not confirm its commit") && waiting.stderr.contains("same event ids"),
            "\(waiting)")
        started = Date()
        let behind = try Self.node(a, url: url, ["append"], input: ServeCommandTests.image(project, scene: 0, index: 1) + "\n")
        #expect(behind.status == 3 && behind.stderr.contains("lock_timeout"), "\(behind)")
        #expect(Date().timeIntervalSince(started) < 8)
        _ = try postgres.sql("ALTER SYSTEM RESET synchronous_standby_names")
        _ = try postgres.sql("SELECT pg_reload_conf()")
        let deadline = Date().addingTimeInterval(10)
        while try Self.rows(postgres).count != 4, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        #expect(try Self.rows(postgres) == (4, 4), "the commit that waited completed")
        let retried = try Self.node(a, url: url, ["append"], input: line)
        #expect(retried.status == 0 && retried.stdout.contains(#""last_position":4"#), "the retry is the same event: \(retried)")
        #expect(try Self.rows(postgres) == (4, 4))
        #expect(try Self.node(a, url: url, ["verify"]).status == 0)
    }

    @Test("kill -9 of a node mid-append: only whole groups in PostgreSQL, and the node and another catch up")
    func killedNode() throws {
        let postgres = try PostgresServer()
        defer { postgres.stop() }
        #expect(try reel(["cluster", "init", "--postgres", postgres.url]).status == 0)
        let (a, b) = (nodeStore(), nodeStore())
        defer { remove(a); remove(b) }
        let seed = testSeed("killedNode")
        var random = SeededGenerator(seed: seed)
        let file = try temporaryFile(ndjson(projectLines(40_000)))
        defer { remove(file) }
        for round in 0..<3 {
            let ended = try runKilled(
                ["--store", a, "append", file, "--postgres", postgres.url], after: Double.random(in: 0.4...1.5, using: &random))
            #expect(ended == .killed || ended == .exited(1), "round \(round): \(ended)")
            let (count, last) = try Self.rows(postgres)
            #expect(count == last, "round \(round): positions 1…\(last) without a gap (\(count) rows)")
            let head = Int(try postgres.sql("SELECT head_position FROM reel_log")) ?? -1
            #expect(head == last, "round \(round): the head row is the last event")
            #expect(try Self.log(a, postgres).count == last, "round \(round): the killed node catches up")
        }
        #expect(try Self.log(b, postgres) == Self.log(a, postgres))
        for store in [a, b] { #expect(try Self.node(store, postgres, ["verify"]).status == 0) }
    }

    @Test("a node down while 100,000 events are appended elsewhere catches up when it starts")
    func longAbsence() throws {
        let postgres = try PostgresServer()
        defer { postgres.stop() }
        #expect(try reel(["cluster", "init", "--postgres", postgres.url]).status == 0)
        let (a, b) = (nodeStore(), nodeStore())
        defer { remove(a); remove(b) }
        #expect(try Self.node(b, postgres, ["append"], input: ServeCommandTests.project(uuid()) + "\n").status == 0)
        let file = try temporaryFile(ndjson(projectLines(100_000)))
        defer { remove(file) }
        let appended = try Self.node(a, postgres, ["append", file])
        #expect(appended.status == 0, "\(appended.stderr.suffix(1_000))")
        let (count, last) = try Self.rows(postgres)
        #expect(count == last && count > 100_000, "\(count) rows, the last at \(last)")
        let stats = try parseObject(try Self.node(b, postgres, ["stats", "--json"]).stdout)
        #expect(stats["events"] as? Int == count, "the node that was down holds every event: \(stats["events"] ?? "none")")
        #expect(try Self.node(b, postgres, ["export"]).stdout == Self.node(a, postgres, ["export"]).stdout)
        for store in [a, b] { #expect(try Self.node(store, postgres, ["verify"]).status == 0) }
    }

    @Test("an export imports into a new cluster's log, whole, and every node reads it; a log with events refuses an import")
    func importIntoCluster() throws {
        let postgres = try PostgresServer()
        defer { postgres.stop() }
        #expect(try reel(["cluster", "init", "--postgres", postgres.url]).status == 0)
        let single = nodeStore()
        defer { remove(single) }
        #expect(try append(ndjson(projectLines(3_000)), to: single).status == 0)
        let exported = try reel(["export", "--store", single])
        let file = try temporaryFile(exported.stdout)
        defer { remove(file) }
        let events = exported.stdoutLines.count - 1
        let (a, b, c) = (nodeStore(), nodeStore(), nodeStore())
        defer { remove(a); remove(b); remove(c) }
        let imported = try Self.node(a, postgres, ["import", file])
        #expect(imported.status == 0 && imported.stdout.contains("\"imported\":\(events)"), "\(imported)")
        #expect(try Self.rows(postgres) == (events, events))
        #expect(try Self.node(b, postgres, ["export"]).stdout == exported.stdout, "another node reads the same log")
        #expect(try Self.node(a, postgres, ["export"]).stdout == exported.stdout, "the importing node is a node of it")
        let next = try Self.node(b, postgres, ["append"], input: ServeCommandTests.project(uuid()) + "\n")
        #expect(next.status == 0 && next.stdout.contains("\"last_position\":\(events + 1)"), "\(next)")
        let again = try Self.node(c, postgres, ["import", file])
        #expect(again.status == 1 && again.stderr.contains("empty log"), "\(again)")
        #expect(!FileManager.default.fileExists(atPath: c + "/data.mdb"), "the refused import made no store")
        for store in [a, b] { #expect(try Self.node(store, postgres, ["verify"]).status == 0) }
    }

    @Test("`reel append` across a PostgreSQL restart: the log holds a prefix of its lines, none past the failed group, and it says where it stopped")
    func bulkAppendAcrossRestart() throws {
        let postgres = try PostgresServer()
        defer { postgres.stop() }
        #expect(try reel(["cluster", "init", "--postgres", postgres.url]).status == 0)
        let a = nodeStore()
        let work = temporaryStorePath()
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { for path in [a, work] { remove(path) } }
        let project = uuid()
        let input = work + "/input.ndjson"
        try ndjson([ServeCommandTests.project(project)] + (0..<300_000).map { ServeCommandTests.image(project, scene: 0, index: $0) })
            .write(toFile: input, atomically: false, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: builtExecutable("reel"))
        process.arguments = ["--store", a, "--postgres", postgres.url, "append", input]
        FileManager.default.createFile(atPath: work + "/out", contents: nil)
        FileManager.default.createFile(atPath: work + "/err", contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: work + "/out")
        process.standardError = FileHandle(forWritingAtPath: work + "/err")
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Once the first group is in the log, PostgreSQL goes down and comes back while later groups are queued.
        let deadline = Date().addingTimeInterval(120)
        while process.isRunning, Date() < deadline, (try? Self.rows(postgres).count) ?? 0 == 0 { Thread.sleep(forTimeInterval: 0.01) }
        postgres.halt("immediate")
        Thread.sleep(forTimeInterval: 0.5)
        try postgres.start()
        let ended = Date().addingTimeInterval(300)
        while process.isRunning, Date() < ended { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        let out = (try? String(contentsOfFile: work + "/out", encoding: .utf8)) ?? ""
        let err = (try? String(contentsOfFile: work + "/err", encoding: .utf8)) ?? ""
        try #require(process.terminationStatus == 3, "the append ended with \(process.terminationStatus) (it must meet the restart): \(out) \(err.suffix(2_000))")
        let appended = try #require(Int(out.firstMatch(of: /"appended":(\d+)/)?.1 ?? ""), "\(out)")
        let line = try #require(Int(err.firstMatch(of: /line (\d+): not/)?.1 ?? ""), "\(err)")
        // Every line before the failed one was acknowledged; the log holds those lines, in order, and at most the failed
        // line's group after them (its commit may have been made as the connection went).
        #expect(appended == line - 1, "\(out) \(err)")
        let (count, last) = try Self.rows(postgres)
        let inOrder = try postgres.sql(
            "SELECT count(*) FROM reel_events WHERE position > 1 AND (convert_from(data, 'UTF8')::jsonb ->> 'image_index')::bigint = position - 2")
        #expect(count == last && Int(inOrder) == count - 1, "a prefix of the input, in order: \(count) rows, up to \(last), \(inOrder) in place")
        #expect(count >= appended)
        if err.contains("not appended") { #expect(count == appended, "\(err)") }
        #expect(try Self.node(a, postgres, ["verify"]).status == 0)
    }

    @Test("PostgreSQL restarted under load: the service reconnects; failed appends are retried with their ids, none twice")
    func restartUnderLoad() throws {
        let postgres = try PostgresServer()
        defer { postgres.stop() }
        #expect(try reel(["cluster", "init", "--postgres", postgres.url]).status == 0)
        let a = nodeStore()
        defer { remove(a) }
        let server = try ServeProcess(store: a, ["--postgres", postgres.url])
        let project = uuid()
        #expect(try http("POST", server.url + "/v1/events", body: ndjsonBody([ServeCommandTests.project(project)])).status == 200)
        let (ids, failures) = try Self.appendUnderLoad(server, project: project) { waitForMore in
            #expect(waitForMore(10), "appends before the restart")
            postgres.halt()
            Thread.sleep(forTimeInterval: 0.5)
            try postgres.start()
            #expect(waitForMore(10), "appends after the restart")
        }
        #expect(failures.allSatisfy { $0 == 503 }, "failures are 503, to be retried: \(Set(failures))")
        #expect(!ids.isEmpty)
        let stored = try postgres.sql("SELECT count(*), count(DISTINCT id) FROM reel_events").split(separator: "|").map { Int($0) ?? -1 }
        #expect(
            stored[0] == stored[1] && stored[0] == ids.count + 1,
            "every acknowledged image once, none twice: \(stored), \(ids.count) acknowledged")
        let stopped = server.stop()
        #expect(stopped.status == 0, "\(stopped.log.suffix(2_000))")
        #expect(try Self.log(a, postgres).count == ids.count + 1)
        #expect(try Self.node(a, postgres, ["verify"]).status == 0)
    }

    @Test(
        "failover: the primary killed under load, its synchronous standby promoted; the node moves to it and every acknowledged event is there"
    )
    func failover() throws {
        let primary = try PostgresServer(settings: ["synchronous_standby_names=standby", "synchronous_commit=on"])
        defer { primary.stop() }
        let standby = try PostgresServer(standbyOf: primary, name: "standby")
        defer { standby.stop() }
        let deadline = Date().addingTimeInterval(60)
        while try primary.sql("SELECT coalesce(string_agg(sync_state, ','), '') FROM pg_stat_replication") != "sync" {
            try #require(Date() < deadline, "the standby never became synchronous")
            Thread.sleep(forTimeInterval: 0.1)
        }
        // The primary first, then its standby: a node keeps the first that is a primary.
        let url = "postgres://postgres@127.0.0.1:\(primary.port),127.0.0.1:\(standby.port)/postgres"
        #expect(try reel(["cluster", "init", "--postgres", url]).status == 0)
        let a = nodeStore()
        defer { remove(a) }
        let server = try ServeProcess(store: a, ["--postgres", url])
        let project = uuid()
        #expect(try http("POST", server.url + "/v1/events", body: ndjsonBody([ServeCommandTests.project(project)])).status == 200)
        var before = 0
        let (ids, failures) = try Self.appendUnderLoad(server, project: project) { waitForMore in
            #expect(waitForMore(20), "appends before the failover")
            try primary.kill()
            before = Int(try standby.sql("SELECT count(*) FROM reel_events")) ?? -1
            Thread.sleep(forTimeInterval: 0.5)
            try standby.promote()
            #expect(waitForMore(20), "appends after the failover, on the promoted standby")
        }
        #expect(failures.allSatisfy { $0 == 503 }, "failures are 503, to be retried: \(Set(failures))")
        print("failover: \(before) rows on the standby when the primary died; \(ids.count) acknowledged, \(failures.count) failed attempts")
        #expect(before > 1, "appends were acknowledged before the primary died: \(before)")
        let stored = try standby.sql("SELECT count(*), count(DISTINCT id) FROM reel_events").split(separator: "|").map { Int($0) ?? -1 }
        #expect(
            stored[0] == stored[1] && stored[0] == ids.count + 1,
            "every acknowledged image on the promoted standby, once: \(stored), \(ids.count) acknowledged")
        #expect(try standby.sql("SELECT max(position) = count(*) FROM reel_events") == "t", "positions gapless")
        let stopped = server.stop()
        #expect(stopped.status == 0, "\(stopped.log.suffix(2_000))")
        #expect(try Self.node(a, url: url, ["read"]).stdoutLines.count == ids.count + 1)
        #expect(try Self.node(a, url: url, ["verify"]).status == 0)
    }

    @Test("an append on one node reaches another node's subscribers, in order")
    func followAcrossNodes() throws {
        let postgres = try PostgresServer()
        defer { postgres.stop() }
        #expect(try reel(["cluster", "init", "--postgres", postgres.url]).status == 0)
        let (a, b) = (nodeStore(), nodeStore())
        defer { remove(a); remove(b) }
        let (serverA, serverB) = (
            try ServeProcess(store: a, ["--postgres", postgres.url]), try ServeProcess(store: b, ["--postgres", postgres.url])
        )
        let subscriber = try EventStreamReader(serverB.url + "/v1/subscribe")
        let project = uuid()
        #expect(try http("POST", serverA.url + "/v1/events", body: ndjsonBody([ServeCommandTests.project(project)])).status == 200)
        for index in 0..<20 {
            #expect(
                try http("POST", serverA.url + "/v1/events", body: ndjsonBody([ServeCommandTests.image(project, scene: 0, index: index)]))
                    .status == 200)
        }
        #expect(subscriber.wait(seconds: 30) { $0.events.count == 21 }, "\(subscriber.events.count) of 21")
        #expect(subscriber.events.map(\.id) == Array(1...21), "every position once, in order")
        let scenes = try http("GET", serverB.url + "/v1/queries/images-by-scene?project=\(project)")
        #expect(scenes.status == 200 && String(decoding: scenes.body, as: UTF8.self).contains("\"image_urls\""))
        subscriber.stop()
        #expect(serverA.stop().status == 0)
        #expect(serverB.stop().status == 0)
        for store in [a, b] { #expect(try Self.node(store, postgres, ["verify"]).status == 0) }
    }
}
