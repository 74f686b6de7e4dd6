import Foundation
import PostgresFixture
import Testing

/// Operating a cluster with `reel`: imports into a cluster that are interrupted or go to a node already started,
/// `cluster init` run at once by several, `cluster status` of an empty log, `audit verify` of the log in PostgreSQL,
/// TLS, and errors that retrying does not cure.
@Suite("Operating a cluster")
struct ClusterOperationsTests {
    /// The JSON object a command printed.
    static func object(_ text: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]) ?? [:]
    }

    /// The events a node's store holds, read on its own (no log): what a refusal must leave as it was.
    static func events(_ store: String) throws -> Int? {
        object(try reel(["stats", "--store", store, "--json"]).stdout)["events"] as? Int
    }

    /// Waits up to `seconds` for `condition`.
    static func wait(_ seconds: Double, for condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return try condition()
    }

    @Test("an import killed after filling its store, before the log took its events, leaves a store no command takes; importing again fills both")
    func importKilledWhileLoading() throws {
        let postgres = try PostgresServer()
        defer { postgres.stop() }
        #expect(try reel(["cluster", "init", "--postgres", postgres.url]).status == 0)
        let (single, file) = try storeAndExport(events: 2_500)
        defer { remove(single); remove(file) }
        let node = nodeStore()
        defer { remove(node) }
        // Another session holds the log's lock: the import restores its store, then waits for the lock to load the log.
        let holder = DispatchGroup()
        DispatchQueue.global().async(group: holder) {
            _ = try? postgres.sql("SELECT 1 FROM reel_log FOR UPDATE; SELECT pg_sleep(60)")
        }
        let url = postgres.url + "?lock_timeout=60s"
        // The store and the cluster given before the command, as the documentation writes it.
        let importing = try startReel(["--store", node, "--postgres", url, "import", file])
        let waiting = try Self.wait(60) {
            try postgres.sql(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'reel' AND wait_event_type = 'Lock' AND query LIKE '%FOR UPDATE%'"
            ) == "1"
        }
        #expect(waiting, "the import reached the log's lock")
        kill(importing.processIdentifier, SIGKILL)
        importing.waitUntilExit()
        _ = try postgres.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()")
        holder.wait()
        #expect(try ClusterTests.rows(postgres) == (0, 0), "the log took nothing")
        for command in [["stats"], ["append"]] {
            let refused = try ClusterTests.node(node, postgres, command, input: "")
            #expect(refused.status == 3 && refused.stderr.contains(unfinishedImportMessage(node)), "\(command): \(refused)")
            // Started again as a node's import: with the cluster's URL.
            #expect(refused.stderr.contains("--postgres URL"), "\(command): \(refused)")
        }
        let again = try reel(["--store", node, "--postgres", postgres.url, "import", file])
        #expect(again.status == 0 && again.stdout.contains("\"imported\":2500"), "\(again)")
        #expect(try ClusterTests.rows(postgres) == (2_500, 2_500))
        let other = nodeStore()
        defer { remove(other) }
        let original = try reel(["export", "--store", single]).stdout
        #expect(try ClusterTests.node(other, postgres, ["export"]).stdout == original)
        #expect(try ClusterTests.node(node, postgres, ["export"]).stdout == original)
        for store in [node, other] { #expect(try ClusterTests.node(store, postgres, ["verify"]).status == 0) }
    }

    @Test("an import into a node already started (its store empty) fills the cluster; a node of another cluster is refused")
    func importIntoStartedNode() throws {
        let (first, second) = (try PostgresServer(), try PostgresServer())
        defer { first.stop(); second.stop() }
        for server in [first, second] { #expect(try reel(["cluster", "init", "--postgres", server.url]).status == 0) }
        let (single, file) = try storeAndExport(events: 300)
        defer { remove(single); remove(file) }
        let (node, foreign) = (nodeStore(), nodeStore())
        defer { remove(node); remove(foreign) }
        // A node's first command makes its store, a replica of an empty log.
        #expect(try ClusterTests.node(node, first, ["stats"]).status == 0)
        #expect(try ClusterTests.node(foreign, second, ["stats"]).status == 0)
        let imported = try ClusterTests.node(node, first, ["import", file])
        #expect(imported.status == 0 && imported.stdout.contains("\"imported\":300"), "\(imported)")
        #expect(try ClusterTests.rows(first) == (300, 300))
        #expect(try ClusterTests.node(node, first, ["export"]).stdout == reel(["export", "--store", single]).stdout)
        // Another empty cluster, in another database of the first server.
        _ = try first.sql("CREATE DATABASE other")
        let other = "postgres://postgres@127.0.0.1:\(first.port)/other"
        #expect(try reel(["cluster", "init", "--postgres", other]).status == 0)
        let refused = try ClusterTests.node(foreign, url: other, ["import", file])
        #expect(refused.status == 3 && refused.stderr.contains("is a replica of the log of record"), "\(refused)")
        #expect(try ClusterTests.rows(second) == (0, 0))
        #expect(try ClusterTests.node(foreign, second, ["stats"]).status == 0, "the refused import left the other node as it was")
        #expect(try ClusterTests.node(node, first, ["verify"]).status == 0)
    }

    @Test("an import the log fails removes a store it made, and leaves a node's store it was given empty, as it was")
    func importTheLogFails() throws {
        let postgres = try PostgresServer()
        defer { postgres.stop() }
        #expect(try reel(["cluster", "init", "--postgres", postgres.url]).status == 0)
        let (single, file) = try storeAndExport(events: 200)
        defer { remove(single); remove(file) }
        // The log refuses every row, as a full disk or a broken constraint would.
        _ = try postgres.sql(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused by a test'; END $$; "
                + "CREATE TRIGGER refuse BEFORE INSERT ON reel_events FOR EACH STATEMENT EXECUTE FUNCTION refuse()")
        let (made, given) = (nodeStore(), nodeStore())
        defer { remove(made); remove(given) }
        #expect(try ClusterTests.node(given, postgres, ["stats"]).status == 0)
        for store in [made, given] {
            let failed = try ClusterTests.node(store, postgres, ["import", file])
            #expect(failed.status == 3 && failed.stderr.contains("refused by a test") && failed.stderr.contains("holds none of them"), "\(failed)")
        }
        #expect(!FileManager.default.fileExists(atPath: made), "the store the import made is gone")
        let emptied = try ClusterTests.node(given, postgres, ["stats", "--json"])
        #expect(emptied.status == 0 && Self.object(emptied.stdout)["events"] as? Int == 0, "\(emptied)")
        #expect(try ClusterTests.rows(postgres) == (0, 0))
        _ = try postgres.sql("DROP TRIGGER refuse ON reel_events")
        let again = try ClusterTests.node(given, postgres, ["import", file])
        #expect(again.status == 0 && again.stdout.contains("\"imported\":200"), "\(again)")
        #expect(try ClusterTests.node(given, postgres, ["verify"]).status == 0)
    }

    @Test("PostgreSQL frozen under a running node: an append fails within one statement_timeout and its margin, not twice that")
    func frozenLog() throws {
        let postgres = try PostgresServer()
        defer { postgres.stop() }
        #expect(try reel(["cluster", "init", "--postgres", postgres.url]).status == 0)
        let node = nodeStore()
        defer { remove(node) }
        let server = try ServeProcess(store: node, ["--postgres", postgres.url + "?statement_timeout=4s"])
        func append() throws -> HTTPAnswer {
            try http("POST", server.url + "/v1/events", body: Data((ServeCommandTests.project(uuid()) + "\n").utf8), timeout: 120)
        }
        #expect(try append().status == 200)
        // The server and every process of it stopped: the node's connections stay open, and nothing answers.
        let text = try String(contentsOfFile: postgres.data + "/postmaster.pid", encoding: .utf8)
        let postmaster = try #require(text.split(separator: "\n").first.flatMap { pid_t($0) })
        let children = (try? String(contentsOfFile: "/proc/\(postmaster)/task/\(postmaster)/children", encoding: .utf8)) ?? ""
        let frozen = [postmaster] + children.split(separator: " ").compactMap { pid_t($0) }
        for pid in frozen { kill(pid, SIGSTOP) }
        defer { for pid in frozen { kill(pid, SIGCONT) } }
        let started = Date()
        let failed = try append()
        let took = Date().timeIntervalSince(started)
        #expect(failed.status == 503 && failed.text.contains("no answer within the time allowed"), "\(failed)")
        #expect(took < 15, "took \(took) s: statement_timeout 4 s, plus 5 s for the answer")
        for pid in frozen { kill(pid, SIGCONT) }
        #expect(try Self.wait(30) { try append().status == 200 }, "appends go on once PostgreSQL answers")
        _ = server.stop()
        #expect(try ClusterTests.node(node, postgres, ["verify"]).status == 0)
    }

    @Test("`cluster init` run by several at once: one schema, one identity, and only one says it made them")
    func initAtOnce() throws {
        let postgres = try PostgresServer()
        defer { postgres.stop() }
        // The schema's advisory lock held meanwhile, so that the four wait for it together.
        let holder = DispatchGroup()
        DispatchQueue.global().async(group: holder) {
            _ = try? postgres.sql("SELECT pg_advisory_lock(7370656); SELECT pg_sleep(3)")
        }
        #expect(try Self.wait(10) { try postgres.sql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted") == "1" })
        let runs = Locked<[Run]>([])
        let threads = (0..<4).map { _ in
            Thread {
                if let run = try? reel(["cluster", "init", "--postgres", postgres.url]) { runs.withLock { $0.append(run) } }
            }
        }
        for thread in threads { thread.start() }
        #expect(try Self.wait(60) { runs.withLock { $0.count } == 4 })
        holder.wait()
        let all = runs.withLock { $0 }
        #expect(all.count == 4 && all.allSatisfy { $0.status == 0 }, "\(all)")
        #expect(all.filter { $0.stdout.contains("\"created\":true") }.count == 1, "\(all.map(\.stdout))")
        let identities = Set(all.compactMap { Self.object($0.stdout)["identity"] as? String })
        let identity = try postgres.sql("SELECT identity FROM reel_log")
        #expect(identities == [identity], "\(identities)")
        let node = nodeStore()
        defer { remove(node) }
        #expect(try ClusterTests.node(node, postgres, ["verify"]).status == 0)
    }

    @Test("`cluster status` lists the nodes of an empty log")
    func statusOfEmptyLog() throws {
        let postgres = try PostgresServer()
        defer { postgres.stop() }
        #expect(try reel(["cluster", "init", "--postgres", postgres.url]).status == 0)
        let node = nodeStore()
        defer { remove(node) }
        #expect(try ClusterTests.node(node, postgres, ["stats"]).status == 0)
        let status = try reel(["cluster", "status", "--json", "--postgres", postgres.url])
        let nodes = Self.object(status.stdout)["nodes"] as? [[String: Any]] ?? []
        #expect(status.status == 0 && nodes.count == 1, "\(status)")
        #expect((nodes.first?["node"] as? String)?.hasSuffix(URL(fileURLWithPath: node).standardizedFileURL.path) == true, "\(nodes)")
        #expect(nodes.first?["head"] as? Int == 0 && nodes.first?["lag"] as? Int == 0)
        #expect(try ClusterTests.node(node, postgres, ["verify"]).status == 0)
    }

    @Test("`cluster status` shows the log's own format, and a damaged row of reel_nodes among the others, escaped, without failing")
    func statusWithDamagedReports() throws {
        let postgres = try PostgresServer()
        defer { postgres.stop() }
        #expect(try reel(["cluster", "init", "--postgres", postgres.url]).status == 0)
        let node = nodeStore()
        defer { remove(node) }
        #expect(try ClusterTests.appendProject(uuid(), node, postgres).status == 0)
        _ = try postgres.sql(
            """
            INSERT INTO reel_nodes (node, replica_head, updated_at) VALUES
                ('negative', -1, now()), ('forever', 3, 'infinity'), ('future', 2, now() + interval '1 hour'), (E'two\\nlines\\u001b[31m', 4, now());
            UPDATE reel_log SET format = 0
            """)
        let text = try reel(["cluster", "status", "--postgres", postgres.url])
        #expect(text.status == 3 && text.stderr.contains("format 0, which no Reel writes"), "\(text)")
        _ = try postgres.sql("UPDATE reel_log SET format = 1")
        let status = try reel(["cluster", "status", "--postgres", postgres.url])
        #expect(status.status == 0 && status.stdout.contains("format 1"), "\(status)")
        #expect(status.stdout.contains("negative  unreadable: its replica_head is -1"), "\(status)")
        #expect(status.stdout.contains("forever  unreadable: its updated_at is not a time"), "\(status)")
        #expect(status.stdout.contains("future  head 2  lag 9  reported 0.0 s ago"), "\(status)")
        #expect(status.stdout.contains("two\\nlines\\u{1b}[31m  head 4"), "\(status)")
        #expect(!status.stdout.contains("\u{1b}"))
        let json = try reel(["cluster", "status", "--json", "--postgres", postgres.url])
        let nodes = Self.object(json.stdout)["nodes"] as? [[String: Any]] ?? []
        #expect(json.status == 0 && nodes.count == 5, "\(json)")
        #expect(nodes.contains { $0["node"] as? String == "negative" && $0["unreadable"] as? String == "its replica_head is -1" }, "\(nodes)")
        #expect(try ClusterTests.node(node, postgres, ["verify"]).status == 0)
    }

    @Test("a head row set back behind rows of the log: a new node takes in only what the head row counts, and an append is refused as the log's damage")
    func headRowSetBack() throws {
        let postgres = try PostgresServer()
        defer { postgres.stop() }
        #expect(try reel(["cluster", "init", "--postgres", postgres.url]).status == 0)
        let (a, b) = (nodeStore(), nodeStore())
        defer { for path in [a, b] { remove(path) } }
        let project = uuid()
        #expect(try ClusterTests.appendProject(project, a, postgres).status == 0)
        _ = try postgres.sql("UPDATE reel_log SET head_position = 2, head_hash = (SELECT hash FROM reel_events WHERE position = 2)")
        let stats = try ClusterTests.node(b, postgres, ["stats", "--json"])
        #expect(stats.status == 0 && stats.stdout.contains(#""events":2,"#), "\(stats)")
        let appended = try ClusterTests.node(b, postgres, ["append"], input: ndjson([ServeCommandTests.image(project, scene: 1, index: 0)]))
        #expect(appended.status == 3 && appended.stderr.contains("conflicts with a row already in reel_events"), "\(appended)")
        #expect(!appended.stderr.contains("try again"), "\(appended)")
        // The node that holds the rows past the head row keeps them.
        let kept = try ClusterTests.node(a, postgres, ["stats", "--json"])
        #expect(kept.status == 0 && kept.stdout.contains(#""events":11,"#), "\(kept)")
        #expect(try reel(["stats", "--json", "--store", a]).stdout.contains(#""events":11,"#))
        _ = try postgres.sql("UPDATE reel_log SET head_position = 11, head_hash = (SELECT hash FROM reel_events WHERE position = 11)")
        for store in [a, b] { #expect(try ClusterTests.node(store, postgres, ["verify"]).status == 0) }
    }

    @Test("`replay … query` takes `--postgres` after the cut as the replay's, as it takes `--store`")
    func replayWithTrailingPostgres() throws {
        let postgres = try PostgresServer()
        defer { postgres.stop() }
        #expect(try reel(["cluster", "init", "--postgres", postgres.url]).status == 0)
        let (a, b) = (nodeStore(), nodeStore())
        defer { for path in [a, b] { remove(path) } }
        let project = uuid()
        #expect(try ClusterTests.appendProject(project, a, postgres).status == 0)
        // b is made by the replay itself, from the log: the query after the cut sees position 6 (five images).
        let replayed = try reel(["replay", "--store", b, "--to", "6", "query", "images-by-scene", "--project", project, "--postgres", postgres.url])
        #expect(replayed.status == 0 && replayed.stdout.components(separatedBy: "cdn.example").count == 6, "\(replayed)")
        let garbage = try reel(["replay", "--store", b, "--to", "6", "query", "images-by-scene", "--project", project, "--postgres=garbage://"])
        #expect(garbage.status == 2 && garbage.stderr.contains("not a postgres:// URL"), "\(garbage)")
        #expect(try ClusterTests.node(b, postgres, ["verify"]).status == 0)
    }

    @Test("a log whose head row was deleted while it holds events is refused, not retried, and `cluster init` does not start another log over it")
    func headRowDeleted() throws {
        let postgres = try PostgresServer()
        defer { postgres.stop() }
        #expect(try reel(["cluster", "init", "--postgres", postgres.url]).status == 0)
        let node = nodeStore()
        defer { remove(node) }
        #expect(try ClusterTests.appendProject(uuid(), node, postgres).status == 0)
        let identity = try postgres.sql("SELECT identity FROM reel_log")
        _ = try postgres.sql("DELETE FROM reel_log")
        let stats = try ClusterTests.node(node, postgres, ["stats"])
        #expect(stats.status == 3 && stats.stderr.contains("refused") && stats.stderr.contains("no head row"), "\(stats)")
        #expect(!stats.stderr.contains("try again"), "\(stats)")
        let initialized = try reel(["cluster", "init", "--postgres", postgres.url])
        #expect(initialized.status == 3 && initialized.stderr.contains("restore it from a backup"), "\(initialized)")
        #expect(try postgres.sql("SELECT count(*) FROM reel_log") == "0", "no new head row")
        // The head row put back, the node goes on.
        _ = try postgres.sql(
            "INSERT INTO reel_log SELECT true, 1, '\(identity)', position, hash FROM reel_events ORDER BY position DESC LIMIT 1")
        #expect(try ClusterTests.node(node, postgres, ["stats"]).status == 0)
        // A column emptied, or made another type, in PostgreSQL: refused naming the column, never "try again".
        let fresh = nodeStore()
        defer { remove(fresh) }
        for (alteration, expected) in [
            ("ALTER TABLE reel_events ALTER COLUMN recorded_at TYPE numeric", "its column recorded_at holds a value of type NUMERIC"),
            ("ALTER TABLE reel_events ALTER COLUMN recorded_at TYPE bigint; ALTER TABLE reel_log ALTER COLUMN head_hash DROP NOT NULL; UPDATE reel_log SET head_hash = NULL", "its column head_hash holds NULL"),
        ] {
            _ = try postgres.sql(alteration)
            let refused = try ClusterTests.node(fresh, postgres, ["stats"])
            #expect(refused.status == 3 && refused.stderr.contains("refused") && refused.stderr.contains(expected), "\(refused)")
            #expect(!refused.stderr.contains("try again"), "\(refused)")
        }
        _ = try postgres.sql("UPDATE reel_log SET head_hash = (SELECT hash FROM reel_events ORDER BY position DESC LIMIT 1)")
        #expect(try ClusterTests.node(node, postgres, ["verify"]).status == 0)
    }

    @Test("`audit verify --postgres` checks the log in PostgreSQL: a row altered there, a head row past the last event; a node refuses the altered row")
    func verifyTheLog() throws {
        let postgres = try PostgresServer()
        defer { postgres.stop() }
        #expect(try reel(["cluster", "init", "--postgres", postgres.url]).status == 0)
        let (a, fresh) = (nodeStore(), nodeStore())
        defer { remove(a); remove(fresh) }
        #expect(try ClusterTests.appendProject(uuid(), a, postgres).status == 0)
        let ok = try ClusterTests.node(a, postgres, ["audit", "verify"])
        #expect(ok.status == 0 && ok.stdout == "OK\n", "\(ok)")
        // A node's first command, audit verify too, makes its store from the log.
        let first = try ClusterTests.node(fresh, postgres, ["audit", "verify"])
        #expect(first.status == 0 && first.stdout == "OK\n", "\(first)")
        // The row's data changed in PostgreSQL, its hash kept: a replica that holds the event would not look again.
        _ = try postgres.sql("UPDATE reel_events SET data = convert_to('{\"altered\":true}', 'UTF8') WHERE position = 5")
        let found = try ClusterTests.node(a, postgres, ["audit", "verify"])
        #expect(found.status == 1 && found.stdout.contains("position 5") && found.stdout.contains("altered in PostgreSQL"), "\(found)")
        #expect(found.stdout.split(separator: "\n").count == 1, "that row only: \(found.stdout)")
        // A node's service checks the log too.
        let served = try ServeProcess(store: a, ["--postgres", postgres.url])
        let answer = try http("GET", served.url + "/v1/audit/verify?log_only=true", timeout: 60)
        #expect(answer.status == 200 && answer.json["ok"] as? Bool == false, "\(answer)")
        #expect((answer.json["problems"] as? [String] ?? []).contains { $0.contains("position 5") && $0.contains("altered in PostgreSQL") }, "\(answer)")
        _ = served.stop()
        // A node that has yet to read the row refuses it as the log's damage, and keeps its replica; one that holds it
        // goes on.
        let late = nodeStore()
        defer { remove(late) }
        let refused = try ClusterTests.node(late, postgres, ["stats"])
        #expect(
            refused.status == 3 && refused.stderr.contains("position 5") && refused.stderr.contains("does not give its own hash")
                && !refused.stderr.contains("diverged"), "\(refused)")
        #expect(try ClusterTests.node(fresh, postgres, ["stats"]).status == 0)
        _ = try postgres.sql("UPDATE reel_log SET head_position = 12")
        let head = try ClusterTests.node(a, postgres, ["audit", "verify", "--log-only"])
        #expect(head.status == 1 && head.stdout.contains("missing: the head row says position 12"), "\(head)")
    }

    @Test("an event altered in PostgreSQL is refused as the log's damage wherever a node meets it, and the node's replica is kept")
    func alteredEventsKeepTheReplica() throws {
        let postgres = try PostgresServer()
        defer { postgres.stop() }
        #expect(try reel(["cluster", "init", "--postgres", postgres.url]).status == 0)
        let (a, b) = (nodeStore(), nodeStore())
        defer { remove(a); remove(b) }
        // b holds the first project's 11 events; a appends 11 more, and the first of them is altered in PostgreSQL:
        // the first event b reads.
        #expect(try ClusterTests.appendProject(uuid(), a, postgres).status == 0)
        #expect(try ClusterTests.node(b, postgres, ["stats"]).status == 0)
        #expect(try ClusterTests.appendProject(uuid(), a, postgres).status == 0)
        _ = try postgres.sql("UPDATE reel_events SET data = convert_to('{\"altered\":true}', 'UTF8') WHERE position = 12")
        for command in [["stats"], ["append"]] {
            let input = command == ["append"] ? ndjson([ServeCommandTests.project(uuid())]) : nil
            let refused = try ClusterTests.node(b, postgres, command, input: input)
            #expect(
                refused.status == 3 && refused.stderr.contains("position 12") && refused.stderr.contains("does not give its own hash")
                    && !refused.stderr.contains("diverged"), "\(command): \(refused)")
            #expect(try Self.events(b) == 11, "b's replica is kept")
        }
        // a holds all 22; its head event's data is altered in PostgreSQL, its hash kept: a's next append is refused, and
        // nothing is written after it.
        _ = try postgres.sql("UPDATE reel_events SET data = convert_to('{\"altered\":true}', 'UTF8') WHERE position = 22")
        let appended = try ClusterTests.node(a, postgres, ["append"], input: ndjson([ServeCommandTests.project(uuid())]))
        #expect(
            appended.status == 3 && appended.stderr.contains("position 22") && appended.stderr.contains("does not give its own hash"),
            "\(appended)")
        #expect(try postgres.sql("SELECT count(*) FROM reel_events") == "22" && (try Self.events(a)) == 22)
        // Then the hash of its head event is altered in PostgreSQL too: a no longer finds its head in the log,
        // and refuses the log's record rather than erase its replica for a log that cannot rebuild it.
        _ = try postgres.sql("UPDATE reel_events SET hash = decode(repeat('ab', 32), 'hex') WHERE position = 22")
        let refused = try ClusterTests.node(a, postgres, ["stats"])
        #expect(
            refused.status == 3 && refused.stderr.contains("position 22") && refused.stderr.contains("does not give its own hash")
                && !refused.stderr.contains("rebuilt"), "\(refused)")
        #expect(try Self.events(a) == 22, "a's replica is kept")
        // Its own store, read alone, is whole.
        let verified = try reel(["verify", "--store", a])
        #expect(verified.status == 0, "\(verified)")
    }

    @Test("rows missing from the log in PostgreSQL: nodes refuse them as the log's damage, keep their replicas, never append after a gap")
    func missingRows() throws {
        let postgres = try PostgresServer()
        defer { postgres.stop() }
        #expect(try reel(["cluster", "init", "--postgres", postgres.url]).status == 0)
        let (a, b) = (nodeStore(), nodeStore())
        defer { remove(a); remove(b) }
        #expect(try ClusterTests.appendProject(uuid(), a, postgres).status == 0)
        #expect(try ClusterTests.node(b, postgres, ["stats"]).status == 0)
        #expect(try ClusterTests.appendProject(uuid(), a, postgres).status == 0)
        // Rows missing past a lagging node's head (b at 11): named as missing, at the start of what b reads and inside it.
        for gap in [13, 12] {
            _ = try postgres.sql("DELETE FROM reel_events WHERE position = \(gap)")
            let refused = try ClusterTests.node(b, postgres, ["stats"])
            #expect(refused.status == 3 && refused.stderr.contains("no event at position \(gap)"), "\(refused)")
            #expect(try Self.events(b) == 11)
        }
        // A running node: the log's last row deleted under it. Its next append is refused, and nothing is written.
        let served = try ServeProcess(store: a, ["--postgres", postgres.url])
        _ = try postgres.sql("DELETE FROM reel_events WHERE position = 22")
        let answer = try http("POST", served.url + "/v1/events", body: Data(ndjson([ServeCommandTests.project(uuid())]).utf8))
        #expect(answer.status == 503 && String(decoding: answer.body, as: UTF8.self).contains("no event there"), "\(answer)")
        #expect(try postgres.sql("SELECT count(*) FROM reel_events") == "19")
        _ = served.stop()
        // The row at a node's head deleted (b at 11), the log's head row (a at 22), then every row: each node refuses, and
        // keeps what it holds.
        _ = try postgres.sql("DELETE FROM reel_events WHERE position = 11")
        for (store, head) in [(b, 11), (a, 22), (b, 11)] {
            let refused = try ClusterTests.node(store, postgres, ["stats"])
            #expect(
                refused.status == 3 && refused.stderr.contains("no event at position \(head)") && !refused.stderr.contains("rebuilt"),
                "\(refused)")
            #expect(try Self.events(store) == head, "the replica is kept")
            if store == a { _ = try postgres.sql("TRUNCATE reel_events") }
        }
        // A node's place in reel_nodes made negative: `cluster status` names the row as unreadable, never traps on it.
        _ = try postgres.sql("UPDATE reel_nodes SET replica_head = -1")
        let status = try reel(["cluster", "status", "--postgres", postgres.url])
        #expect(status.status == 0 && status.stdout.contains("unreadable: its replica_head is -1"), "\(status)")
    }

    @Test("errors that trying again does not cure say so, and never advise trying again")
    func refusals() throws {
        let postgres = try PostgresServer()
        defer { postgres.stop() }
        let node = nodeStore()
        defer { remove(node) }
        // No schema: `cluster init` was never run.
        let noSchema = try ClusterTests.node(node, postgres, ["stats"])
        #expect(noSchema.status == 3 && noSchema.stderr.contains("refused") && noSchema.stderr.contains("reel_log"), "\(noSchema)")
        #expect(!noSchema.stderr.contains("try again"), "\(noSchema)")
        #expect(!FileManager.default.fileExists(atPath: node), "no store was made for a log that refused")
        let noDatabase = try ClusterTests.node(node, url: "postgres://postgres@127.0.0.1:\(postgres.port)/nosuch", ["stats"])
        #expect(noDatabase.status == 3 && noDatabase.stderr.contains("refused") && noDatabase.stderr.contains("nosuch"), "\(noDatabase)")
        // TLS asked of a server that does not offer it.
        let noTLS = try reel(["cluster", "init", "--postgres", postgres.url + "?sslmode=require"])
        #expect(noTLS.status == 3 && noTLS.stderr.contains("does not offer TLS"), "\(noTLS)")
        #expect(try reel(["cluster", "init", "--postgres", postgres.url + "?sslmode=prefer"]).status == 0, "prefer goes without")
        // Commands that work on a store they are given make no node of a path that holds none.
        let typo = nodeStore()
        for command in [["rebuild"], ["backup", typo + "-backup"]] {
            let refused = try ClusterTests.node(typo, postgres, command)
            #expect(refused.status == 3 && !FileManager.default.fileExists(atPath: typo + "/data.mdb"), "\(command): \(refused)")
        }
        remove(typo)
        // A usage error, never a trap: timeouts PostgreSQL would read otherwise, or not at all.
        for option in ["connect_timeout=inf", "connect_timeout=1e300", "statement_timeout=0", "lock_timeout=5sec"] {
            let refused = try reel(["cluster", "status", "--postgres", postgres.url + "?" + option])
            #expect(refused.status == 2 && refused.stderr.contains(String(option.prefix { $0 != "=" })), "\(option): \(refused)")
        }
        #expect(try ClusterTests.node(node, postgres, ["verify"]).status == 0)
    }

    @Test("TLS: prefer and require encrypt, verify-ca checks the certificate's root, verify-full also its host name")
    func tls() throws {
        // A certificate for the name localhost, its own root.
        let directory = temporaryStorePath()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { remove(directory) }
        // openssl runs as the user PostgreSQL runs as, and makes files only that user reads, as PostgreSQL wants its key.
        chmod(directory, 0o777)
        let (certificate, key) = (directory + "/server.crt", directory + "/server.key")
        let made = try PostgresServer.run([
            "/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost", "-keyout", key, "-out", certificate,
        ])
        try #require(made.status == 0, "\(made.output)")
        chmod(key, 0o600)
        let postgres = try PostgresServer(settings: ["ssl=on", "ssl_cert_file=\(certificate)", "ssl_key_file=\(key)"])
        defer { postgres.stop() }
        #expect(try reel(["cluster", "init", "--postgres", postgres.url + "?sslmode=require"]).status == 0)
        let node = nodeStore()
        defer { remove(node) }
        let server = try ServeProcess(store: node, ["--postgres", postgres.url + "?sslmode=verify-ca&sslrootcert=\(certificate)"])
        let appended = try http("POST", server.url + "/v1/events", body: Data((ServeCommandTests.project(uuid()) + "\n").utf8), timeout: 30)
        #expect(appended.status == 200, "\(appended)")
        let encrypted = try postgres.sql(
            "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE application_name = 'reel' AND NOT ssl")
        #expect(encrypted == "0", "every connection of the node is encrypted")
        #expect(
            try postgres.sql("SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE application_name = 'reel' AND ssl") != "0")
        _ = server.stop()
        // sslmode=prefer, the default, encrypts too when the server offers TLS.
        let preferring = try ServeProcess(store: node, ["--postgres", postgres.url])
        #expect(try http("GET", preferring.url + "/v1/stats", timeout: 30).status == 200)
        #expect(
            try postgres.sql("SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE application_name = 'reel' AND NOT ssl") == "0")
        #expect(
            try postgres.sql("SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE application_name = 'reel' AND ssl") != "0")
        _ = preferring.stop()
        // verify-full checks a host name: an address is a usage error.
        let address = try reel(["cluster", "status", "--postgres", postgres.url + "?sslmode=verify-full&sslrootcert=\(certificate)"])
        #expect(address.status == 2 && address.stderr.contains("verify-full"), "\(address)")
        let byName = "postgres://postgres@localhost:\(postgres.port)/postgres?sslmode=verify-full&sslrootcert=\(certificate)"
        #expect(try reel(["cluster", "status", "--postgres", byName]).status == 0)
        // Not signed by the system's roots, which verify-full takes without sslrootcert.
        let unknownRoot = try reel(["cluster", "status", "--postgres", "postgres://postgres@localhost:\(postgres.port)/postgres?sslmode=verify-full"])
        #expect(unknownRoot.status == 3 && unknownRoot.stderr.contains("refused"), "\(unknownRoot)")
        // verify-ca without roots of its own would take any certificate a public authority signed: a usage error.
        let noRoots = try reel(["cluster", "status", "--postgres", postgres.url + "?sslmode=verify-ca"])
        #expect(noRoots.status == 2 && noRoots.stderr.contains("sslrootcert"), "\(noRoots)")
        #expect(try ClusterTests.node(node, url: postgres.url + "?sslmode=require", ["verify"]).status == 0)
    }
}
