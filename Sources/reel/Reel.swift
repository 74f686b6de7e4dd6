import ArgumentParser
import EventStore
import Foundation
import LMDB
import MediaPipeline
import ReelCluster

/// The version `reel --version` prints.
let reelVersion = "0.1.0"

/// `reel` — the operator's command line over a Reel store.
@main
struct Reel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reel",
        abstract: "An embedded, event-sourced store for generative-media pipelines, on LMDB.",
        discussion: """
            Every command works on one store: --store DIR (before or after the command), else the directory in \
            $REEL_STORE, else ./reel-data. Commands that only read, and rebuild, never create a store.
            With --postgres URL (before or after the command, or $REEL_POSTGRES) the store is a node of a \
            cluster whose log is in PostgreSQL (`reel cluster --help`).

            Exit codes:
              0  success
              1  rejected input, a problem found by a check, an unknown id, or
                 output that cannot be written
              2  usage error
              3  the store cannot be used: missing, not a store, damaged, a full
                 disk, or an import into it that did not finish

            `reel COMMAND --help` describes a command; `reel events` lists the event
            types `reel append` accepts.
            """,
        version: reelVersion,
        subcommands: [
            Demo.self, Append.self, Read.self, Query.self, Events.self, Audit.self, Replay.self, Rebuild.self, Export.self, Import.self,
            Backup.self, Stats.self, Serve.self, Verify.self, ClusterCommand.self,
        ]
    )

    /// The store and the cluster may come before the command (`reel [--store DIR] [--postgres URL] COMMAND …`); each
    /// command declares them, so leading ones are moved to just after the command's name (`audit verify`, `audit
    /// history`: after both words), before any arguments a command passes through (`replay … query …`).
    static func movingLeadingOptions(_ arguments: [String]) -> [String] {
        var arguments = arguments
        var options: [String] = []
        while let first = arguments.first {
            if ["--store", "--postgres"].contains(first), arguments.count >= 2 {
                options += arguments[0...1]
                arguments.removeFirst(2)
            } else if first.hasPrefix("--store=") || first.hasPrefix("--postgres=") {
                options.append(first)
                arguments.removeFirst()
            } else {
                break
            }
        }
        guard !options.isEmpty else { return arguments }
        guard let command = arguments.firstIndex(where: { !$0.hasPrefix("-") }) else { return arguments + options }
        var insertion = command + 1
        if ["audit", "cluster"].contains(arguments[command]), insertion < arguments.count, !arguments[insertion].hasPrefix("-") {
            insertion += 1
        }
        arguments.insert(contentsOf: options, at: insertion)
        return arguments
    }

    /// Runs the command with the contract's exit codes: usage errors exit 2 (ArgumentParser's default is 64).
    static func main() async {
        // A closed standard descriptor would be handed to the next file opened — the store's own files — and the
        // command's output written into it: each closed one is pointed at /dev/null first.
        for descriptor in Int32(0)...2 where fcntl(descriptor, F_GETFD) == -1 && errno == EBADF {
            _ = open("/dev/null", O_RDWR)
        }
        var command: ParsableCommand
        do {
            command = try parseAsRoot(movingLeadingOptions(Array(CommandLine.arguments.dropFirst())))
        } catch {
            // A parse or validation error names the command typed and prints its usage; help and the version exit 0.
            if exitCode(for: error) == .validationFailure {
                warn(fullMessage(for: error))
                Foundation.exit(Exit.usage.rawValue)
            }
            exit(withError: error)
        }
        do {
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as ValidationError {
            // Found while running (an input file that cannot be read): still a usage error of the command typed.
            usageError(error.message, of: type(of: command))
        } catch let failure as Exit.Failure {
            warn(failure.description)
            Foundation.exit(Exit.rejected.rawValue)
        } catch let failure as LineReader.ReadFailure {
            warn("reel: \(failure)")
            Foundation.exit(Exit.rejected.rawValue)
        } catch let error as EventStoreError where error.meansStoreUnusable {
            // Opened, then found unusable: a damaged page met while reading, a full disk at the final sync, every
            // reader slot taken. Exit 3 like a store that cannot be opened, with the reason (never a trap).
            warn("reel: \(error)")
            Foundation.exit(Exit.cannotOpen.rawValue)
        } catch {
            if exitCode(for: error) == .validationFailure {
                warn(fullMessage(for: error))
                Foundation.exit(Exit.usage.rawValue)
            }
            exit(withError: error)
        }
    }

    /// Prints a usage error as ArgumentParser does for one found while parsing — the message, then the usage of the
    /// command typed — and exits 2.
    static func usageError(_ message: String, of command: ParsableCommand.Type) -> Never {
        let path = commandPath(of: command) ?? "reel"
        warn("Error: \(message)\nUsage: \(usageString(for: command))\n  See '\(path) --help' for more information.")
        Foundation.exit(Exit.usage.rawValue)
    }

    /// The words that name a command, e.g. `reel audit history` (the shortest path to it).
    static func commandPath(of command: ParsableCommand.Type) -> String? {
        var level: [(type: ParsableCommand.Type, path: String)] = [(Reel.self, "reel")]
        while !level.isEmpty {
            if let found = level.first(where: { $0.type == command }) { return found.path }
            level = level.flatMap { parent in
                parent.type.configuration.subcommands.map { ($0, parent.path + " " + $0._commandName) }
            }
        }
        return nil
    }
}

extension EventStoreError {
    /// The store itself failed (rather than the input or a rule): the command line's exit 3.
    var meansStoreUnusable: Bool {
        switch self {
        // A key or value LMDB finds too long fails only the batch that carried it; the store is fine.
        case let .storage(error): error.kind != .badValueSize
        // A projection this build cannot read until a writable open refolds it: the store cannot serve the command.
        // An import that did not finish left the store: no command may take what it holds for a store.
        case .damaged, .notAStore, .newerFormat, .corruptRecord, .projectionOutdated, .projectionNotBuilt, .projectionBehind, .importUnfinished,
            .logOfRecord:
            true
        default: false
        }
    }
}

/// Options every command shares.
struct StoreLocation: ParsableArguments {
    @Option(name: .long, help: "The store directory (default: $REEL_STORE, else ./reel-data).")
    var store: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Make the store a node of the cluster whose log is in this PostgreSQL database (default: $REEL_POSTGRES).",
            valueName: "URL"))
    var postgres: String?

    var path: String {
        store ?? ProcessInfo.processInfo.environment["REEL_STORE"].flatMap { $0.isEmpty ? nil : $0 } ?? "./reel-data"
    }

    /// The cluster's PostgreSQL URL, when the store is a node of one.
    var postgresURL: String? {
        postgres ?? ProcessInfo.processInfo.environment["REEL_POSTGRES"].flatMap { $0.isEmpty ? nil : $0 }
    }
}

/// The command line's exit codes.
enum Exit {
    /// Rejected input, a problem found by a check, or an unknown id.
    static let rejected = ExitCode(1)
    /// A usage error.
    static let usage = ExitCode(2)
    /// The store cannot be opened at all.
    static let cannotOpen = ExitCode(3)
}

/// Prints one JSON value on a line of standard output, members in the order built.
func printJSON(_ value: JSONValue) {
    var writer = JSONWriter()
    writer.write(value, sortKeys: false)
    writeOutput(writer.bytes + [0x0A])
}

/// Writes to standard output. When it cannot be written — a full disk, a pipe whose reader left while `SIGPIPE` is
/// ignored — the command ends at once with exit 1 and the reason on standard error (Foundation's `FileHandle.write`
/// would trap).
func writeOutput(_ bytes: [UInt8]) {
    if let failure = writeFully(1, bytes) {
        warn("reel: cannot write standard output: \(String(cString: strerror(failure)))")
        exit(1)
    }
}

/// `print` for this module: written at once with ``writeOutput(_:)``, so that a write that fails ends the command with
/// exit 1 and the reason — output a command could not write is never taken for success (`reel stats > /dev/full`).
/// Swift's own `print` buffers in C's `stdout` and drops a failed write silently.
func print(_ items: Any..., separator: String = " ", terminator: String = "\n") {
    writeOutput(Array((items.map { "\($0)" }.joined(separator: separator) + terminator).utf8))
}

/// Writes a line to standard error (nothing happens when it cannot be written).
func warn(_ message: String) {
    _ = writeFully(2, Array((message + "\n").utf8))
}

/// Writes every byte to a file descriptor; the `errno` of the write that failed, or `nil`.
func writeFully(_ descriptor: Int32, _ bytes: [UInt8]) -> Int32? {
    bytes.withUnsafeBytes { buffer in
        var offset = 0
        while offset < buffer.count {
            let written = write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                return errno
            }
            offset += written
        }
        return nil
    }
}

/// Opens the media store for a command, turning a failure to open into exit 3 with the reason on stderr. Commands
/// that only read open read-only and never create a store.
///
/// - Parameters:
///   - existing: The command works on a store that must exist already (as a read-only one does): a writable open would
///     otherwise create an empty store at a mistyped path.
///   - importing: `reel import`'s open (``StoreOptions/importing``); every other command refuses a store an import left
///     unfinished, saying how to start that import again.
func openStore(
    _ location: StoreLocation, readOnly: Bool, existing: Bool = false, durability: Durability = .synced, maxEventsPerGroup: Int? = nil,
    importing: Bool = false, base: StoreOptions = StoreOptions()
) throws -> MediaStore {
    var options = base
    options.readOnly = readOnly
    options.createIfMissing = !existing
    if let url = location.postgresURL {
        // A node's store is a replica: it catches up with the log before any command reads it, so it opens writable,
        // and a node's first command makes it. An import fills the store on its own first, then the log from it.
        let address: PostgresAddress
        do {
            address = try PostgresAddress(url)
        } catch {
            throw ValidationError("\(error)")
        }
        options.logOfRecord = Cluster.log(address, store: location.path)
        if !importing {
            if options.replicaRepaired == nil { options.replicaRepaired = { warn("reel: \($0)") } }
            options.readOnly = false
            // A command that works on a store it is given (`rebuild`) does not make a node of a mistyped path.
            options.createIfMissing = !existing
        }
    }
    options.durability = durability
    options.importing = importing
    if let maxEventsPerGroup { options.maxEventsPerGroup = maxEventsPerGroup }
    // LMDB has no checksums: damage it cannot see may crash it on a read (a page past the end of data.mdb). Say so and
    // exit 3 instead of trapping.
    FaultGuard.install(
        message: "reel: the store at \(location.path) is damaged: LMDB met a page it cannot read (past the end of data.mdb, "
            + "or a broken page link) and stopped; restore the store from a backup or an export",
        status: Exit.cannotOpen.rawValue
    )
    do {
        let media = try MediaStore.open(at: location.path, options: options)
        if let repair = media.store.replicaRepair { warn("reel: \(repair)") }
        return media
    } catch let error as EventStoreError {
        if case let .importUnfinished(path, source) = error, location.postgresURL != nil {
            // A node's import is started again as a node's: without `--postgres` it would make a store of its own.
            warn(
                "reel: the import into \(path) did not finish (it was stopped, or is still running), so it holds no usable store; start it "
                    + "again with `reel import --store \(shellQuoted(path)) --postgres URL \(source.isEmpty ? "FILE" : shellQuoted(source))` "
                    + "(URL: the cluster's), which erases what the unfinished import left first; if the cluster's log holds the events already "
                    + "(`reel cluster status` shows its head), the import was killed after the log took them: delete data.mdb and lock.mdb in "
                    + "\(path) instead, and the node makes its store again from the log")
        } else if case .importUnfinished = error {
            warn("reel: \(error)")
        } else {
            warn("reel: cannot open the store at \(location.path): \(error)")
        }
        throw Exit.cannotOpen
    } catch {
        warn("reel: cannot open the store at \(location.path): \(error)")
        throw Exit.cannotOpen
    }
}
