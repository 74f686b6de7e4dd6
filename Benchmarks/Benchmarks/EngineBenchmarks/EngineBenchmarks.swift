// Append throughput of the Reel engine, durable (every commit fsync'd), against a raw-LMDB ceiling.
//
// Run from /work/main/Benchmarks:
//     swift package --allow-writing-to-package-directory benchmark
//
// Every benchmark opens its own fresh store (or raw LMDB environment) in a new directory under the temporary
// directory in its setup, keeps it for all of its iterations, and closes and deletes it in its teardown. Each
// iteration appends a fixed number of events (`eventsPerIteration` below); the events themselves are built before
// `startMeasurement()`, so only the appends are timed.
//
// The headline number is the custom metric "Events/s": events appended in the iteration divided by the iteration's
// own wall time. `.throughput` is package-benchmark's iterations per second, rounded to an integer per iteration
// (so for iterations that take a second or more it is too coarse to read events/s from), and `.wallClock` is the
// time of one iteration.
//
// The hot-path benchmarks at the end (append, group commit, decode, rebuild; names without spaces) are gated by
// thresholds on their malloc counts, kept per toolchain in Thresholds/: see README.md, "Thresholds and baselines".

import Benchmark
import EventStore
import Foundation
import LMDB

// MARK: - Shared pieces

/// The headline metric: events per second over one iteration.
let eventsPerSecond = BenchmarkMetric.custom("Events/s", polarity: .prefersLarger, useScalingFactor: false)

let payloadSize = 250
let streamCount = 300
let eventType = "bench.event"

/// 64 fixed payloads of 250 pseudo-random bytes (xorshift64*, fixed seed), reused round-robin.
let payloads: [[UInt8]] = {
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
    return (0..<64).map { _ in (0..<payloadSize).map { _ in UInt8(truncatingIfNeeded: next() >> 32) } }
}()

let streamNames: [String] = (0..<streamCount).map { String(format: "bench-stream-%04d", $0) }
let streamNameBytes: [[UInt8]] = streamNames.map { Array($0.utf8) }

/// stream bytes ‖ 0x00 ‖ position (u64, big-endian): the key of the index, in the projection and in the raw ceiling.
@inline(__always)
func indexKey(_ stream: some Collection<UInt8>, _ position: UInt64, into key: inout [UInt8]) {
    key.removeAll(keepingCapacity: true)
    key.append(contentsOf: stream)
    key.append(0)
    withUnsafeBytes(of: position.bigEndian) { key.append(contentsOf: $0) }
}

/// An inline index: for every event, `stream ‖ 0x00 ‖ position` → position.
struct IndexProjection: Projection {
    let name = "bench-index"
    let version: UInt32 = 1
    /// It keys by stream and position only: a large group's hash chain may be sealed beside the writer.
    let readsHash = false
    var databases: [ProjectionDatabase] { [ProjectionDatabase("by-stream-type")] }

    func apply(_ event: RecordedEvent, _ txn: borrowing Transaction, _ databases: ProjectionDatabases) throws {
        var key: [UInt8] = []
        key.reserveCapacity(event.stream.utf8.count + 9)
        indexKey(event.stream.utf8, event.position, into: &key)
        try withUnsafeBytes(of: event.position.bigEndian) { value in
            try key.withUnsafeBytes { k in _ = try txn.put(databases["by-stream-type"], k, value) }
        }
    }
}

func makeTemporaryDirectory(_ label: String) throws -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("reel-bench-\(label)-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// A random version-4 UUID, as a caller might supply (the engine's generator, without Foundation's file opens).
func randomUUID() -> UUID { UUID.random() }

/// How a fixture makes event ids.
enum IDKind: Sendable {
    /// `NewEvent`'s default: time-ordered (version 7) ids made by the engine.
    case engineDefault
    /// Random (version 4) ids supplied by the caller.
    case callerRandom
}

/// A fresh durable store (default options: every commit synced) with the index projection, for one benchmark.
final class StoreFixture: @unchecked Sendable {
    private let label: String
    private let ids: IDKind
    private let options: StoreOptions
    private let lock = NSLock()
    private var directory: URL?
    private var opened: Store?
    /// Events made so far: picks the stream and payload of the next one.
    private var made = 0

    init(_ label: String, ids: IDKind = .engineDefault, options: StoreOptions = StoreOptions()) {
        self.label = label
        self.ids = ids
        self.options = options
    }

    var store: Store {
        lock.withLock { opened! }
    }

    func open() throws {
        let directory = try makeTemporaryDirectory(label)
        let store = try Store.open(at: directory.path, projections: [IndexProjection()], options: options)
        lock.withLock {
            self.directory = directory
            self.opened = store
            self.made = 0
        }
    }

    func close() throws {
        let (store, directory) = lock.withLock { () -> (Store?, URL?) in
            defer {
                opened = nil
                self.directory = nil
            }
            return (opened, self.directory)
        }
        try store?.close()
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }

    /// Appends `count` new events in batches of 1,000 and syncs: the contents of a store that a benchmark reads.
    func fill(_ count: Int) async throws {
        var remaining = count
        while remaining > 0 {
            let n = min(1_000, remaining)
            _ = try await store.append(makeEvents(n))
            remaining -= n
        }
        try store.sync()
    }

    /// `count` new events, spread round-robin over the streams.
    func makeEvents(_ count: Int) -> [NewEvent] {
        let first = lock.withLock { () -> Int in
            defer { made += count }
            return made
        }
        return (first..<first + count).map { n in
            ids == .callerRandom
                ? NewEvent(id: randomUUID(), stream: streamNames[n % streamCount], type: eventType, payload: payloads[n % payloads.count])
                : NewEvent(stream: streamNames[n % streamCount], type: eventType, payload: payloads[n % payloads.count])
        }
    }
}

/// A raw LMDB environment with a `log` and an `index` database, default (synced) options.
///
/// With `engineIndexes`, it also writes what the engine writes besides the log and the projection's index
/// (docs/FORMAT.md):
/// - `ids`: time-ordered 16-byte id → position, for every event. An id above the last one written is put with
///   `.append` (the engine's default ids always are), any other with `.noOverwrite`.
/// - `stream-events`: stream number ‖ version → position, only for versions 64, 128, 192, … of each stream.
/// - `streams`: stream name → stream number ‖ version ‖ position of its last event (24 bytes), once per stream touched
///   in the transaction, at its end.
final class RawFixture: @unchecked Sendable {
    private struct Handles {
        let environment: Environment
        let log: Database
        let index: Database
        let ids: Database
        let streamEvents: Database
        let streams: Database
    }

    /// What the engine-indexes variant carries from one transaction to the next.
    private struct StreamState {
        var versions = [UInt64](repeating: 0, count: streamCount)
        var lastPositions = [UInt64](repeating: 0, count: streamCount)
        /// The greatest id written to `ids`.
        var lastID: UUID?
    }

    /// The engine indexes every 64th version of a stream (`Layout.streamIndexInterval`).
    static let streamIndexInterval: UInt64 = 64

    private let engineIndexes: Bool
    private let lock = NSLock()
    private var directory: URL?
    private var state: Handles?
    /// The next position to write.
    private var nextPosition: UInt64 = 1
    private var streamState = StreamState()

    init(engineIndexes: Bool = false) { self.engineIndexes = engineIndexes }

    func open() throws {
        let directory = try makeTemporaryDirectory(engineIndexes ? "raw-engine-indexes" : "raw")
        let environment = try Environment(path: directory.path)
        let handles = try environment.openDatabases { txn in
            Handles(
                environment: environment,
                log: try txn.openDatabase("log", flags: .create),
                index: try txn.openDatabase("index", flags: .create),
                ids: try txn.openDatabase("ids", flags: .create),
                streamEvents: try txn.openDatabase("stream-events", flags: .create),
                streams: try txn.openDatabase("streams", flags: .create)
            )
        }
        lock.withLock {
            self.directory = directory
            self.state = handles
            self.nextPosition = 1
            self.streamState = StreamState()
        }
    }

    /// Ids for the next `count` events (time-ordered, like `NewEvent`'s default), made before the timed part.
    func makeIDs(_ count: Int) -> [UUID] {
        engineIndexes ? (0..<count).map { _ in UUID.timeOrdered() } : []
    }

    func close() throws {
        let directory = lock.withLock { () -> URL? in
            defer {
                state = nil
                self.directory = nil
            }
            return self.directory
        }
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }

    /// Writes `count` events in write transactions of `perTransaction` events each (`ids` from ``makeIDs(_:)``).
    func write(_ count: Int, perTransaction: Int, ids: [UUID]) throws {
        let handles = lock.withLock { state! }
        let (environment, log, index) = (handles.environment, handles.log, handles.index)
        var streamState = lock.withLock { self.streamState }
        defer { lock.withLock { self.streamState = streamState } }
        var written = 0
        var value = [UInt8](repeating: 0, count: rawValueSize)
        for i in 0..<payloadSize { value[30 + i] = payloads[0][i] }
        var key: [UInt8] = []
        key.reserveCapacity(32)
        var remaining = count
        while remaining > 0 {
            let n = min(perTransaction, remaining)
            let start = lock.withLock { () -> UInt64 in
                defer { nextPosition += UInt64(n) }
                return nextPosition
            }
            // The body may run again if the map grows, so it works on its own copy of the stream state.
            streamState = try environment.write { txn in
                var streamState = streamState
                var touched = [Bool](repeating: false, count: engineIndexes ? streamCount : 0)
                for position in start..<start + UInt64(n) {
                    let stream = streamNameBytes[Int(position % UInt64(streamCount))]
                    // Vary the value a little per event, like a record whose header and hash change.
                    withUnsafeBytes(of: position.bigEndian) { bytes in
                        for j in 0..<8 { value[j] = bytes[j] }
                    }
                    let payload = payloads[Int(position % UInt64(payloads.count))]
                    value[29] = payload[0]
                    try withUnsafeBytes(of: position.bigEndian) { positionBytes in
                        try value.withUnsafeBytes { v in _ = try txn.put(log, positionBytes, v, flags: .append) }
                        indexKey(stream, position, into: &key)
                        try key.withUnsafeBytes { k in _ = try txn.put(index, k, positionBytes) }
                        if engineIndexes {
                            let streamIndex = Int(position % UInt64(streamCount))
                            streamState.versions[streamIndex] += 1
                            let version = streamState.versions[streamIndex]
                            if version % Self.streamIndexInterval == 0 {
                                let streamNumber = UInt64(streamIndex + 1)
                                try withUnsafeBytes(of: (streamNumber.bigEndian, version.bigEndian)) { k in
                                    _ = try txn.put(handles.streamEvents, k, positionBytes)
                                }
                            }
                            let id = ids[written + Int(position - start)]
                            let ascending = streamState.lastID.map { isGreater(id, than: $0) } ?? true
                            let stored = try withUnsafeBytes(of: id.uuid) { k in
                                try txn.put(handles.ids, k, positionBytes, flags: ascending ? .append : .noOverwrite)
                            }
                            precondition(stored, "event id \(id) appears twice")
                            if ascending { streamState.lastID = id }
                            streamState.lastPositions[streamIndex] = position
                            touched[streamIndex] = true
                        }
                    }
                }
                // The engine writes each touched stream's head once, when the group's transaction ends.
                for streamIndex in touched.indices where touched[streamIndex] {
                    let head = (
                        UInt64(streamIndex + 1).bigEndian, streamState.versions[streamIndex].bigEndian,
                        streamState.lastPositions[streamIndex].bigEndian
                    )
                    try streamNameBytes[streamIndex].withUnsafeBytes { k in
                        try withUnsafeBytes(of: head) { v in _ = try txn.put(handles.streams, k, v) }
                    }
                }
                return streamState
            }
            written += n
            remaining -= n
        }
    }
}

/// Byte-wise order of two UUIDs, as LMDB sorts keys.
func isGreater(_ a: UUID, than b: UUID) -> Bool {
    withUnsafeBytes(of: a.uuid) { a in
        withUnsafeBytes(of: b.uuid) { b in b.lexicographicallyPrecedes(a) }
    }
}

/// The raw ceiling writes values of this size: a 250-byte payload plus a 30-byte header. (The engine's own record for
/// these events is 386 bytes: format byte, 32-byte hash, previous position in the stream, position, stream, version,
/// id, type, time, payload, metadata.)
let rawValueSize = 280

/// Times `body`, reports events/s as the custom metric, and returns nothing; any error fails the benchmark.
func measure(_ benchmark: Benchmark, events: Int, _ body: () async throws -> Void) async {
    let clock = ContinuousClock()
    benchmark.startMeasurement()
    let start = clock.now
    do {
        try await body()
    } catch {
        benchmark.stopMeasurement()
        benchmark.error("append failed: \(String(reflecting: error))")
        return
    }
    let elapsed = start.duration(to: clock.now)
    benchmark.stopMeasurement()
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    if seconds > 0 { benchmark.measurement(eventsPerSecond, Int((Double(events) / seconds).rounded())) }
}

/// Runs `work` once per element of `perWriter`, all at once in a task group: one concurrent writer each.
func concurrently<Work: Sendable>(_ perWriter: [Work], _ work: @escaping @Sendable (Work) async throws -> Void) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        for writerWork in perWriter {
            group.addTask { try await work(writerWork) }
        }
        try await group.waitForAll()
    }
}

// MARK: - Benchmarks

/// Sixteen concurrent writers, each appending 16 batches of 64 events per iteration (16,384 events).
func batchBenchmark(_ name: String, _ fixture: StoreFixture, metrics: [BenchmarkMetric]) {
    let writers = 16
    let batch = 64
    let batchesPerWriter = 16
    Benchmark(
        name,
        configuration: .init(
            metrics: metrics, warmupIterations: 1, maxDuration: .seconds(20), maxIterations: 10,
            setup: { try fixture.open() }, teardown: { try fixture.close() }
        )
    ) { benchmark in
        let perWriter: [[[NewEvent]]] = (0..<writers).map { _ in
            (0..<batchesPerWriter).map { _ in fixture.makeEvents(batch) }
        }
        let store = fixture.store
        await measure(benchmark, events: writers * batchesPerWriter * batch) {
            try await concurrently(perWriter) { batches in
                for events in batches {
                    blackHole(try await store.append(events))
                }
            }
        }
    }
}

// MARK: - Hot paths, gated by thresholds on malloc counts

/// The metrics of the hot-path benchmarks. `.mallocCountTotal` (mallocs in the measured part of one iteration, all
/// threads) is the deterministic one that `thresholds check` gates; wall clock and throughput are for reading only.
let hotMetrics: [BenchmarkMetric] = [.mallocCountTotal, .wallClock, .throughput]

/// How far the p90 of the malloc count per iteration may move from the committed threshold (Thresholds/<toolchain>/)
/// before `thresholds check` reports it, in percent, either way. Only this metric is gated.
func mallocTolerance(_ percent: Double) -> [BenchmarkMetric: BenchmarkThresholds] {
    [.mallocCountTotal: .init(relative: [.p90: percent])]
}

/// Single-threaded work whose malloc count is the same in every run (decode, rebuild).
var exactMallocs: [BenchmarkMetric: BenchmarkThresholds] { mallocTolerance(5) }
/// Appends: the group-commit writer's thread and its batching are part of the measured part, so how many callers one
/// commit gathers (and so how many commits an iteration makes) varies a little from run to run.
var appendMallocs: [BenchmarkMetric: BenchmarkThresholds] { mallocTolerance(15) }

let benchmarks: @Sendable () -> Void = {
    let metrics: [BenchmarkMetric] = [eventsPerSecond, .throughput, .wallClock, .peakMemoryResident]
    // Print events/s in full rather than in thousands.
    Benchmark.defaultConfiguration.units = [eventsPerSecond: .count]

    // 1. One writer, one event per append call: every event is its own group commit (one synced LMDB commit).
    do {
        let fixture = StoreFixture("w1")
        let eventsPerIteration = 100
        Benchmark(
            "Append durable, 1 writer, 1 event per call",
            configuration: .init(
                metrics: metrics, warmupIterations: 1, maxDuration: .seconds(20), maxIterations: 30,
                setup: { try fixture.open() }, teardown: { try fixture.close() }
            )
        ) { benchmark in
            let events = fixture.makeEvents(eventsPerIteration)
            let store = fixture.store
            await measure(benchmark, events: events.count) {
                for event in events {
                    blackHole(try await store.append(event))
                }
            }
        }
    }

    // 2. Sixteen writers, each appending batches of 64 events; the group-commit writer folds concurrent batches into
    //    shared transactions.
    batchBenchmark("Append durable, 16 writers, batches of 64", StoreFixture("w16b64"), metrics: metrics)

    // 3. Sixteen writers, one event per call: throughput bounded by how many events one synced commit can gather.
    do {
        let fixture = StoreFixture("w16b1")
        let writers = 16
        let perWriter = 800  // 16 × 800 = 12,800 events per iteration
        Benchmark(
            "Append durable, 16 writers, 1 event per call",
            configuration: .init(
                metrics: metrics, warmupIterations: 1, maxDuration: .seconds(20), maxIterations: 8,
                setup: { try fixture.open() }, teardown: { try fixture.close() }
            )
        ) { benchmark in
            let perWriterEvents: [[NewEvent]] = (0..<writers).map { _ in fixture.makeEvents(perWriter) }
            let store = fixture.store
            await measure(benchmark, events: writers * perWriter) {
                try await concurrently(perWriterEvents) { events in
                    for event in events {
                        blackHole(try await store.append(event))
                    }
                }
            }
        }
    }

    // 4. The ceiling: LMDB alone, 280-byte values appended under big-endian positions plus one index entry per event,
    //    1,000 events per synced write transaction.
    do {
        let fixture = RawFixture()
        let eventsPerIteration = 10_000
        Benchmark(
            "Raw LMDB ceiling, 1000 per txn, 1 index",
            configuration: .init(
                metrics: metrics, warmupIterations: 1, maxDuration: .seconds(20), maxIterations: 10,
                setup: { try fixture.open() }, teardown: { try fixture.close() }
            )
        ) { benchmark in
            let ids = fixture.makeIDs(eventsPerIteration)
            await measure(benchmark, events: eventsPerIteration) {
                try fixture.write(eventsPerIteration, perTransaction: 1_000, ids: ids)
            }
        }
    }

    // Diagnostics: where benchmark 2 loses to benchmark 4.

    // 5. Benchmark 4 plus the other index writes the engine makes (docs/FORMAT.md): time-ordered id → position put
    //    with `.append`, stream number ‖ version → position for every 64th version of a stream, and one 24-byte head
    //    per stream touched in the transaction. The ceiling for the engine's own layout.
    do {
        let fixture = RawFixture(engineIndexes: true)
        let eventsPerIteration = 10_000
        Benchmark(
            "Raw LMDB, 1000 per txn, 1 index + the engine's other indexes",
            configuration: .init(
                metrics: metrics, warmupIterations: 1, maxDuration: .seconds(20), maxIterations: 10,
                setup: { try fixture.open() }, teardown: { try fixture.close() }
            )
        ) { benchmark in
            let ids = fixture.makeIDs(eventsPerIteration)
            await measure(benchmark, events: eventsPerIteration) {
                try fixture.write(eventsPerIteration, perTransaction: 1_000, ids: ids)
            }
        }
    }

    // 6. Benchmark 2 with random (version 4) ids supplied by the callers instead of the engine's time-ordered ones:
    //    the id index then gets a random page dirtied per event.
    batchBenchmark(
        "Append durable, 16 writers, batches of 64, caller-supplied random ids", StoreFixture("w16b64v4", ids: .callerRandom),
        metrics: metrics
    )

    // MARK: Hot paths (names without spaces: package-benchmark writes threshold files with spaces turned into `_` but
    // reads them by the name as it is, so a name with a space would never find its thresholds)

    // Append, one writer: 100 × `store.append(event)`, each its own synced commit.
    do {
        let fixture = StoreFixture("hot-append")
        Benchmark(
            "Append.1-writer.100-events",
            configuration: .init(
                metrics: [eventsPerSecond] + hotMetrics, warmupIterations: 2, maxDuration: .seconds(10), maxIterations: 20,
                thresholds: appendMallocs, setup: { try fixture.open() }, teardown: { try fixture.close() }
            )
        ) { benchmark in
            let events = fixture.makeEvents(100)
            let store = fixture.store
            await measure(benchmark, events: events.count) {
                for event in events {
                    blackHole(try await store.append(event))
                }
            }
        }
    }

    // Group commit: 16 concurrent writers, each 4 × `store.append([64 events])` (4,096 events per iteration), folded
    // by the group-commit writer into shared synced commits.
    do {
        let fixture = StoreFixture("hot-group-commit")
        let writers = 16
        let batchesPerWriter = 4
        let batch = 64
        Benchmark(
            "GroupCommit.16-writers.batches-of-64",
            configuration: .init(
                metrics: [eventsPerSecond] + hotMetrics, warmupIterations: 2, maxDuration: .seconds(10), maxIterations: 20,
                thresholds: appendMallocs, setup: { try fixture.open() }, teardown: { try fixture.close() }
            )
        ) { benchmark in
            let perWriter: [[[NewEvent]]] = (0..<writers).map { _ in
                (0..<batchesPerWriter).map { _ in fixture.makeEvents(batch) }
            }
            let store = fixture.store
            await measure(benchmark, events: writers * batchesPerWriter * batch) {
                try await concurrently(perWriter) { batches in
                    for events in batches {
                        blackHole(try await store.append(events))
                    }
                }
            }
        }
    }

    // Group commit of single events: 16 concurrent writers, each 50 × `store.append(event)` (800 events per iteration).
    do {
        let fixture = StoreFixture("hot-group-commit-1")
        let writers = 16
        let perWriter = 50
        Benchmark(
            "GroupCommit.16-writers.1-event-per-call",
            configuration: .init(
                metrics: [eventsPerSecond] + hotMetrics, warmupIterations: 2, maxDuration: .seconds(10), maxIterations: 20,
                thresholds: appendMallocs, setup: { try fixture.open() }, teardown: { try fixture.close() }
            )
        ) { benchmark in
            let perWriterEvents: [[NewEvent]] = (0..<writers).map { _ in fixture.makeEvents(perWriter) }
            let store = fixture.store
            await measure(benchmark, events: writers * perWriter) {
                try await concurrently(perWriterEvents) { events in
                    for event in events {
                        blackHole(try await store.append(event))
                    }
                }
            }
        }
    }

    // A bulk group: one `store.append([8,192 events])` per iteration, one group commit of 8,192 events — past
    // `GroupAppend.sealAsideMinimum`, so its hash chain is sealed on a second thread while the writer folds, and its log
    // records are appended when the group finishes.
    do {
        let fixture = StoreFixture("hot-bulk-group")
        Benchmark(
            "GroupCommit.1-writer.batch-of-8192",
            configuration: .init(
                metrics: [eventsPerSecond] + hotMetrics, warmupIterations: 2, maxDuration: .seconds(10), maxIterations: 20,
                thresholds: appendMallocs, setup: { try fixture.open() }, teardown: { try fixture.close() }
            )
        ) { benchmark in
            let events = fixture.makeEvents(8_192)
            let store = fixture.store
            await measure(benchmark, events: events.count) {
                blackHole(try await store.append(events))
            }
        }
    }

    // Decode: `store.events(from: 1, limit: 1000)` on a store of 1,000 events, i.e. one read snapshot and 1,000 stored
    // records decoded (RecordCodec) into `RecordedEvent`s. One iteration is one call.
    do {
        var options = StoreOptions()
        options.durability = .deferred
        let fixture = StoreFixture("hot-decode", options: options)
        Benchmark(
            "Decode.records.1000-events",
            configuration: .init(
                metrics: hotMetrics, timeUnits: .microseconds, warmupIterations: 20, scalingFactor: .one,
                maxDuration: .seconds(3), maxIterations: 2_000, thresholds: exactMallocs,
                setup: {
                    try fixture.open()
                    try await fixture.fill(1_000)
                },
                teardown: { try fixture.close() }
            )
        ) { benchmark in
            let store = fixture.store
            benchmark.startMeasurement()
            do {
                let events = try store.events(from: 1, limit: 1_000)
                precondition(events.count == 1_000)
                blackHole(events)
            } catch {
                benchmark.error("read failed: \(String(reflecting: error))")
            }
            benchmark.stopMeasurement()
        }
    }

    // Rebuild: `store.rebuild()` of the index projection on a store of 20,000 events (fold into a scratch
    // environment, copy into the idle generation, switch). One iteration is one rebuild.
    do {
        var options = StoreOptions()
        options.durability = .deferred
        let fixture = StoreFixture("hot-rebuild", options: options)
        Benchmark(
            "Rebuild.index-projection.20k-events",
            configuration: .init(
                metrics: hotMetrics, timeUnits: .milliseconds, warmupIterations: 1, maxDuration: .seconds(10),
                maxIterations: 10, thresholds: exactMallocs,
                setup: {
                    try fixture.open()
                    try await fixture.fill(20_000)
                },
                teardown: { try fixture.close() }
            )
        ) { benchmark in
            let store = fixture.store
            benchmark.startMeasurement()
            do {
                blackHole(try store.rebuild())
            } catch {
                benchmark.error("rebuild failed: \(String(reflecting: error))")
            }
            benchmark.stopMeasurement()
        }
    }
}
