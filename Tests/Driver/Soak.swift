import EventStore
import Foundation
import MediaPipeline

/// `soak STORE [--minutes M] [--interval SECONDS] [--tasks N] [--rebuild-every SECONDS] [--rate EVENTS/S] [--rebuild-chunk N]`: a long
/// mixed run (not in CI).
///
/// For M minutes (10), N tasks (16) append domain events through `MediaStore` (each its own production, atomic
/// batches of 1…8 events, synced; as fast as they can, or at about `--rate` events/s in all); a task runs every query of `reel query` on entities the change feed announced; a
/// subscription (`MediaStore.changes`) follows the head and checks that it receives every position exactly once, in
/// order; and a blue/green `Store.rebuild` runs every SECONDS (60) after the previous one ended. Every SECONDS of
/// `--interval` (60) it prints events/s, p50/p99 append latency, the queries run, and resident memory: `VmRSS` and
/// `RssAnon` from /proc/self/status. `VmRSS` includes the pages of the memory-mapped store the process touched, which
/// grow with the store by design; the bound is therefore checked on `RssAnon`, the process's own heap.
///
/// Fails (exit 1) when: an append, a query or a rebuild throws; the subscription skips or repeats a position, or does
/// not reach the head at the end; the events acknowledged are not exactly the events the log gained; `RssAnon` at the
/// end is more than twice its value after the warm-up (the first report after the first rebuild, which sizes the
/// fold's buffers) and above 128 MB; or the final audit
/// (`verify` and a refold of every projection) finds a problem.
struct Soak {
    let path: String
    let minutes: Double
    let interval: Double
    let tasks: Int
    let rebuildEvery: Double
    /// Events per second to aim at, all writers together (`nil`: as fast as they go).
    let rate: Double?
    /// Events per write transaction of a rebuild's fold (`StoreOptions.rebuildChunk`).
    let rebuildChunk: Int

    init(_ options: Options) {
        guard options.positional.count == 1 else {
            fail(
                "usage: reel-test-driver soak STORE [--minutes M] [--interval SECONDS] [--tasks N] [--rebuild-every SECONDS] [--rate EVENTS/S] [--rebuild-chunk N]",
                status: 2)
        }
        path = options.positional[0]
        minutes = options.number("minutes", 10.0)
        interval = options.number("interval", 60.0)
        tasks = options.number("tasks", 16)
        rebuildEvery = options.number("rebuild-every", 60.0)
        rate = options.named["rate"] == nil ? nil : options.number("rate", 1_000.0)
        rebuildChunk = options.number("rebuild-chunk", StoreOptions().rebuildChunk)
    }

    /// What the tasks share: counters since the last report, failures, entities to query.
    final class Shared: @unchecked Sendable {
        struct State {
            var latencies: [Double] = []
            var events = 0
            var totalEvents = 0
            var queries = 0
            var rebuilds: [Double] = []
            var failures: [String] = []
            var delivered: UInt64 = 0
            var recent: [DomainEvent] = []
            var recentNext = 0
        }

        let state = Locked(State())

        func failure(_ message: String) {
            FileHandle.standardError.write(Data("soak: FAILED: \(message)\n".utf8))
            state.withLock { if $0.failures.count < 100 { $0.failures.append(message) } }
        }

        /// Remembers an event for the query task, in a ring of 1,024.
        func remember(_ event: DomainEvent) {
            state.withLock { s in
                if s.recent.count < 1_024 {
                    s.recent.append(event)
                } else {
                    s.recent[s.recentNext] = event
                    s.recentNext = (s.recentNext + 1) % 1_024
                }
            }
        }
    }

    func run() async {
        let media: MediaStore
        var storeOptions = StoreOptions()
        storeOptions.rebuildChunk = rebuildChunk
        do { media = try MediaStore.open(at: path, options: storeOptions) } catch { fail("soak: cannot open \(path): \(error)", status: 3) }
        let shared = Shared()
        let start = ContinuousClock.now
        let deadline = start + .seconds(minutes * 60)
        let initialHead = (try? media.store.head()) ?? 0
        say(
            "soak: \(path), \(minutes) min, \(tasks) writer tasks\(rate.map { " at \(Int($0)) events/s" } ?? ""), report every \(interval) s, rebuild every \(rebuildEvery) s, head \(initialHead)"
        )

        // The subscription, from the head on: every position exactly once, in order.
        let subscriber = Task {
            var expected = initialHead + 1
            do {
                for try await (event, change) in media.changes(from: initialHead + 1) {
                    if event.position != expected {
                        shared.failure("subscription delivered position \(event.position), expected \(expected)")
                        expected = event.position
                    }
                    expected += 1
                    shared.state.withLock { $0.delivered = event.position }
                    switch change {
                    case .projectCreated, .storyCreated, .generationJobCreated, .userRegistered, .sessionCreated, .frameCreated,
                        .shotPlanned:
                        shared.remember(change)
                    default: break
                    }
                }
            } catch {
                shared.failure("subscription: \(error)")
            }
        }

        // Queries on what the feed announced; each id is committed, so each query must answer.
        let querier = Task {
            var rng = Xorshift(seed: 7)
            while ContinuousClock.now < deadline {
                let event: DomainEvent? = shared.state.withLock {
                    $0.recent.isEmpty ? nil : $0.recent[Int(rng.next() % UInt64($0.recent.count))]
                }
                guard let event else {
                    try? await Task.sleep(for: .milliseconds(10))
                    continue
                }
                do {
                    switch event {
                    case let .projectCreated(e): _ = try media.imagesByScene(project: e.projectID)
                    case let .storyCreated(e): _ = try media.story(e.storyID); _ = try media.bundle(story: e.storyID)
                    case let .generationJobCreated(e): _ = try media.job(e.jobID)
                    case let .userRegistered(e): _ = try media.sessions(user: e.userID); _ = try media.referenceImages(user: e.userID)
                    case let .sessionCreated(e): _ = try media.sessionImages(session: e.sessionID)
                    case let .frameCreated(e): _ = try media.jobsByFrame(frame: e.frameID)
                    case let .shotPlanned(e): _ = try media.framesByShot(shot: e.shotID)
                    default: break
                    }
                    if rng.next() % 16 == 0 { _ = try media.jobs(status: .pending, limit: 50) }
                    shared.state.withLock { $0.queries += 1 }
                } catch {
                    shared.failure("query after \(event.type): \(error)")
                }
                try? await Task.sleep(for: .milliseconds(1))  // a steady load, not a second core spinning
            }
        }

        // Blue/green rebuilds on their own thread (a rebuild is synchronous).
        let rebuilder = Thread {
            while ContinuousClock.now + .seconds(rebuildEvery) < deadline {
                Thread.sleep(forTimeInterval: rebuildEvery)
                let began = ContinuousClock.now
                do {
                    try media.store.rebuild()
                    let took = ContinuousClock.now - began
                    shared.state.withLock {
                        $0.rebuilds.append(Double(took.components.seconds) + Double(took.components.attoseconds) / 1e18)
                    }
                } catch {
                    shared.failure("rebuild: \(error)")
                }
            }
        }
        rebuilder.start()

        // The reporter: one line per interval; the first one after the first rebuild is the warm-up reference for memory.
        let rebuildsExpected = rebuildEvery < minutes * 60
        let reporter = Task {
            var warm: Int?
            var last = ContinuousClock.now
            while ContinuousClock.now < deadline {
                try? await Task.sleep(for: .seconds(min(interval, max(0.01, seconds(deadline - ContinuousClock.now)))))
                let now = ContinuousClock.now
                let (events, latencies, queries, rebuilds, total) = shared.state.withLock { s in
                    defer { (s.events, s.latencies, s.queries) = (0, [], 0) }
                    return (s.events, s.latencies, s.queries, s.rebuilds.count, s.totalEvents)
                }
                let memory = Memory.current()
                if warm == nil, rebuilds > 0 || !rebuildsExpected { warm = memory.anonymous }
                let sorted = latencies.sorted()
                func percentile(_ p: Double) -> Double { sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }
                let rate = Double(events) / seconds(now - last)
                say(
                    String(
                        format:
                            "soak: %5.0f s  %7.0f events/s  append p50 %6.2f ms  p99 %7.2f ms  queries %6d  rebuilds %d  VmRSS %5d MB  RssAnon %4d MB  events %d",
                        seconds(now - start), rate, percentile(0.5), percentile(0.99), queries, rebuilds, memory.resident >> 20,
                        memory.anonymous >> 20, total
                    ))
                last = now
            }
            return warm ?? Memory.current().anonymous
        }

        // The writers.
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for task in 0..<tasks {
                    group.addTask {
                        var production = MediaProduction(seed: UInt64(task + 1) &* 0x9E37_79B9_7F4A_7C15)
                        var sizes = Xorshift(seed: UInt64(task + 101))
                        var sent = 0
                        while ContinuousClock.now < deadline {
                            if let rate {
                                // Ahead of this task's share of the rate: wait until it is due.
                                let due = start + .seconds(Double(sent) / (rate / Double(tasks)))
                                if due > ContinuousClock.now { try await Task.sleep(until: due) }
                            }
                            let inputs = production.next(1 + Int(sizes.next() % 8)).map {
                                MediaStore.Input($0, metadata: EventMetadata(actor: "soak-\(task)"))
                            }
                            let began = ContinuousClock.now
                            _ = try await media.append(inputs)
                            let took = seconds(ContinuousClock.now - began) * 1_000
                            shared.state.withLock { s in
                                s.latencies.append(took)
                                s.events += inputs.count
                                s.totalEvents += inputs.count
                            }
                            sent += inputs.count
                        }
                    }
                }
                try await group.waitForAll()
            }
        } catch {
            shared.failure("append: \(error)")
        }
        let warm = await reporter.value
        await querier.value
        while !rebuilder.isFinished { try? await Task.sleep(for: .milliseconds(100)) }

        // The end: the feed reaches the head, every acknowledged event is in the log, memory is bounded, audit.
        let head = (try? media.store.head()) ?? 0
        let waitUntil = ContinuousClock.now + .seconds(30)
        while shared.state.withLock({ $0.delivered }) < head, ContinuousClock.now < waitUntil {
            try? await Task.sleep(for: .milliseconds(50))
        }
        subscriber.cancel()
        let (delivered, total, rebuilds) = shared.state.withLock { ($0.delivered, $0.totalEvents, $0.rebuilds) }
        if delivered != head { shared.failure("the subscription reached \(delivered), the head is \(head)") }
        if UInt64(total) != head - initialHead { shared.failure("\(total) events acknowledged, the log gained \(head - initialHead)") }
        let end = Memory.current()
        if end.anonymous > 2 * warm, end.anonymous > 128 << 20 {
            shared.failure("RssAnon grew from \(warm >> 20) MB after the warm-up to \(end.anonymous >> 20) MB")
        }
        say("soak: audit of \(head) events…")
        do {
            for problem in try media.store.verify() + media.store.verifyProjections() { shared.failure("audit: \(problem)") }
        } catch {
            shared.failure("audit: \(error)")
        }
        try? media.close()
        let elapsed = seconds(ContinuousClock.now - start)
        let failures = shared.state.withLock { $0.failures }
        let achieved = String(format: "%.0f", Double(total) / min(elapsed, minutes * 60))
        let times = rebuilds.map { String(format: "%.1f s", $0) }.joined(separator: ", ")
        say(
            "soak: \(total) events in \(Int(minutes * 60)) s (\(achieved) events/s), \(rebuilds.count) rebuilds (\(times)), "
                + "RssAnon \(warm >> 20) MB after the warm-up, \(end.anonymous >> 20) MB at the end: "
                + (failures.isEmpty ? "OK" : "\(failures.count) FAILURES")
        )
        exit(failures.isEmpty ? 0 : 1)
    }
}

/// Prints a line at once, unbuffered (into a file or a pipe too).
func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

/// Resident memory from /proc/self/status, in bytes.
enum Memory {
    static func current() -> (resident: Int, anonymous: Int) {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return (0, 0) }
        func field(_ name: String) -> Int {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return 0 }
            return (Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0) * 1024
        }
        return (field("VmRSS"), field("RssAnon"))
    }
}
