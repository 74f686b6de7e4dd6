// Query latency of the media store's five queries on a store of about 1,000,000 events, and the throughput of the
// `reel append` pipeline (parse an NDJSON line, prepare, enqueue), durable.
//
// Run from the Benchmarks directory:
//     swift package --allow-writing-to-package-directory benchmark --filter "Query.*|reel append.*"
//
// Also the hot paths of the media domain that `thresholds check` gates on their malloc counts (see the README):
// decoding stored payloads into `DomainEvent`s and rebuilding the media store's projections.
//
// Query benchmarks: one iteration is one query (scaling factor 1), so the wall-clock percentiles are the latency of
// one query, in microseconds. Every query runs in-process against the same store, through `MediaStore`'s public
// query methods (each opens its own read snapshot, as a request would). The typed result is built; it is not
// rendered to JSON.
//
// The store (the fixture) is built once: ~1,000,000 events of a realistic production (the mix of
// tools/make-production.py) with the measured entities (`Targets`) spread evenly through it. package-benchmark runs
// every benchmark in its own process, so the fixture is shared between the processes of one `benchmark` invocation:
// it lives in `<tmp>/reel-query-bench-<pid of the BenchmarkTool process>`, and the first query benchmark to run builds
// it. The last query benchmark in the tool's order (by name: "Query.story…") deletes it in its teardown; any other
// fixture whose BenchmarkTool process is gone is deleted at the next setup.

import Benchmark
import EventStore
import Foundation
import MediaPipeline
import ProductionFixtures

// The production, the measured entities (`Targets`), the interleaving (`Dataset`) and the `Loader` come from
// Fixtures/ (ProductionFixtures), shared with Compare/.

// MARK: - The shared query fixture

struct FixtureError: Error, CustomStringConvertible {
    let description: String
}

/// The store of ~1M events the query benchmarks read, built once per `benchmark` invocation (see the file header).
final class QueryFixture: @unchecked Sendable {
    static let shared = QueryFixture()

    /// Events in the store: the measured entities plus filler up to this count.
    static let totalEvents = 1_000_000
    static let prefix = "reel-query-bench-"

    let targets = Targets(seed: Dataset.targetSeed)
    private let lock = NSLock()
    private var opened: MediaStore?

    /// One fixture per BenchmarkTool process: every benchmark runs in a child process of it.
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)\(getppid())", isDirectory: true)
    private var marker: URL { directory.appendingPathComponent("complete.txt") }

    var media: MediaStore { lock.withLock { opened! } }

    /// Opens the fixture, building it first unless a complete one is there; then checks the measured entities.
    func prepare() throws {
        try lock.withLock {
            guard opened == nil else { return }
            removeStaleFixtures()
            let fileManager = FileManager.default
            if fileManager.fileExists(atPath: marker.path) {
                var options = StoreOptions()
                options.readOnly = true
                opened = try MediaStore.open(at: directory.path, options: options)
                let note = (try? String(contentsOf: marker, encoding: .utf8)) ?? ""
                FileHandle.standardError.write(Data("query fixture: reusing \(directory.path) (\(note.trimmingCharacters(in: .newlines)))\n".utf8))
            } else {
                try? fileManager.removeItem(at: directory)
                try fileManager.createDirectory(at: directory, withIntermediateDirectories: true)
                opened = try build()
            }
            try check(opened!)
        }
    }

    /// Closes the store and, with `remove`, deletes the fixture.
    func close(remove: Bool) throws {
        let media = lock.withLock { () -> MediaStore? in
            defer { opened = nil }
            return opened
        }
        if let media, !media.store.options.readOnly { try media.close() }
        if remove { try? FileManager.default.removeItem(at: directory) }
    }

    /// Deletes the fixtures of BenchmarkTool processes that no longer run.
    private func removeStaleFixtures() {
        let temporary = FileManager.default.temporaryDirectory
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: temporary.path) else { return }
        for name in names where name.hasPrefix(Self.prefix) {
            guard let pid = pid_t(name.dropFirst(Self.prefix.count)), pid != getppid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH {
                try? FileManager.default.removeItem(at: temporary.appendingPathComponent(name))
            }
        }
    }

    private func build() throws -> MediaStore {
        let clock = ContinuousClock()
        let started = clock.now
        var options = StoreOptions()
        options.durability = .deferred
        options.initialMapSize = 4 << 30
        let media = try MediaStore.open(at: directory.path, options: options)
        let loader = Loader(media, window: 65_536)
        var resolver = StreamResolver(capacity: 2_000_000)

        let (first, rest) = targets.inputs()
        let measuredCount = first.count + rest.reduce(0) { $0 + $1.count }
        // The measured entities' events go in evenly among the filler (`Dataset`), in batches of 1,000.
        var batch: [MediaStore.Input] = []
        batch.reserveCapacity(1_100)
        func flush() throws {
            guard !batch.isEmpty else { return }
            let (events, expected) = try media.prepare(batch, resolver: &resolver)
            loader.enqueue(events, expected)
            batch.removeAll(keepingCapacity: true)
            if let failure = loader.failure { throw FixtureError(description: "building the query fixture: \(failure)") }
        }
        try Dataset.forEach(total: Self.totalEvents, targets: targets) { input in
            batch.append(input)
            if batch.count >= 1_000 { try flush() }
        }
        try flush()
        let filler = Self.totalEvents - measuredCount
        loader.drain()
        if let failure = loader.failure { throw FixtureError(description: "building the query fixture: \(failure)") }
        try media.store.sync()
        let elapsed = started.duration(to: clock.now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let head = try media.store.head()
        let bytes = (try? FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent("data.mdb").path)[.size] as? Int) ?? 0
        let note = String(
            format: "%d events (%d measured, %d filler) in %.1f s, %.0f events/s; data.mdb %.0f MiB", Int(head), measuredCount, filler,
            seconds, Double(head) / seconds, Double(bytes) / 1_048_576
        )
        try Data((note + "\n").utf8).write(to: marker)
        FileHandle.standardError.write(Data("query fixture: built \(directory.path): \(note)\n".utf8))
        return media
    }

    /// The measured entities have the shapes the benchmarks claim.
    private func check(_ media: MediaStore) throws {
        func expect(_ condition: Bool, _ what: String) throws {
            if !condition { throw FixtureError(description: "query fixture: \(what)") }
        }
        let scenes = try media.imagesByScene(project: targets.project)
        try expect(scenes.scenes.count == Targets.scenes && scenes.scenes.allSatisfy { $0.imageURLs.count == Targets.imagesPerScene }, "images-by-scene shape")
        let frame = try media.jobsByFrame(frame: targets.frame)
        try expect(frame.jobs.count == Targets.frameJobs && frame.status == .approved, "jobs-by-frame shape")
        let story = try media.story(targets.story)
        try expect(story.scenelets.count == Targets.sceneletCount && story.shots.count == Targets.sceneletCount, "story shape")
        let sessions = try media.sessions(user: targets.user)
        try expect(sessions.sessions.count == Targets.sessionCount, "sessions shape")
        let job = try media.job(targets.job)
        try expect(job.referenceImageURLs.count == 4 && job.images.count == Targets.imagesPerJob, "job shape")
    }
}

// MARK: - The append pipeline

/// NDJSON lines rendered in memory: one buffer and the ranges of its lines.
struct RenderedLines {
    var bytes: [UInt8] = []
    var ranges: [Range<Int>] = []

    mutating func append(_ input: MediaStore.Input) {
        var line = JSONObject()
        line.set("type", .string(input.event.type))
        line.set("data", .object(input.event.data))
        let metadata = input.metadata
        if metadata != .none {
            var object = JSONObject()
            if let actor = metadata.actor { object.set("actor", .string(actor)) }
            if let correlation = metadata.correlationID { object.set("correlation_id", .string(correlation)) }
            if let causation = metadata.causationID { object.set("causation_id", .string(causation)) }
            line.set("metadata", .object(object))
        }
        var writer = JSONWriter(capacity: 512)
        writer.write(.object(line), sortKeys: false)
        let start = bytes.count
        bytes.append(contentsOf: writer.bytes)
        ranges.append(start..<bytes.count)
        bytes.append(0x0A)
    }
}

extension RenderedLines {
    /// The first `count` lines.
    func prefix(_ count: Int) -> RenderedLines {
        var lines = RenderedLines()
        lines.ranges = Array(ranges.prefix(count))
        lines.bytes = Array(bytes[..<(lines.ranges.last.map { $0.upperBound + 1 } ?? 0)])
        return lines
    }
}

/// Lines rendered in a benchmark's setup, for its iterations.
final class LinesBox: @unchecked Sendable {
    private let lock = NSLock()
    private var lines = RenderedLines()
    func set(_ value: RenderedLines) { lock.withLock { lines = value } }
    func get() -> RenderedLines { lock.withLock { lines } }
}

/// A fresh store for the append pipeline (default options: every commit synced, unless `durability` says otherwise),
/// and the production that feeds it.
final class AppendFixture: @unchecked Sendable {
    private let durability: Durability
    private let timeOrderedIDs: Bool
    private let lock = NSLock()
    private var directory: URL?
    private var opened: MediaStore?
    private var production: Production

    init(durability: Durability = .synced, timeOrderedIDs: Bool = false) {
        self.durability = durability
        self.timeOrderedIDs = timeOrderedIDs
        production = Production(seed: 11, timeOrderedIDs: timeOrderedIDs)
    }

    var media: MediaStore { lock.withLock { opened! } }

    func open() throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("reel-bench-append-pipeline-\(UUID().uuidString)", isDirectory: true)
        var options = StoreOptions()
        options.durability = durability
        let media = try MediaStore.open(at: directory.path, options: options)
        lock.withLock {
            self.directory = directory
            self.opened = media
            self.production = Production(seed: 11, timeOrderedIDs: timeOrderedIDs)
        }
    }

    func close() throws {
        let (media, directory) = lock.withLock { () -> (MediaStore?, URL?) in
            defer {
                opened = nil
                self.directory = nil
            }
            return (opened, self.directory)
        }
        try media?.close()
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }

    /// The next whole rolls of the production, at least `count` lines, rendered as NDJSON.
    func render(atLeast count: Int) -> RenderedLines {
        lock.withLock {
            var lines = RenderedLines()
            lines.bytes.reserveCapacity(count * 320)
            lines.ranges.reserveCapacity(count + 64)
            var roll: [MediaStore.Input] = []
            while lines.ranges.count < count {
                roll.removeAll(keepingCapacity: true)
                production.roll(into: &roll)
                for input in roll { lines.append(input) }
            }
            return lines
        }
    }
}

/// The headline metric of the append pipeline: events per second over one iteration.
let eventsPerSecond = BenchmarkMetric.custom("Events/s", polarity: .prefersLarger, useScalingFactor: false)

/// Bytes this process passed to write calls during one iteration, per event: LMDB writes every page a commit dirtied
/// (`pwrite`/`writev` without `MDB_WRITEMAP`), so this is the pages each event costs. Linux only: `wchar` of
/// `/proc/self/io`. (`write_bytes` there is no use on this kernel: it counts whole large folios of the page cache as
/// dirtied, about 7× the bytes written, while the disk's own counters match `wchar`.)
let bytesWrittenPerEvent = BenchmarkMetric.custom("Bytes written/event", polarity: .prefersSmaller, useScalingFactor: false)

/// `wchar` of `/proc/self/io` (bytes passed to write calls so far), or nil where there is none.
func processWriteBytes() -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/self/io", encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix("wchar:") {
        return Int(line.dropFirst("wchar:".count).trimmingCharacters(in: .whitespaces))
    }
    return nil
}

/// What one iteration of an append-pipeline benchmark does with each parsed line.
enum PipelineStage {
    /// Parse, prepare and enqueue every line as its own batch, then wait for every commit (`reel append`).
    case append
    /// Parse and prepare only: the caller's share of the work, nothing is written.
    case parseAndPrepare
}

/// One benchmark of the append pipeline: each iteration renders the next ~100k lines of the production (not timed),
/// then runs them through `stage`.
func appendPipelineBenchmark(_ name: String, _ fixture: AppendFixture, stage: PipelineStage, iterations: Int, window: Int = 16_384) {
    let linesPerIteration = 100_000
    Benchmark(
        name,
        configuration: .init(
            metrics: [eventsPerSecond, bytesWrittenPerEvent, .wallClock, .peakMemoryResident], timeUnits: .milliseconds,
            warmupIterations: 1, maxDuration: .seconds(60), maxIterations: iterations,
            setup: { try fixture.open() }, teardown: { try fixture.close() }
        )
    ) { benchmark in
        let lines = fixture.render(atLeast: linesPerIteration)
        let media = fixture.media
        let loader = Loader(media, window: window)
        var resolver = StreamResolver()
        let clock = ContinuousClock()
        let writtenBefore = processWriteBytes()
        benchmark.startMeasurement()
        let start = clock.now
        lines.bytes.withUnsafeBytes { buffer in
            for range in lines.ranges {
                do {
                    let input = try InputLine.parse(UnsafeRawBufferPointer(rebasing: buffer[range]))
                    let (events, expected) = try media.prepare([input], resolver: &resolver)
                    switch stage {
                    case .append: loader.enqueue(events, expected)
                    case .parseAndPrepare: blackHole(events)
                    }
                } catch {
                    loader.fail("line \(range): \(error)")
                }
            }
        }
        loader.drain()
        do {
            // With deferred durability, `reel append --no-sync` syncs the last commit's meta page at the end; so does each
            // iteration here.
            if stage == .append, media.store.options.durability == .deferred { try media.store.sync() }
        } catch {
            loader.fail("sync: \(error)")
        }
        let elapsed = start.duration(to: clock.now)
        benchmark.stopMeasurement()
        if let failure = loader.failure {
            benchmark.error("append failed: \(failure)")
            return
        }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        benchmark.measurement(eventsPerSecond, Int((Double(lines.ranges.count) / seconds).rounded()))
        if let before = writtenBefore, let after = processWriteBytes() {
            benchmark.measurement(bytesWrittenPerEvent, (after - before) / lines.ranges.count)
        }
    }
}

// MARK: - Small media stores (decode, rebuild)

/// A fresh media store holding the first `eventCount` events of the production (deferred durability, synced at the end),
/// built in a benchmark's setup.
final class SmallMediaFixture: @unchecked Sendable {
    private let label: String
    private let eventCount: Int
    private let lock = NSLock()
    private var directory: URL?
    private var opened: MediaStore?
    private var stored: [RecordedEvent] = []

    init(_ label: String, events: Int) {
        self.label = label
        eventCount = events
    }

    var media: MediaStore { lock.withLock { opened! } }
    /// Every event of the store, read back after the build.
    var recorded: [RecordedEvent] { lock.withLock { stored } }

    func open() throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("reel-bench-\(label)-\(UUID().uuidString)", isDirectory: true)
        var options = StoreOptions()
        options.durability = .deferred
        let media = try MediaStore.open(at: directory.path, options: options)
        // A prefix of the production is valid on its own: every event only needs events before it.
        var production = Production(seed: 13)
        var inputs: [MediaStore.Input] = []
        inputs.reserveCapacity(eventCount + 64)
        while inputs.count < eventCount { production.roll(into: &inputs) }
        inputs.removeLast(inputs.count - eventCount)
        let loader = Loader(media, window: 65_536)
        var resolver = StreamResolver()
        var start = 0
        while start < inputs.count {
            let end = min(start + 1_000, inputs.count)
            let (events, expected) = try media.prepare(Array(inputs[start..<end]), resolver: &resolver)
            loader.enqueue(events, expected)
            start = end
        }
        loader.drain()
        if let failure = loader.failure { throw FixtureError(description: "building \(label): \(failure)") }
        try media.store.sync()
        let recorded = try media.store.events(from: 1, limit: eventCount)
        guard recorded.count == eventCount else {
            throw FixtureError(description: "building \(label): \(recorded.count) events stored, not \(eventCount)")
        }
        lock.withLock {
            self.directory = directory
            opened = media
            stored = recorded
        }
    }

    func close() throws {
        let (media, directory) = lock.withLock { () -> (MediaStore?, URL?) in
            defer {
                opened = nil
                self.directory = nil
                stored = []
            }
            return (opened, self.directory)
        }
        try media?.close()
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }
}

// MARK: - Thresholds

/// How far the p90 of the malloc count per iteration may move from the committed threshold (Thresholds/<toolchain>/)
/// before `thresholds check` reports it, in percent, either way. Only this metric is gated: it is the same in every
/// run of these single-threaded benchmarks.
var exactMallocs: [BenchmarkMetric: BenchmarkThresholds] { [.mallocCountTotal: .init(relative: [.p90: 5])] }

// MARK: - Benchmarks

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration.units = [eventsPerSecond: .count]
    let fixture = QueryFixture.shared

    /// One query per iteration. The names have no spaces: package-benchmark writes threshold files with spaces
    /// turned into `_` but looks them up by the name as it is.
    func query(_ name: String, removesFixture: Bool = false, _ body: @escaping @Sendable (MediaStore, Targets) throws -> Void) {
        Benchmark(
            name,
            configuration: .init(
                metrics: [.wallClock, .mallocCountTotal, .throughput], timeUnits: .microseconds, warmupIterations: 200,
                scalingFactor: .one, maxDuration: .seconds(8), maxIterations: 20_000, thresholds: exactMallocs,
                setup: { try fixture.prepare() }, teardown: { try fixture.close(remove: removesFixture) }
            )
        ) { benchmark in
            let media = fixture.media
            let targets = fixture.targets
            benchmark.startMeasurement()
            do {
                try body(media, targets)
            } catch {
                benchmark.error("query failed: \(String(reflecting: error))")
            }
            benchmark.stopMeasurement()
        }
    }

    query("Query.images-by-scene.100-scenes-x-4-images") { media, targets in
        blackHole(try media.imagesByScene(project: targets.project))
    }
    query("Query.jobs-by-frame.20-jobs") { media, targets in
        blackHole(try media.jobsByFrame(frame: targets.frame))
    }
    query("Query.job.4-reference-images-4-images") { media, targets in
        blackHole(try media.job(targets.job))
    }
    query("Query.sessions.20-sessions") { media, targets in
        blackHole(try media.sessions(user: targets.user))
    }
    // package-benchmark runs a target's benchmarks in name order, so this one runs last of the queries: it deletes
    // the fixture when it is done.
    query("Query.story.200-scenelets", removesFixture: true) { media, targets in
        blackHole(try media.story(targets.story))
    }

    // Decode: `DomainEvent(recorded:)` of 1,000 stored events of the production (their JSON payloads parsed and typed),
    // read from the store once in the setup. One iteration decodes all 1,000.
    do {
        let small = SmallMediaFixture("decode-domain", events: 1_000)
        Benchmark(
            "Decode.domain-events.1000-events",
            configuration: .init(
                metrics: [.mallocCountTotal, .wallClock, .throughput], timeUnits: .microseconds, warmupIterations: 20,
                scalingFactor: .one, maxDuration: .seconds(3), maxIterations: 2_000, thresholds: exactMallocs,
                setup: { try small.open() }, teardown: { try small.close() }
            )
        ) { benchmark in
            let recorded = small.recorded
            benchmark.startMeasurement()
            do {
                for event in recorded {
                    blackHole(try DomainEvent(recorded: event))
                }
            } catch {
                benchmark.error("decode failed: \(String(reflecting: error))")
            }
            benchmark.stopMeasurement()
        }
    }

    // Parse: `InputLine.parse` and `MediaStore.prepare` of the same 1,000 NDJSON lines of the production each
    // iteration (the first 1,000, rendered once in the setup), with a new stream resolver: what `reel append`'s
    // parsing thread does per line — JSON read, typed, checked, the payload made canonical, the record encoded —
    // without writing. Its malloc count guards the parsing path's allocations.
    do {
        let fixture = AppendFixture(durability: .deferred)
        let lines = LinesBox()
        Benchmark(
            "Parse.input-lines.1000-lines",
            configuration: .init(
                metrics: [.mallocCountTotal, .wallClock, .throughput], timeUnits: .microseconds, warmupIterations: 5,
                scalingFactor: .one, maxDuration: .seconds(3), maxIterations: 500, thresholds: exactMallocs,
                setup: {
                    try fixture.open()
                    let rendered = fixture.render(atLeast: 1_000)
                    lines.set(rendered.prefix(1_000))
                },
                teardown: { try fixture.close() }
            )
        ) { benchmark in
            let lines = lines.get()
            let media = fixture.media
            var resolver = StreamResolver()
            benchmark.startMeasurement()
            lines.bytes.withUnsafeBytes { buffer in
                for range in lines.ranges {
                    do {
                        let input = try InputLine.parse(UnsafeRawBufferPointer(rebasing: buffer[range]))
                        blackHole(try media.prepare([input], resolver: &resolver))
                    } catch {
                        benchmark.error("line \(range): \(error)")
                        return
                    }
                }
            }
            benchmark.stopMeasurement()
        }
    }

    // Rebuild: `store.rebuild()` of a media store of 20,000 events of the production: both of its projections (the
    // media domain and the event-type index), each folded into a scratch environment, copied into its idle generation
    // and switched. One iteration is one rebuild.
    do {
        let small = SmallMediaFixture("rebuild-media", events: 20_000)
        Benchmark(
            "Rebuild.media.20k-events",
            configuration: .init(
                metrics: [.mallocCountTotal, .wallClock, .throughput], timeUnits: .milliseconds, warmupIterations: 1,
                maxDuration: .seconds(10), maxIterations: 10, thresholds: exactMallocs,
                setup: { try small.open() }, teardown: { try small.close() }
            )
        ) { benchmark in
            let store = small.media.store
            benchmark.startMeasurement()
            do {
                blackHole(try store.rebuild())
            } catch {
                benchmark.error("rebuild failed: \(String(reflecting: error))")
            }
            benchmark.stopMeasurement()
        }
    }

    // What `reel append` does per line (Sources/reel/Append.swift): parse the NDJSON line, prepare it (stream
    // resolution, canonical JSON), wait for room in a 16,384-line window, enqueue it as its own batch; the group-commit
    // writer checks the rules, writes and syncs (default durability: every commit synced). The lines are rendered
    // before the timed part. 10 iterations of ~100k lines after one warm-up: the store grows to ~1.1M events.
    appendPipelineBenchmark("reel append pipeline, 100k events", AppendFixture(), stage: .append, iterations: 10)

    // Diagnostics: where the pipeline's time goes.

    // The same with deferred durability (each commit syncs its data pages, not its meta page) and one sync per
    // iteration (`reel append --no-sync`).
    appendPipelineBenchmark(
        "reel append pipeline, 100k events, deferred", AppendFixture(durability: .deferred), stage: .append, iterations: 10
    )
    // The same with 65,536 lines in flight instead of 16,384, so that parsing can overlap the commit of the group
    // before.
    appendPipelineBenchmark(
        "reel append pipeline, 100k events, window 65536", AppendFixture(), stage: .append, iterations: 10, window: 65_536
    )
    // The same with time-ordered (version 7) entity ids instead of the random version-4 ones services send: the
    // projection's tables, keyed by entity id, then grow at their ends instead of taking writes all over.
    appendPipelineBenchmark(
        "reel append pipeline, 100k events, time-ordered entity ids", AppendFixture(timeOrderedIDs: true), stage: .append, iterations: 10
    )
    // The caller's side alone: parse and prepare, nothing enqueued (the store stays empty, so every stream lookup in
    // the store misses).
    appendPipelineBenchmark("reel append pipeline, 100k events, parse and prepare only", AppendFixture(), stage: .parseAndPrepare, iterations: 5)
}
