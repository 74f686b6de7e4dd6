import Foundation
import Testing

/// `reel demo`, run as a real process.
@Suite struct DemoCommandTests {
    @Test("reel demo builds a sample production, prints what it built, and the store verifies")
    func demo() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        // Keep the run quick: pass smaller sizes for whichever size options the demo offers.
        let help = try reel(["demo", "--help"])
        #expect(help.status == 0, "\(help)")
        var arguments = ["demo", "--store", store]
        for (option, value) in [("--writers", "4"), ("--images", "200")] where help.stdout.contains(option) {
            arguments += [option, value]
        }
        let started = Date()
        let run = try reel(arguments)
        #expect(run.status == 0, "\(run)")
        #expect(!run.stdout.isEmpty, "\(run)")
        #expect(Date().timeIntervalSince(started) < 60, "the demo took \(Date().timeIntervalSince(started)) s")
        #expect(try readAll(store, ["--limit", "1"]).count == 1, "the demo wrote events")
        let first = try readAll(store).count
        #expect(run.stdout.contains("Built \(first) events"), "\(run)")

        // Again on the same store: a second production beside the first (its users registered under emails of their
        // own), counted on its own.
        let again = try reel(arguments)
        #expect(again.status == 0, "\(again)")
        #expect(again.stdout.contains("beside the \(first) events already there"), "\(again)")
        let second = try readAll(store).count - first
        #expect(second > 0 && again.stdout.contains("Built \(second) events"), "\(again)")
        try expectVerified(store)
    }
}
