import Foundation
import Testing

/// `reel demo` (SPEC §5), run as a real process.
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
        try expectVerified(store)
    }
}
