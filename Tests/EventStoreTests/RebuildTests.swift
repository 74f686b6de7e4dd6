import Foundation
import LMDB
import Testing
@testable import EventStore

@Suite("Blue/green rebuild")
struct RebuildTests {
    @Test("a rebuild while this process appends loses nothing and ends equal to a fold from scratch")
    func rebuildWhileAppending() async throws {
        var options = StoreOptions()
        options.rebuildChunk = 20
        try await withStore(projections: [EventTypeIndex(), RejectingCounter()], options: options) { store, _ in
            for i in 0..<1_500 { try await store.append(sampleEvent(stream: "s-\(i % 9)", type: i.isMultiple(of: 3) ? "good" : "other")) }
            let appending = Task {
                for i in 0..<600 { try await store.append(sampleEvent(stream: "live-\(i % 4)", type: "good")) }
            }
            // Readers during the rebuild always see a projection that agrees with the log at their snapshot.
            let reading = Task.detached {
                var checks = 0
                while !Task.isCancelled {
                    try store.read { snapshot in
                        let head = try snapshot.head()
                        let good = try EventTypeIndex.positions(ofType: "good", in: snapshot).count
                        let other = try EventTypeIndex.positions(ofType: "other", in: snapshot).count
                        #expect(good + other == Int(head), "a snapshot never mixes generations")
                    }
                    checks += 1
                    // Lets the other tasks of the pool run: a loop that never suspends would hold one of its few
                    // threads for good, and with the others busy the appends it waits for would never resume.
                    await Task.yield()
                }
                return checks
            }
            var progressed = 0
            let rebuilt = try store.rebuild { _, _, _ in progressed += 1 }
            try await appending.value
            reading.cancel()
            #expect(try await reading.value > 0)
            #expect(rebuilt == ["event-types", "counter"])
            #expect(progressed > 10, "the fold went in many short transactions")
            #expect(try store.head() == 2_100)
            #expect(try RejectingCounter.count("good", in: store) == 500 + 600)
            let generations = try store.read { snapshot in
                try store.layout.projections.map { try store.layout.generation(of: $0, snapshot.txn) }
            }
            #expect(generations == [1, 1], "both switched to their other generation")
            try store.rebuild(projection: "counter")
            #expect(try RejectingCounter.count("good", in: store) == 1_100)
            #expect(throws: EventStoreError.unknownProjection("nope")) { try store.rebuild(projection: "nope") }
        }
    }

    @Test("a rebuild while another process appends: nothing lost, equal to a fold from scratch")
    func rebuildWhileAnotherProcessAppends() async throws {
        var options = StoreOptions()
        options.rebuildChunk = 100
        try await withStore(options: options) { store, directory in
            for i in 0..<2_000 { try await store.append(sampleEvent(stream: "s-\(i % 5)")) }
            let driver = Process()
            driver.executableURL = URL(fileURLWithPath: builtExecutable("reel-test-driver"))
            driver.arguments = ["append", directory.path, "3000", "other", "5"]
            driver.standardOutput = FileHandle.nullDevice
            try driver.run()
            var rebuilds = 0
            while driver.isRunning || rebuilds == 0 {
                try store.rebuild()
                rebuilds += 1
            }
            driver.waitUntilExit()
            #expect(driver.terminationStatus == 0)
            #expect(try store.head() == 5_000)
            #expect(try store.read { try EventTypeIndex.positions(ofType: "driver.appended", in: $0) }.count == 3_000)
        }
    }

    @Test("a rebuild in a store started with a 1 MiB map, grown by itself on the way, equals a fold from scratch")
    func rebuildGrowingTheMap() async throws {
        var options = StoreOptions()
        options.initialMapSize = 1 << 20
        options.rebuildChunk = 40
        try await withStore(projections: [EventTypeIndex(), RejectingCounter()], options: options) { store, _ in
            for i in 0..<40 {
                try await store.append((0..<100).map { j in sampleEvent(stream: "s-\((i * 100 + j) % 37)", type: "type-\(j % 23)", size: 200) })
            }
            try store.rebuild()
            #expect(try store.statistics().mapBytes > 1 << 20, "the map grew past its initial size")
            #expect(try RejectingCounter.count("type-0", in: store) == 40 * 5)
        }
    }
}

/// Accepts every event when it is appended, and refuses events of type `poison` when they are folded again (it marks
/// them in ``prepare(_:)``, which only a refold calls): drives the failure of one of several projections folding in
/// parallel.
struct RefusesInRefold: Projection {
    struct Refused: Error, Equatable { let position: UInt64 }
    struct Marked: Sendable {}

    let name = "refuses-in-refold"
    let version: UInt32 = 1
    let databases = [ProjectionDatabase("seen")]

    func prepare(_ event: RecordedEvent) -> (any Sendable)? { event.type == "poison" ? Marked() : nil }

    func apply(_ event: RecordedEvent, _ txn: borrowing Transaction, _ databases: ProjectionDatabases) throws {
        if event.attachment is Marked { throw Refused(position: event.position) }
        try txn.put(databases["seen"], BigEndian.bytes(event.position), [])
    }
}

@Suite("Refold failures")
struct RefoldFailureTests {
    @Test("one of several projections refusing an event in a refold fails the rebuild, the replay and the audit cleanly")
    func oneRefusingProjection() async throws {
        var options = StoreOptions()
        options.rebuildChunk = 10
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store.open(at: directory.path, projections: [EventTypeIndex(), RefusesInRefold()], options: options)
        for i in 0..<3_000 { try await store.append(sampleEvent(stream: "s-\(i % 7)", type: i == 2_500 ? "poison" : "fine")) }
        #expect(throws: RefusesInRefold.Refused(position: 2_501)) { try store.rebuild() }
        #expect(throws: RefusesInRefold.Refused(position: 2_501)) { try store.replay(through: 2_600) }
        let problems = try store.verifyProjections()
        #expect(problems.map(\.location) == [.position(2_501)], "\(problems)")
        // Before the poisoned event the refold succeeds; nothing of the failed attempts is left in use.
        let replay = try store.replay(through: 2_500)
        #expect(try replay.head() == 2_500)
        try replay.close()
        try FileManager.default.removeItem(atPath: replay.path)
        #expect(try store.verify().isEmpty)
        #expect(try store.read { try EventTypeIndex.positions(ofType: "fine", in: $0) }.count == 2_999)
        try store.close()
    }
}
