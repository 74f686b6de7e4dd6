// reel-compare: every workload (W1–W8) against Reel, PostgreSQL 15 and SQLite in one run; writes a Markdown table
// of medians with ratios to Reel. Started by tools/compare, which sets up the PostgreSQL cluster.
//
//   reel-compare --pg CONNINFO --work DIR [--events N] [--samples K] [--rounds R] [--load-rounds L] [--race-per-writer M]
//                [--http-seconds S] [--pg-pool C] [--fanout-events E] [--bin-dir DIR] [--out FILE]
//
// W7 and W8 start `reel serve` and `pg-append-service` from --bin-dir (default: this program's directory, where
// tools/compare builds both). --http-seconds also comes from REEL_COMPARE_HTTP_SECONDS.

import CSQLite3
import EventStore
import Foundation
import LMDB
import MediaPipeline
import ProductionFixtures

// MARK: Arguments

var events = 1_000_000
var samples = 1_000
var rounds = 5
var loadRounds = 3
var perWriter = 200
var conninfo = ""
var work = ""
var out = "Compare/RESULTS.md"
var command = "tools/compare"
var reelCommit = "unknown"
var httpSeconds = ProcessInfo.processInfo.environment["REEL_COMPARE_HTTP_SECONDS"].flatMap(Double.init) ?? 20
var pgPool = 32
var fanOutEvents = 20_000
// The cluster workloads (W9, W10), run alone with `--only W9,W10`: tools/compare then gives the primary a synchronous
// standby and passes its conninfo as --standby.
var only: Set<String> = []
var standbyConninfo = ""
var clusterSeconds = 10.0
var clusterRounds = 3
var followEvents = 3_000
var binDir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().path
do {
    var args = CommandLine.arguments.dropFirst().makeIterator()
    while let arg = args.next() {
        func value() -> String {
            guard let v = args.next() else { fatalError("\(arg) needs a value") }
            return v
        }
        switch arg {
        case "--events": events = Int(value().replacingOccurrences(of: "_", with: ""))!
        case "--samples": samples = Int(value())!
        case "--rounds": rounds = Int(value())!
        case "--load-rounds": loadRounds = max(1, Int(value())!)
        case "--race-per-writer": perWriter = Int(value())!
        case "--pg": conninfo = value()
        case "--work": work = value()
        case "--out": out = value()
        case "--command": command = value()
        case "--reel-commit": reelCommit = value()
        case "--http-seconds": httpSeconds = max(1, Double(value())!)
        case "--pg-pool": pgPool = max(1, Int(value())!)
        case "--fanout-events": fanOutEvents = max(1, Int(value().replacingOccurrences(of: "_", with: ""))!)
        case "--bin-dir": binDir = value()
        case "--only": only = Set(value().uppercased().split(separator: ",").map { String($0.trimmingCharacters(in: .whitespaces)) })
        case "--standby": standbyConninfo = value()
        case "--cluster-seconds": clusterSeconds = max(1, Double(value())!)
        case "--cluster-rounds": clusterRounds = max(1, Int(value())!)
        case "--follow-events": followEvents = max(10, Int(value().replacingOccurrences(of: "_", with: ""))!)
        default:
            FileHandle.standardError.write(Data("usage: reel-compare --pg CONNINFO --work DIR [--events N] [--samples K] [--rounds R] [--load-rounds L] [--race-per-writer M] [--http-seconds S] [--pg-pool C] [--fanout-events E] [--bin-dir DIR] [--out FILE] [--only W9,W10 --standby CONNINFO [--cluster-seconds S] [--cluster-rounds R] [--follow-events E]]\n".utf8))
            exit(2)
        }
    }
    if conninfo.isEmpty || work.isEmpty {
        FileHandle.standardError.write(Data("reel-compare: --pg and --work are required (tools/compare passes them)\n".utf8))
        exit(2)
    }
}

func log(_ message: String) {
    let stamp = ISO8601DateFormatter().string(from: Date())
    FileHandle.standardError.write(Data("[\(stamp)] \(message)\n".utf8))
}

/// Writes every file system's dirty pages to disk (`sync(2)`) before a timed load, so that no side's syncs wait behind
/// writeback left by what ran before it (the build, the cluster's start, an earlier load's files). A precaution: the
/// loads vary from run to run more than this explains (Reel's durable load took 5.1–7.5 s in back-to-back runs of the
/// same binary on this host).
func settleDisk() {
    sync()
}

func median(_ values: [Double]) -> Double {
    let s = values.sorted()
    return s.isEmpty ? .nan : (s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2)
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
}

func allocatedBytes(_ path: String) -> Int {
    var total = 0
    let fm = FileManager.default
    guard let names = fm.enumerator(atPath: path) else { return 0 }
    for case let name as String in names {
        var st = stat()
        if lstat(path + "/" + name, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG { total += Int(st.st_blocks) * 512 }
    }
    return total
}

// MARK: W9, W10 alone

if !only.isEmpty {
    guard only.isSubset(of: ["W9", "W10"]) else {
        FileHandle.standardError.write(Data("reel-compare: --only takes W9 and W10 (the cluster workloads); W1–W8 run in the full run\n".utf8))
        exit(2)
    }
    let settings = ClusterSettings(
        primary: conninfo, standby: standbyConninfo, work: work, binDir: binDir, seconds: clusterSeconds, rounds: clusterRounds,
        followEvents: followEvents, querySamples: min(samples, 1_000), only: only)
    let markdown = try await ClusterWorkloads.run(settings, command: command, reelCommit: reelCommit)
    try markdown.write(toFile: out, atomically: true, encoding: .utf8)
    print(markdown)
    log("wrote \(out)")
    exit(0)
}

// MARK: The data

let targets = Targets(seed: Dataset.targetSeed)
log("generating \(events) events")
let inputs = Dataset.make(total: events, targets: targets)
let rows = try Fold.rows(inputs)
log("\(inputs.count) events; folded into \(rows.rowCount) rows for the peers")

let reelPath = work + "/reel"
let sqlitePath = work + "/sqlite"
for path in [reelPath, sqlitePath] {
    try? FileManager.default.removeItem(atPath: path)
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
}

var report = Report()
report.loadAtStart = ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?").split(separator: " ").prefix(3).joined(separator: " ")
report.events = inputs.count
report.rows = rows.rowCount

// MARK: W3 — bulk load

// `loadRounds` rounds, the sides taking turns in each, into fresh stores and tables; medians. One load per side was
// at the mercy of the shared disk: Reel's took 4.6–7.4 s in four back-to-back runs of one binary.
// A bulk load's options, as `reel append` opens its store with: groups of up to 196,608 events (the store is opened
// again with the defaults for the workloads after W6).
var bulk = StoreOptions()
bulk.maxEventsPerGroup = StoreOptions.bulkLoadMaxEventsPerGroup
var media: MediaStore!
let pg = try PG(conninfo)
report.postgresVersion = try pg.rows("SHOW server_version")[0][0] ?? "?"
report.postgresSettings = try pg.rows("""
    SELECT string_agg(name || '=' || setting, ', ' ORDER BY name) FROM pg_settings
    WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'wal_sync_method', 'shared_buffers', 'max_wal_size')
    """)[0][0] ?? "?"
report.sqliteVersion = String(cString: sqlite3_libversion())
var lite: SQLite!
for round in 1...loadRounds {
    // The last round's store and tables are the ones the other workloads use.
    if media != nil {
        try media.close()
        media = nil
    }
    lite = nil  // closes the connection
    for path in [reelPath, sqlitePath] {
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    log("W3 round \(round): Reel load")
    media = try retryingBusy { try MediaStore.open(at: reelPath, options: bulk) }
    settleDisk()
    report.reelLoads.append(try ReelLoad.load(media, inputs))
    log(String(format: "W3 round %d: Reel %.1f s (%.0f events/s)", round, report.reelLoads.last!, Double(inputs.count) / report.reelLoads.last!))
    settleDisk()
    report.postgresLoads.append(try Postgres.load(pg, rows))
    log(String(format: "W3 round %d: PostgreSQL %.1f s", round, report.postgresLoads.last!))
    lite = try SQLiteSide.open(sqlitePath)
    settleDisk()
    report.sqliteLoads.append(try SQLiteSide.load(lite, rows))
    log(String(format: "W3 round %d: SQLite %.1f s", round, report.sqliteLoads.last!))
}
report.reelLoad = median(report.reelLoads)
report.postgresLoad = median(report.postgresLoads)
report.sqliteLoad = median(report.sqliteLoads)
try pg.exec("ANALYZE")
try lite.exec("ANALYZE")

do {
    // Nothing synced but every 50,000 events (`.unsynced`: a scratch store, deleted afterwards).
    log("W3: Reel load, synced every 50,000 events")
    let path = work + "/reel-deferred"
    var options = bulk
    options.durability = .unsynced
    let deferred = try MediaStore.open(at: path, options: options)
    settleDisk()
    report.reelLoadDeferred = try ReelLoad.load(deferred, inputs, syncEvery: 50_000)
    try deferred.close()
    try? FileManager.default.removeItem(atPath: path)
    log(String(format: "W3: Reel, synced every 50,000: %.1f s", report.reelLoadDeferred))
}


// MARK: W5 — bytes on disk

let reelStats = try media.store.statistics()
report.reelBytes = reelStats.usedBytes
report.reelLogBytes = reelStats.logBytes
report.reelProjectionBytes = reelStats.projections.reduce(0) { $0 + $1.bytes }
report.reelFileBytes = allocatedBytes(reelPath)
(report.postgresBytes, _) = try Postgres.bytes(pg)
report.sqliteBytes = try SQLiteSide.bytes(lite, sqlitePath)
log("W5: Reel \(report.reelBytes) B used (\(report.reelFileBytes) allocated), PostgreSQL \(report.postgresBytes) B, SQLite \(report.sqliteBytes) B")

// MARK: W6 — the raw LMDB ceiling (the same bytes Reel wrote)

do {
    try media.close()
    media = nil  // the environment is let go when the last reference goes
    let databases = try RawCeiling.extract(reelPath)
    media = try retryingBusy { try MediaStore.open(at: reelPath) }
    let rawPath = work + "/raw-lmdb"
    try? FileManager.default.removeItem(atPath: rawPath)
    report.rawBytes = databases.reduce(0) { $0 + $1.byteCount }
    report.rawEntries = databases.reduce(0) { $0 + $1.entries.count }
    report.reelTreeBytes = databases.reduce(0) { $0 + $1.pageBytes }
    log("W6: raw LMDB ceiling: \(databases.count) databases, \(report.rawEntries) entries, \(report.rawBytes) bytes")
    settleDisk()
    report.rawAppend = try RawCeiling.write(databases, to: rawPath, transactions: inputs.count / 1_000)
    let projections = databases.filter { $0.name.hasPrefix("proj.") && !$0.entries.isEmpty }
    report.rawRebuildBytes = projections.reduce(0) { $0 + $1.byteCount }
    let rebuilt = try RawCeiling.rebuild("reel.log", projections, at: rawPath, transactions: max(1, inputs.count / 20_000))
    report.rawRebuild = rebuilt.seconds
    try? FileManager.default.removeItem(atPath: rawPath)
    if let log = databases.first(where: { $0.name == "reel.log" }), !log.entries.isEmpty {
        let valueSize = log.entries.reduce(0) { $0 + $1.2 } / log.entries.count
        report.rawRaceValueSize = valueSize
    }
    log(String(format: "W6: raw append %.1f s, raw rebuild %.1f s (log checksum %llu)", report.rawAppend, report.rawRebuild, rebuilt.checksum))
}

// MARK: W2 — queries

try Postgres.prepareQueries(pg)
try SQLiteSide.prepareQueries(lite)
let reelQueries = ReelQueries(media: media, targets: targets)
for query in QueryName.allCases {
    let parameter = PeerQuerySQL.parameter(query, targets)
    let reelSignature = try reelQueries.run(query, sign: true)
    let pgSignature = try Postgres.query(pg, query, parameter, sign: true)
    let liteSignature = try SQLiteSide.query(lite, query, parameter, sign: true)
    guard reelSignature == pgSignature, reelSignature == liteSignature, !reelSignature.isEmpty else {
        throw Failure(description: "W2 \(query.rawValue): the sides disagree\n reel: \(reelSignature.prefix(300))\n pg:   \(pgSignature.prefix(300))\n lite: \(liteSignature.prefix(300))")
    }
    // The three sides take turns, one query each, so that the noise of the shared machine falls on all of them alike.
    // Each timed query ends by settling the allocator, so that a side pays for the blocks its own query freed and
    // not for those of the side before it (see `settleAllocator`).
    let warmup = max(50, samples / 10)
    var latencies: [[Double]] = [[], [], []]
    let bodies: [() throws -> Void] = [
        { _ = try reelQueries.run(query) },
        { _ = try Postgres.query(pg, query, parameter) },
        { _ = try SQLiteSide.query(lite, query, parameter) },
    ]
    let clock = ContinuousClock()
    for i in 0..<(warmup + samples) {
        for (side, body) in bodies.enumerated() {
            let start = clock.now
            try body()
            settleAllocator()
            let d = start.duration(to: clock.now)
            if i >= warmup { latencies[side].append(Double(d.components.seconds) * 1e6 + Double(d.components.attoseconds) / 1e12) }
        }
    }
    let summary = latencies.map { list -> (Double, Double) in
        let sorted = list.sorted()
        return (percentile(sorted, 0.5), percentile(sorted, 0.99))
    }
    let (reel, postgres, sqlite) = (summary[0], summary[1], summary[2])
    report.queries.append(.init(name: query.rawValue, reel: reel, postgres: postgres, sqlite: sqlite))
    log(String(format: "W2 %@: p50 Reel %.0f µs, PG %.0f µs, SQLite %.0f µs", query.rawValue, reel.0, postgres.0, sqlite.0))
}

// MARK: W4 — rebuild

for round in 1...rounds {
    report.reelRebuild.append(try time { _ = try media.store.rebuild() })
    report.postgresRebuild.append(try time { try pg.exec(Postgres.readModels) })
    report.sqliteRebuild.append(try time { try lite.exec(SQLiteSide.readModels) })
    log(String(format: "W4 round %d: Reel %.1f s, PG %.1f s, SQLite %.1f s", round, report.reelRebuild.last!, report.postgresRebuild.last!, report.sqliteRebuild.last!))
}

// MARK: W1 — the race

for round in 1...rounds {
    func plan() -> RacePlan { RacePlan(writers: 16, perWriter: perWriter, projects: (0..<8).map { _ in UUID() }) }
    let reel = try await Race.reel(media, plan())
    // W6's race ceiling, measured next to the race itself (the disk's speed drifts on a shared machine).
    report.rawRace.append(try RawCeiling.race(at: work + "/raw-race", commits: perWriter, valueSize: report.rawRaceValueSize))
    let jsonb = try Race.postgresJSONB(conninfo, pg, plan())
    let pgRows = try Race.postgresRows(conninfo, pg, plan())
    let liteRows = try Race.sqliteRows(sqlitePath, lite, plan())
    report.race.append(.init(reel: reel, postgresJSONB: jsonb, postgresRows: pgRows, sqliteRows: liteRows))
    log(String(format: "W1 round %d: raw LMDB race ceiling %.0f/s", round, report.rawRace.last!))
    log(String(format: "W1 round %d: Reel %.0f/s lost %d; PG JSONB %.0f/s lost %d; PG rows %.0f/s lost %d; SQLite %.0f/s lost %d",
               round, reel.rate, reel.lost, jsonb.rate, jsonb.lost, pgRows.rate, pgRows.lost, liteRows.rate, liteRows.lost))
}

// MARK: W7 — HTTP append

log(String(format: "W7: reel serve, 64 connections, %.0f s", httpSeconds))
let serveAppend = try await HTTPWorkloads.reelServe(binary: binDir + "/reel", work: work, seconds: httpSeconds)
log(String(format: "W7: reel serve %.0f requests/s, p50 %.2f ms, p99 %.2f ms, lost %d of %d, %d failed%@", serveAppend.rate, serveAppend.p50, serveAppend.p99,
           serveAppend.lost, serveAppend.acknowledged, serveAppend.failures, serveAppend.firstFailure.map { " (\($0))" } ?? ""))
log(String(format: "W7: PostgreSQL service (pool of %d), 64 connections, %.0f s", pgPool, httpSeconds))
let postgresAppend = try await HTTPWorkloads.postgres(
    binary: binDir + "/pg-append-service", work: work, admin: pg, conninfo: conninfo, pool: pgPool, seconds: httpSeconds)
log(String(format: "W7: PostgreSQL %.0f requests/s, p50 %.2f ms, p99 %.2f ms, lost %d of %d, %d failed%@", postgresAppend.rate, postgresAppend.p50,
           postgresAppend.p99, postgresAppend.lost, postgresAppend.acknowledged, postgresAppend.failures, postgresAppend.firstFailure.map { " (\($0))" } ?? ""))
log(String(format: "W7: the library, 64 tasks, %.0f s", httpSeconds))
let libraryAppend = try await HTTPWorkloads.library(work: work, seconds: httpSeconds)
log(String(format: "W7: the library %.0f appends/s, p50 %.2f ms, p99 %.2f ms, lost %d of %d", libraryAppend.rate, libraryAppend.p50, libraryAppend.p99,
           libraryAppend.lost, libraryAppend.acknowledged))
report.serveAppend = serveAppend
report.postgresAppend = postgresAppend
report.libraryAppend = libraryAppend

// MARK: W8 — fan-out

log("W8: 100 subscribers of reel serve, \(fanOutEvents) appends at 2,000/s")
let fanOut = try await HTTPWorkloads.fanOut(binary: binDir + "/reel", work: work, subscribers: 100, events: fanOutEvents, rate: 2_000)
log(String(format: "W8: %.0f events/s delivered; %d of %d subscribers complete; lag p50 %.1f ms, p99 %.1f ms, max %.1f ms%@", fanOut.deliveredRate,
           fanOut.complete, fanOut.subscribers, fanOut.lagP50, fanOut.lagP99, fanOut.lagMax, fanOut.firstEnding.map { " (\($0))" } ?? ""))
report.fanOut = fanOut

try media.close()
report.httpSeconds = httpSeconds
report.pgPool = pgPool
report.command = command
report.reelCommit = reelCommit
report.racePerWriter = perWriter
report.samples = samples
report.rounds = rounds
let markdown = report.markdown()
try markdown.write(toFile: out, atomically: true, encoding: .utf8)
print(markdown)
log("wrote \(out)")

/// Makes glibc's malloc merge the small blocks freed since the last time (its fast bins): it does so before serving
/// any request above its small-bin range, so one 4 KB allocation does it.
///
/// Without this, the garbage a query leaves is merged by whatever allocates a large block next — in W2 the next
/// side's query. The SQLite side frees about a thousand small blocks per query (its rows and their strings), and
/// the Reel query that followed it spent about 9 µs merging them at its first 3 KB allocation: most of its time
/// (images-by-scene took 20 µs instead of 10 at 100,000 events). It cuts both ways: a Reel query that makes only
/// small allocations ran on SQLite's freed blocks, still in cache, and is slower with the settle (the job: 3.3 µs
/// without, 4.0–4.4 µs with). A thread per side (an arena each) was tried too: each query then started on a core
/// that had been idle, and Reel's small queries took twice as long.
func settleAllocator() {
    settleSink = malloc(4096)  // kept in a global so the optimizer cannot drop the pair
    free(settleSink)
}

nonisolated(unsafe) private var settleSink: UnsafeMutableRawPointer?
