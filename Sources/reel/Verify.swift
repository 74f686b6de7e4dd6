import ArgumentParser
import EventStore

/// `reel verify` — the engine's integrity check (the full `audit verify` of SPEC §5 comes with the domain).
struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the hash chain, gapless positions and versions, the indexes and every projection (read-only)."
    )

    @OptionGroup var location: StoreLocation

    func run() async throws {
        let store = try openStore(location, readOnly: true).store
        let problems = try store.verify() + store.verifyProjections()
        if problems.isEmpty {
            print("OK")
            return
        }
        for problem in problems { print(problem) }
        throw Exit.rejected
    }
}
