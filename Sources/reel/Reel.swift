import ArgumentParser
import EventStore
import Foundation

/// `reel` — the operator's command line over a Reel store.
@main
struct Reel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reel",
        abstract: "An embedded, event-sourced store for generative-media pipelines, on LMDB.",
        subcommands: [Demo.self, Read.self, Verify.self]
    )
}

/// Options every command shares.
struct StoreLocation: ParsableArguments {
    @Option(name: .long, help: "The store directory (default: $REEL_STORE, else ./reel-data).")
    var store: String?

    var path: String {
        store ?? ProcessInfo.processInfo.environment["REEL_STORE"].flatMap { $0.isEmpty ? nil : $0 } ?? "./reel-data"
    }
}

/// The contract's exit codes (SPEC §5).
enum Exit {
    /// Rejected input, a problem found by a check, or an unknown id.
    static let rejected = ExitCode(1)
    /// The store cannot be opened at all.
    static let cannotOpen = ExitCode(3)
}

/// Writes a line to standard error.
func warn(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// Opens a store for a command, turning a failure to open into exit 3 with the reason on stderr.
func openStore(_ location: StoreLocation, readOnly: Bool, projections: [any Projection] = [EventTypeIndex()]) throws -> Store {
    var options = StoreOptions()
    options.readOnly = readOnly
    do {
        return try Store.open(at: location.path, projections: projections, options: options)
    } catch {
        warn("reel: cannot open the store at \(location.path): \(error)")
        throw Exit.cannotOpen
    }
}
