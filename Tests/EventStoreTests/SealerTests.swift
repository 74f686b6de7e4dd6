import Foundation
import Testing
@testable import EventStore

@Suite("Sealer")
struct SealerTests {
    /// The record's stored bytes, copied.
    func bytes(_ request: AppendRequest, _ index: Int) -> [UInt8] { request.records[index].bytes }

    @Test("stop() returns only once the sealer's thread has let go of the records, even in the middle of one")
    func stopWaitsForTheRecordInHand() throws {
        // A small event, then one whose 64 MB payload takes the sealer tens of milliseconds to hash.
        let request = AppendRequest(
            events: [sampleEvent(stream: "s"), sampleEvent(stream: "s", size: 64 << 20)], expected: [:])
        let unsealed = bytes(request, 1)
        let sealer = Sealer(previousHash: RecordCodec.zeroHash, recordedAt: 1)
        sealer.seal(
            [
                Sealer.Event(request: request, index: 0, previousInStream: 0, version: 1),
                Sealer.Event(request: request, index: 1, previousInStream: 1, version: 2),
            ], from: 1)
        // Once the first is sealed, the sealer has gone on to the large one.
        let deadline = Date().addingTimeInterval(10)
        while bytes(request, 0)[1..<33].allSatisfy({ $0 == 0 }), Date() < deadline { usleep(50) }
        sealer.stop()
        let atStop = bytes(request, 1)
        usleep(300_000)
        // (Compared as booleans: a failing `#expect` would print both 64 MB arrays.)
        let unchanged = bytes(request, 1) == atStop
        #expect(unchanged, "the record changed after stop() returned")
        // Stopped before the large one, or after sealing it whole: never half-way.
        if atStop != unsealed {
            let copy = AppendRequest(events: request.events, expected: [:])
            let first = copy.records[0].seal(previousHash: RecordCodec.zeroHash, previousInStream: 0, position: 1, version: 1, recordedAt: 1)
            _ = copy.records[1].seal(previousHash: first, previousInStream: 1, position: 2, version: 2, recordedAt: 1)
            let whole = atStop == bytes(copy, 1)
            #expect(whole, "the large record was left half-sealed")
        }
    }

    @Test("finish() returns the last hash of the chain, the same as sealing each record in turn on one thread")
    func finishMatchesInlineSealing() throws {
        let events = (0..<3_000).map { sampleEvent(stream: "s-\($0 % 5)") }
        let aside = AppendRequest(events: events, expected: [:])
        let inline = AppendRequest(events: events, expected: [:])
        let sealer = Sealer(previousHash: RecordCodec.zeroHash, recordedAt: 42)
        var previous = RecordCodec.zeroHash
        var handed: [Sealer.Event] = []
        for index in events.indices {
            handed.append(Sealer.Event(request: aside, index: index, previousInStream: 0, version: UInt64(index / 5 + 1)))
            previous = inline.records[index].seal(
                previousHash: previous, previousInStream: 0, position: UInt64(index + 1), version: UInt64(index / 5 + 1), recordedAt: 42)
            if handed.count == 1_024 || index == events.count - 1 {
                sealer.seal(handed, from: UInt64(index + 2 - handed.count))
                handed = []
            }
        }
        #expect(sealer.finish() == previous)
        for index in events.indices { #expect(bytes(aside, index) == bytes(inline, index), "record \(index)") }
    }
}
