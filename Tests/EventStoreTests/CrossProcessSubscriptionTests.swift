import Foundation
import LMDB
import Testing
@testable import EventStore

@Suite("Subscriptions and other processes' commits")
struct CrossProcessSubscriptionTests {
    @Test("another process's commits reach a waiting subscription through the watch on data.mdb, with the fallback timer an hour away")
    func watchWakesSubscription() async throws {
        var options = StoreOptions()
        options.subscriptionFallback = .seconds(3_600)
        try await withStore(projections: [EventTypeIndex()], options: options) { store, directory in
            _ = try await store.append([sampleEvent(stream: "first")])
            // The subscriber catches up on the first event, then waits.
            let subscriber = Task { () -> [UInt64] in
                var positions: [UInt64] = []
                for try await event in store.subscribe(from: 1) {
                    positions.append(event.position)
                    if positions.count == 41 { break }
                }
                return positions
            }
            try await Task.sleep(for: .milliseconds(200))
            // 40 events from a real second process, in batches of 4.
            let driver = Process()
            driver.executableURL = URL(fileURLWithPath: builtExecutable("reel-test-driver"))
            driver.arguments = ["append", directory.path, "40", "other", "4"]
            driver.standardOutput = FileHandle.nullDevice
            try driver.run()
            driver.waitUntilExit()
            #expect(driver.terminationStatus == 0)
            // Without the watch the subscriber would wait an hour; a minute is the test's bound, never reached.
            let timeout = Task {
                try await Task.sleep(for: .seconds(60))
                subscriber.cancel()
            }
            let positions = try await subscriber.value
            timeout.cancel()
            #expect(positions == Array(1...41), "every position once and in order")
        }
    }
}
