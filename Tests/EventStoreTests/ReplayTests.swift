import Foundation
import Testing
@testable import EventStore

@Suite("Replay to a position")
struct ReplayTests {
    @Test("a replay to a position is the store that received only the events up to it: log, streams, ids, projections")
    func replayEqualsAPrefix() async throws {
        var options = StoreOptions()
        options.rebuildChunk = 7
        try await withStore(projections: [EventTypeIndex(), RejectingCounter()], options: options) { store, _ in
            // A long stream (past several sparse-index entries), streams that start late, and a mix of types.
            var written: [NewEvent] = []
            for i in 0..<700 {
                let stream = i % 3 == 0 ? "long" : "s-\(i * 7919 % (1 + i / 20))"
                let event = sampleEvent(stream: stream, type: "type-\(i * 31 % 7 % 4)")
                try await store.append(event)
                written.append(event)
            }
            let head = try store.head()
            #expect(try store.read { try EventTypeIndex.positions(ofType: "", in: $0) } == [], "an empty type has no events")
            for cut: UInt64 in [0, 1, 2, 64, 191, 192, 193, 194, 350, 577, 699, 700] {
                let replay = try store.replay(through: cut)
                defer {
                    try? replay.close()
                    try? FileManager.default.removeItem(atPath: replay.path)
                }
                let prefix = written.prefix(Int(cut))
                #expect(try replay.head() == cut, "cut \(cut)")
                #expect(try replay.events(from: 1, limit: .max) == store.events(from: 1, limit: Int(cut)), "cut \(cut): the log's prefix")
                for stream in Set(written.map(\.stream)) {
                    let count = UInt64(prefix.filter { $0.stream == stream }.count)
                    #expect(try replay.read { try $0.version(of: stream) } == count, "cut \(cut): version of \(stream)")
                    #expect(
                        try replay.read { try $0.stream(stream, from: 1, limit: .max) }.map(\.id) == prefix.filter { $0.stream == stream }.map(\.id),
                        "cut \(cut): events of \(stream)")
                }
                for (index, event) in written.enumerated() {
                    let expected = index < cut ? UInt64(index + 1) : nil
                    #expect(try replay.read { try $0.event(id: event.id)?.position } == expected, "cut \(cut): id of event \(index + 1)")
                }
                for type in 0..<4 {
                    let expected = prefix.filter { $0.type == "type-\(type)" }.count
                    #expect(try RejectingCounter.count("type-\(type)", in: replay) == expected, "cut \(cut): counter")
                    #expect(try replay.read { try EventTypeIndex.positions(ofType: "type-\(type)", in: $0) }.count == expected)
                }
                try expectSound(replay)
                // It takes appends like any store: the stream numbers and the chain continue.
                try await replay.append(sampleEvent(stream: "long"))
                #expect(try replay.read { try $0.version(of: "long") } == UInt64(prefix.filter { $0.stream == "long" }.count + 1))
                try expectSound(replay)
            }
            #expect(throws: EventStoreError.self) { try store.replay(through: head + 1) }
        }
    }

    @Test("a store without projections rebuilds nothing and replays its log: the refold still reads it")
    func noProjections() async throws {
        try await withStore(projections: []) { store, _ in
            for i in 0..<3_000 { try await store.append(sampleEvent(stream: "s-\(i % 11)")) }
            #expect(try store.rebuild() == [])
            let projections = try store.replayProjections(through: 2_000)
            #expect(projections.streams == 11)
            projections.discard()
            let replay = try store.replay(through: 2_000)
            #expect(try replay.head() == 2_000)
            try expectSound(replay)
            try replay.close()
            try FileManager.default.removeItem(atPath: replay.path)
        }
    }
}
