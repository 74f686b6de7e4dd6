import Foundation
import Testing
@testable import EventStore

/// kill -9 mid-write: a real child process appends continuously (batches over several streams, from 4 tasks through
/// group commit) and reports each acknowledged event as soon as its append returns; the test kills it at random
/// moments and checks the store after every kill.
@Suite("Crash: kill -9 mid-write")
struct CrashTests {
    /// Kills per run; `REEL_CRASH_KILLS` raises it for a long run.
    static var kills: Int { ProcessInfo.processInfo.environment["REEL_CRASH_KILLS"].flatMap(Int.init) ?? 30 }

    @Test("every acknowledged event survives SIGKILL, batches are whole, the store stays sound")
    func killNine() async throws {
        let seed = ProcessInfo.processInfo.environment["REEL_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 0...UInt64.max)
        print("CrashTests seed: \(seed) (rerun with REEL_SEED=\(seed)), kills: \(Self.kills)")
        var rng = SeededKillTimes(state: seed)
        let directory = TemporaryDirectory("crash")
        defer { directory.remove() }
        var acknowledged: [UUID: (position: UInt64, size: Int)] = [:]
        for round in 0..<Self.kills {
            let driver = Process()
            driver.executableURL = URL(fileURLWithPath: builtExecutable("reel-test-driver"))
            driver.arguments = ["append", directory.path, "10000000", "crash-\(round % 3)", String(1 + round % 9)]
            let output = Pipe()
            driver.standardOutput = output
            driver.standardError = FileHandle.nullDevice
            try driver.run()
            try await Task.sleep(for: .milliseconds(rng.next(in: 30...250)))
            kill(driver.processIdentifier, SIGKILL)
            driver.waitUntilExit()
            #expect(driver.terminationReason == .uncaughtSignal, "round \(round): the driver was killed, not finished")
            // Only complete lines count: the last one may have been cut by the kill.
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast() where line.hasPrefix("ack ") {
                let parts = line.split(separator: " ")
                guard parts.count == 4, let position = UInt64(parts[1]), let id = UUID(uuidString: String(parts[2])), let size = Int(parts[3]) else {
                    Issue.record("round \(round): malformed ack line \(line)")
                    continue
                }
                acknowledged[id] = (position, size)
            }
            // Reopen after every kill and check everything.
            let store = try Store.open(at: directory.path, projections: [EventTypeIndex()])
            let head = try store.head()
            var batches: [String: (expected: Int, found: Int)] = [:]
            var next: UInt64 = 1
            while next <= head {
                let page = try store.events(from: next, limit: 5_000)
                for event in page {
                    guard let tag = event.metadata.correlationID, let size = tag.split(separator: "-").last.flatMap({ Int($0) }) else { continue }
                    batches[tag, default: (size, 0)].found += 1
                }
                next = (page.last?.position ?? head) + 1
            }
            for (tag, batch) in batches where batch.found != batch.expected {
                Issue.record("round \(round): batch \(tag) is half-present: \(batch.found) of \(batch.expected) events")
            }
            for (id, ack) in acknowledged {
                let stored = try store.event(id: id)
                #expect(stored?.position == ack.position, "round \(round): acknowledged event \(id) at \(ack.position) is \(stored.map { "at \($0.position)" } ?? "missing")")
                #expect(stored?.payload.count == ack.size, "round \(round): acknowledged event \(id) has other content")
            }
            try expectSound(store)
            try store.close()
        }
        print("CrashTests: \(Self.kills) kills, \(acknowledged.count) acknowledged events checked after each")
        #expect(acknowledged.count > Self.kills, "the driver got appends acknowledged between kills")
    }
}

/// A seeded source of kill delays.
struct SeededKillTimes {
    var state: UInt64
    mutating func next(in range: ClosedRange<Int>) -> Int {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return range.lowerBound + Int((state >> 33) % UInt64(range.count))
    }
}
