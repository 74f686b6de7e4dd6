// The table of W9 and W10 (`tools/compare --only W9,W10`), written to Compare/RESULTS-cluster.md.

import Foundation

struct ClusterReport {
    var command = ""
    var reelCommit = ""
    var loadAtStart = ""
    var postgresVersion = ""
    var postgresSettings = ""
    var syncStateBefore = ""
    var syncStateAfter = ""
    var standbyInRecovery = false
    var cluster: [AppendRound] = []
    var single: [AppendRound] = []
    var table: [AppendRound] = []
    /// The cluster with every writer on node 1 (nodes 2 and 3 following): no contention for the log's lock between nodes.
    var oneNode: [AppendRound] = []
    var tails: [TailCheck] = []
    var reelLogGapless = true
    var reelLogCount = 0
    var tableLogCount = 0
    var follow: ClusterWorkloads.FollowResult?
    var queries: ClusterWorkloads.QueryResult?

    private func f(_ value: Double, _ digits: Int = 0) -> String {
        let text = String(format: "%.\(digits)f", value)
        guard digits == 0, abs(value) >= 1_000 else { return text }
        var out = ""
        for (i, c) in text.reversed().enumerated() {
            if i > 0, i % 3 == 0, c != "-" { out.append(",") }
            out.append(c)
        }
        return String(out.reversed())
    }

    private func median(_ values: [Double]) -> Double {
        let s = values.sorted()
        return s.isEmpty ? .nan : (s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2)
    }

    private func met(_ ok: Bool) -> String { ok ? "met" : "**missed**" }

    func markdown() -> String {
        let date = ISO8601DateFormatter.string(from: Date(), timeZone: TimeZone(identifier: "UTC")!, formatOptions: [.withFullDate])
        var md = "# Reel as a cluster: W9 and W10\n\n"
        md += "Run of \(date) (`\(command)`), Reel at `\(reelCommit)`, on \(ProcessInfo.processInfo.activeProcessorCount) cores "
        md += "(load average at the start \(loadAtStart), on a machine shared with other builds and tests; README.md explains the figures). PostgreSQL \(postgresVersion): "
        md += "a primary and a streaming-replication standby made with `pg_basebackup -R -X stream`, synchronous "
        md += "(`pg_stat_replication.sync_state` = \(syncStateBefore) before the run, \(syncStateAfter) after; \(postgresSettings)). "
        md += "Every side is durable on the primary's WAL, the standby's WAL (the PostgreSQL sides) and, for Reel, LMDB.\n\n"

        if !cluster.isEmpty {
            let rounds = cluster.count
            let clusterRate = median(cluster.map(\.rate))
            let singleRate = median(single.map(\.rate))
            let tableRate = median(table.map(\.rate))
            let ratioTable = median(zip(cluster, table).map { $0.rate / $1.rate })
            let shareSingle = median(zip(cluster, single).map { $0.rate / $1.rate })
            md += "## W9: cluster append\n\n"
            md += "48 writers, each on a keep-alive HTTP connection (the event table: a connection of its own), each request a batch of "
            md += "64 `scene_image.saved` into the writer's own project, answered when durable. \(rounds) \(rounds == 1 ? "round" : "rounds") of "
            md += "\(f(cluster[0].seconds.rounded())) s a side, the sides taking turns in each round (in a rotating order), "
            md += "each after a warm-up second. Medians of the rounds; the ratios are the medians of each round's ratio.\n\n"
            md += "| side | events/s | each round | p50 / p99 batch (ms) | PG commits/s | events per commit | failed |\n|---|---|---|---|---|---|---|\n"
            func row(_ name: String, _ list: [AppendRound]) {
                let commits = median(list.map { Double($0.commits) / $0.seconds })
                let group = median(list.map { Double($0.events) / Double(max(1, $0.commits)) })
                let each = list.map { f($0.rate) }.joined(separator: ", ")
                let failed = list.reduce(0) { $0 + $1.failures }
                md += "| \(name) | **\(f(median(list.map(\.rate))))** | \(each) | \(f(median(list.map(\.p50)), 1)) / \(f(median(list.map(\.p99)), 1)) | "
                md += "\(f(commits)) | \(f(group, 1)) | \(failed) |\n"
            }
            row("Reel cluster: 3 `reel serve --postgres` × 16 writers", cluster)
            row("Reel single: `reel serve` × 48 writers", single)
            row("PostgreSQL event table × 48 connections", table)
            row("(Reel cluster, all 48 writers on node 1; nodes 2 and 3 following)", oneNode)
            md += "\nFor Reel \"PG commits\" are the nodes' group commits (each one PostgreSQL transaction holding the log's lock; the single "
            md += "store: LMDB commits), from `reel serve`'s `/metrics`; for the event table, one transaction a batch.\n\n"
            md += "| target | result | |\n|---|---|---|\n"
            md += "| cluster ≥ 1× the event table | \(f(ratioTable, 2))× (\(f(clusterRate)) against \(f(tableRate)) events/s) | \(met(ratioTable >= 1)) |\n"
            md += "| cluster's share of single-node Reel | \(f(shareSingle * 100))% (\(f(clusterRate)) against \(f(singleRate)) events/s) | (reported) |\n"
            let reelTails = tails.filter { $0.name.hasPrefix("Reel") }
            let reelClean = reelTails.allSatisfy { $0.skipped == 0 && $0.reorderings == 0 && $0.duplicates == 0 }
            md += "| Reel's readers see no gap and no reordering | \(reelTails.map { "\($0.skipped) skipped, \($0.reorderings) reordered" }.joined(separator: "; ")) | \(met(reelClean && reelLogGapless)) |\n\n"

            md += "### Where the time goes\n\n"
            md += "| side | commit time (ms, average) | WAL syncs/s | WAL sync (ms, average) | WAL bytes/event | CPU s per 10⁴ events: service / PostgreSQL (both servers) / harness |\n|---|---|---|---|---|---|\n"
            func cost(_ name: String, _ list: [AppendRound]) {
                let commitMs = median(list.map { $0.commits > 0 && $0.commitSeconds > 0 ? $0.commitSeconds * 1_000 / Double($0.commits) : .nan })
                let syncs = median(list.map { Double($0.walSyncs) / $0.seconds })
                let syncMs = median(list.map { $0.walSyncs > 0 ? $0.walSyncSeconds * 1_000 / Double($0.walSyncs) : 0 })
                let bytes = median(list.map { $0.walBytes / Double(max(1, $0.events)) })
                let per = { (x: KeyPath<AppendRound, Double>) in median(list.map { $0[keyPath: x] * 10_000 / Double(max(1, $0.events)) }) }
                md += "| \(name) | \(commitMs.isNaN ? "–" : f(commitMs, 2)) | \(f(syncs)) | \(f(syncMs, 2)) | \(f(bytes)) | "
                md += "\(f(per(\.serviceCPU), 2)) / \(f(per(\.databaseCPU), 2)) / \(f(per(\.clientCPU), 2)) |\n"
            }
            cost("Reel cluster", cluster)
            cost("Reel single", single)
            cost("event table", table)
            cost("(Reel cluster, 48 writers on node 1)", oneNode)
            md += "\nWhat PostgreSQL's sessions of each side were doing, sampled from `pg_stat_activity` every 10 ms during the timed "
            md += "runs (the average number of sessions in each state; the readers' sessions not counted). For the cluster, at most one "
            md += "session at a time holds the log's lock, so its states split the lock's time: *idle in a transaction* is the node "
            md += "working while it holds the lock (catching up with the other nodes' events, folding its group into LMDB, sending "
            md += "the rows), *running* PostgreSQL executing the statements, *waiting for the standby* the synchronous commit.\n\n"
            md += "| side | " + ActivitySampler.states.joined(separator: " | ") + " |\n|---|" + ActivitySampler.states.map { _ in "---|" }.joined() + "\n"
            for (name, list) in [("Reel cluster", cluster), ("event table", table), ("(Reel cluster, 48 writers on node 1)", oneNode)] {
                let columns = ActivitySampler.states.indices.map { i in f(median(list.map { $0.activity.count > i ? $0.activity[i] : 0 }), 2) }
                md += "| \(name) | " + columns.joined(separator: " | ") + " |\n"
            }
            md += "\nA Reel group's commit time runs from its start (for a node: once it holds the log's lock in PostgreSQL, when it forms its group) to LMDB's synced commit, "
            md += "so for a node it holds the round trips to PostgreSQL and the synchronous standby's acknowledgement. WAL figures are the "
            md += "primary's `pg_stat_wal` (the single store writes none: what it shows is the other sides' leftovers and the pollers). "
            md += "Conflicts on the event table (a stream's version moved between check and insert): \(table.reduce(0) { $0 + $1.conflicts }) "
            md += "(each writer owns its stream, so none are expected).\n\n"

            md += "### Skipped events: readers tailing each log during W9\n\n"
            md += "Each reader records every position it gets, in order, for all \(rounds) rounds; afterwards its positions are checked "
            md += "against the log's final rows. *Skipped*: a position at or below the highest the reader had reached that it never got "
            md += "— an event that committed after a higher position was already read. *Reordered*: a position that came after a higher one.\n\n"
            md += "| reader | positions read | skipped | reordered | duplicates |\n|---|---|---|---|---|\n"
            for t in tails { md += "| \(t.name) | \(f(Double(t.seen))) | \(f(Double(t.skipped))) | \(t.reorderings) | \(t.duplicates) |\n" }
            md += "\n`reel_events` holds \(f(Double(reelLogCount))) events, positions 1 … N \(reelLogGapless ? "without a gap" : "**with gaps**"); "
            md += "`w9_events`, \(f(Double(tableLogCount))). The event table's pollers read as such stores read "
            md += "(`WHERE position > last ORDER BY position`, every 2 ms): a `bigserial` position is taken when the row is inserted, and "
            md += "transactions commit in another order, so a poll can return position N+1 while N is still uncommitted, and the reader "
            md += "never goes back for N. Reel assigns positions under the log's lock and commits them with it.\n\n"
        }

        if let follow {
            md += "## W10: follow lag\n\n"
            md += "\(f(Double(follow.expected / 2))) single appends (`scene_image.saved`) paced at 200 a second over 16 connections to node 1 "
            md += "(\(f(follow.rate)) acknowledged a second, the latest sent \(f(follow.worstStartDelay, 1)) ms behind its schedule, "
            md += "\(follow.failures) failed), each followed by nodes 2 and 3's `/v1/subscribe`. The lag is each delivery's arrival on "
            md += "the other node − the append's acknowledgement on node 1 (\(follow.early) deliveries arrived before the acknowledgement; "
            md += "counted as 0).\n\n"
            md += "| | p50 | p99 | max | delivered | target p99 ≤ 100 ms |\n|---|---|---|---|---|---|\n"
            md += "| follow lag (ms) | \(f(follow.p50, 1)) | \(f(follow.p99, 1)) | \(f(follow.max, 1)) | \(follow.delivered) of \(follow.expected) | "
            md += "\(met(follow.p99 <= 100 && follow.delivered == follow.expected)) |\n\n"
        }

        if let queries {
            let ratio = queries.nodeP50 / queries.singleP50
            md += "## Queries on a node\n\n"
            md += "`GET /v1/queries/images-by-scene?project=…` for a project of 100 scenes × 4 images appended through node 1, on node 2 "
            md += "and on the single store (the same answer, byte for byte), over one keep-alive connection each, taking turns 50 "
            md += "requests at a time, \(queries.samples) each, with no append load. Microseconds, request to answer.\n\n"
            md += "| | p50 | p99 |\n|---|---|---|\n"
            md += "| node 2 of the cluster | \(f(queries.nodeP50)) | \(f(queries.nodeP99)) |\n"
            md += "| the single store | \(f(queries.singleP50)) | \(f(queries.singleP99)) |\n"
            md += "| node ÷ single (target ≤ 1.5×) | \(f(ratio, 2))× | \(met(ratio <= 1.5)) |\n\n"
        }
        return md
    }
}
