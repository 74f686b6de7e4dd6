import ArgumentParser
import EventStore
import Foundation
import MediaPipeline

/// `reel audit verify` and `reel audit history`.
struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the store, or show what happened to an entity.",
        subcommands: [Verify.self, History.self]
    )
}

/// `reel audit verify` (also `reel verify`): read-only integrity check.
struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the hash chain, gapless positions and versions, the indexes and every projection (read-only)."
    )

    @OptionGroup var location: StoreLocation
    @Flag(help: "Check only the log: hash chain, positions, versions, indexes, checkpoints — not a refold of the projections.")
    var logOnly = false

    func run() async throws {
        // The pages first, read without LMDB: a damaged page is named here, never met by LMDB below (where it could
        // fault or trip one of LMDB's assertions).
        let damaged: [IntegrityProblem]
        // A node's first command makes its store from the log: there are no pages to look at before.
        let fresh =
            location.postgresURL != nil && !FileManager.default.fileExists(atPath: (location.path as NSString).appendingPathComponent("data.mdb"))
        do {
            damaged = fresh ? [] : try Store.checkPages(at: location.path, projections: MediaStore.projections)
        } catch {
            warn("reel: cannot open the store at \(location.path): \(error)")
            throw Exit.cannotOpen
        }
        if !damaged.isEmpty {
            for problem in damaged { print(problem) }
            throw Exit.rejected
        }
        let store = try openStore(location, readOnly: true).store
        var problems = try store.verify().map(\.description) + (logOnly ? [] : store.verifyProjections().map(\.description))
        // A node also checks the log in PostgreSQL, and the replica against it.
        do {
            problems += try store.verifyLogOfRecord().map(\.description)
        } catch {
            warn("reel: \(error)")
            throw Exit.cannotOpen
        }
        if problems.isEmpty {
            print("OK")
            return
        }
        for problem in problems { print(problem) }
        throw Exit.rejected
    }
}

/// `reel audit history --frame ID | --job ID | --id ID [--json]`.
struct History: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Every event that touched a frame, a job or any entity, in order.")

    @OptionGroup var location: StoreLocation
    @Option var frame: String?
    @Option var job: String?
    @Option(help: "Any entity id (user, session, image, scenelet, …) or an event id.") var id: String?
    @Flag(help: "NDJSON envelopes instead of a table.") var json = false

    func validate() throws {
        guard [frame, job, id].compactMap({ $0 }).count == 1 else { throw ValidationError("give one of --frame, --job, --id") }
        guard let text = frame ?? job ?? id, UUID(parsing: text) != nil else { throw ValidationError("\(frame ?? job ?? id ?? "") is not a UUID") }
    }

    func run() async throws {
        let media = try openStore(location, readOnly: true)
        let events: [RecordedEvent]
        do {
            if let frame { events = try media.history(frame: UUID(parsing: frame)!) }
            else if let job { events = try media.history(job: UUID(parsing: job)!) }
            else { events = try media.history(id: UUID(parsing: id!)!) }
        } catch let error as UnknownEntity {
            warn("reel: \(error)")
            throw Exit.rejected
        }
        if json {
            print(events.map(Envelope.render).joined(separator: "\n"))
            return
        }
        // Whole values, in columns as wide as their widest value: ids are never cut.
        let header = ["position", "recorded_at", "type", "stream", "actor", "correlation"]
        let rows = events.map { event in
            [
                String(event.position), Timestamp.iso8601(event.recordedAtMilliseconds), event.type, event.stream,
                event.metadata.actor ?? "-", event.metadata.correlationID ?? "-",
            ].map(Self.printable)
        }
        print(Self.table([header] + rows), terminator: "")
    }

    /// A value on one line: control characters (a newline in an actor; C1 controls, which some terminals obey, too)
    /// written as escapes, so rows stay rows.
    static func printable(_ value: String) -> String {
        func isControl(_ scalar: Unicode.Scalar) -> Bool { scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) }
        guard value.unicodeScalars.contains(where: isControl) else { return value }
        return value.unicodeScalars.map { scalar in
            switch scalar {
            case "\n": "\\n"
            case "\t": "\\t"
            case "\r": "\\r"
            case _ where isControl(scalar): "\\u{\(String(scalar.value, radix: 16))}"
            default: String(scalar)
            }
        }.joined()
    }

    /// Rows as columns two spaces apart, each as wide as its widest value (the last one unpadded).
    static func table(_ rows: [[String]]) -> String {
        guard let columns = rows.first?.count else { return "" }
        let widths = (0..<columns).map { column in rows.map { $0[column].count }.max()! }
        var text = ""
        for row in rows {
            text += row.enumerated().map { column, value in column == columns - 1 ? value : value.padded(widths[column]) }
                .joined(separator: "  ") + "\n"
        }
        return text
    }
}
