import Foundation
import Testing
@testable import EventStore

@Suite("Reading and subscribing")
struct ReadTests {
    @Test("read by position, stream, id and type")
    func reads() async throws {
        try await withStore { store, _ in
            var ids: [UUID] = []
            for i in 0..<30 {
                let event = sampleEvent(stream: "s-\(i % 3)", type: "t-\(i % 2)")
                ids.append(event.id)
                try await store.append(event)
            }
            #expect(try store.events(from: 11, limit: 5).map(\.position) == [11, 12, 13, 14, 15])
            #expect(try store.events(from: 29, limit: 5).map(\.position) == [29, 30])
            #expect(try store.stream("s-1").map(\.version) == Array(1...10))
            #expect(try store.stream("s-1", from: 4, limit: 2).map(\.position) == [11, 14])
            #expect(try store.stream("nothing").isEmpty)
            #expect(try store.version(of: "s-2") == 10)
            #expect(try store.event(id: ids[7])?.position == 8)
            #expect(try store.event(id: UUID()) == nil)
            #expect(try store.read { try EventTypeIndex.positions(ofType: "t-1", from: 20, in: $0) } == [20, 22, 24, 26, 28, 30])
            let event = try #require(try store.events(from: 5, limit: 1).first)
            #expect(event.metadata.actor == "test")
            #expect(event.hash.count == 32)
        }
    }

    @Test("stream reads from any version and with any limit agree with the log, across the sparse stream index")
    func streamReadsAcrossTheIndex() async throws {
        try await withStore { store, _ in
            // Three interleaved streams of 300, 150 and 45 events.
            for i in 0..<495 {
                let stream = i % 11 < 6 ? "long" : (i % 11 < 9 ? "medium" : "short")
                try await store.append(sampleEvent(stream: stream))
            }
            let all = try store.events(from: 1, limit: 1_000)
            for stream in ["long", "medium", "short"] {
                let expected = all.filter { $0.stream == stream }
                #expect(expected.map(\.version) == Array(1...UInt64(expected.count)))
                for from in [1, 2, 63, 64, 65, 128, 129, 200, UInt64(expected.count), UInt64(expected.count) + 1] {
                    for limit in [1, 7, 64, 65, 100, 1_000, Int.max] {
                        let read = try store.stream(stream, from: from, limit: limit)
                        let want = Array(expected.dropFirst(Int(from) - 1).prefix(limit))
                        #expect(read == want, "\(stream) from \(from) limit \(limit)")
                    }
                }
            }
        }
    }

    @Test("a subscription catches up, then delivers new commits live")
    func subscription() async throws {
        try await withStore { store, _ in
            for i in 0..<700 { try await store.append(sampleEvent(stream: "s-\(i % 5)")) }
            let received = Task {
                var positions: [UInt64] = []
                for try await event in store.subscribe(from: 3) {
                    positions.append(event.position)
                    if positions.count == 748 { break }
                }
                return positions
            }
            try await Task.sleep(for: .milliseconds(200))
            for i in 0..<50 { try await store.append(sampleEvent(stream: "live-\(i % 2)")) }
            let positions = try await received.value
            #expect(positions == Array(3...750))
        }
    }

    @Test("a subscription waiting for events ends when its task is cancelled")
    func subscriptionCancellation() async throws {
        try await withStore { store, _ in
            let waiting = Task {
                var count = 0
                for try await _ in store.subscribe() { count += 1 }
                return count
            }
            try await Task.sleep(for: .milliseconds(100))
            waiting.cancel()
            #expect(try await waiting.value == 0)
        }
    }
}

@Suite("UUID text")
struct UUIDTextTests {
    @Test("fast formatting and parsing agree with Foundation, in both cases, and refuse malformed text")
    func agreesWithFoundation() {
        for _ in 0..<1_000 {
            let id = Bool.random() ? UUID() : UUID.timeOrdered()
            #expect(id.lowercased == id.uuidString.lowercased())
            #expect(UUID(parsing: id.uuidString) == id)
            #expect(UUID(parsing: id.uuidString.lowercased()) == id)
        }
        for bad in ["", "not-a-uuid", "3f2a0000-0000-0000-0000-00000000000", "3f2a0000-0000-0000-0000-0000000000000",
                    "3f2a0000x0000-0000-0000-000000000000", "3f2a0000-0000-0000-0000-00000000000g", "é3f2a000-0000-0000-0000-000000000000"] {
            #expect(UUID(parsing: bad) == nil, "\(bad)")
            #expect(UUID(uuidString: bad) == nil, "Foundation agrees on \(bad)")
        }
    }

    @Test("time-ordered ids of one process increase strictly, with RFC 9562's version 7 layout")
    func timeOrderedIncrease() {
        let before = UInt64(Date().timeIntervalSince1970 * 1000)
        var previous = UUID.timeOrdered()
        for _ in 0..<10_000 {
            let next = UUID.timeOrdered()
            #expect(next.isGreater(than: previous))
            previous = next
        }
        let after = UInt64(Date().timeIntervalSince1970 * 1000)
        let text = previous.lowercased
        let bytes = withUnsafeBytes(of: previous.uuid) { Array($0) }
        #expect(bytes[6] >> 4 == 7 && bytes[8] >> 6 == 0b10, "version 7, variant 10: \(text)")
        let milliseconds = bytes[0..<6].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        // The counter may carry into the millisecond when more than 2^26 ids are asked for in one; 10,000 are not.
        #expect(before <= milliseconds && milliseconds <= after, "\(text): \(milliseconds) outside \(before)…\(after)")
    }
}
