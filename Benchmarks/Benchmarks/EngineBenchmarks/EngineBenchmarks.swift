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

/// A fresh durable store (default options: every commit synced) with the index projection, for one benchmark.
final class StoreFixture: @unchecked Sendable {
    private let label: String
    private let lock = NSLock()
    private var directory: URL?
    private var opened: Store?
    /// Events made so far: picks the stream and payload of the next one.
    private var made = 0

    init(_ label: String) { self.label = label }

    var store: Store {
        lock.withLock { opened! }
    }

    func open() throws {
        let directory = try makeTemporaryDirectory(label)
        let store = try Store.open(at: directory.path, projections: [IndexProjection()])
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

    /// `count` new events, spread round-robin over the streams.
    func makeEvents(_ count: Int) -> [NewEvent] {
        let first = lock.withLock { () -> Int in
            defer { made += count }
            return made
        }
        return (first..<first + count).map { n in
            NewEvent(stream: streamNames[n % streamCount], type: eventType, payload: payloads[n % payloads.count])
        }
    }
}

/// A raw LMDB environment with a `log` and an `index` database, default (synced) options.
final class RawFixture: @unchecked Sendable {
    private let lock = NSLock()
    private var directory: URL?
    private var state: (environment: Environment, log: Database, index: Database)?
    /// The next position to write.
    private var nextPosition: UInt64 = 1

    func open() throws {
        let directory = try makeTemporaryDirectory("raw")
        let environment = try Environment(path: directory.path)
        let (log, index) = try environment.openDatabases { txn in
            (try txn.openDatabase("log", flags: .create), try txn.openDatabase("index", flags: .create))
        }
        lock.withLock {
            self.directory = directory
            self.state = (environment, log, index)
            self.nextPosition = 1
        }
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

    /// Writes `count` events in write transactions of `perTransaction` events each.
    func write(_ count: Int, perTransaction: Int) throws {
        let (environment, log, index) = lock.withLock { state! }
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
            try environment.write { txn in
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
                    }
                }
            }
            remaining -= n
        }
    }
}

/// The raw ceiling writes values of this size (about what a 250-byte payload takes with a record header).
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

// MARK: - Benchmarks

let benchmarks: @Sendable () -> Void = {
    let metrics: [BenchmarkMetric] = [eventsPerSecond, .throughput, .wallClock, .peakMemoryResident]

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
    do {
        let fixture = StoreFixture("w16b64")
        let writers = 16
        let batch = 64
        let batchesPerWriter = 16  // 16 × 16 × 64 = 16,384 events per iteration
        Benchmark(
            "Append durable, 16 writers, batches of 64",
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
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for batches in perWriter {
                        group.addTask {
                            for events in batches {
                                blackHole(try await store.append(events))
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
        }
    }

    // 3. Sixteen writers, one event per call: throughput bounded by how many events one synced commit can gather.
    do {
        let fixture = StoreFixture("w16b1")
        let writers = 16
        let perWriter = 250  // 16 × 250 = 4,000 events per iteration
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
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for events in perWriterEvents {
                        group.addTask {
                            for event in events {
                                blackHole(try await store.append(event))
                            }
                        }
                    }
                    try await group.waitForAll()
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
            await measure(benchmark, events: eventsPerIteration) {
                try fixture.write(eventsPerIteration, perTransaction: 1_000)
            }
        }
    }
}
