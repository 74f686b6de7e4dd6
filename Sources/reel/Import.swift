import ArgumentParser
import EventStore
import Foundation
import MediaPipeline
import ReelCluster

/// `reel import FILE` — an export back into an empty store, reproducing every position, version, id, time and hash.
///
/// Two passes: the first checks every line, the whole hash chain and the export's end line, and writes nothing; the
/// second restores the events in large transactions, folding every projection (so every domain rule is checked
/// again).
///
/// The store carries the unfinished-import marker (`import-unfinished` in `reel.meta`) from the commit before the
/// first event is restored — for a store the import creates, from its very first commit — until the import's last
/// commit, which comes after everything restored is synced. Every other command refuses a store that carries it
/// (exit 3), so an import that is killed or fails leaves nothing that passes for a store. `reel import FILE` into that
/// directory again starts over: it erases what the unfinished import left, then imports. An import that fails in the
/// second pass (a line a domain rule refuses, a full disk) deletes the store it created or found unfinished, or
/// empties again the empty store it was given; if even that fails, the marker stays.
///
/// A store the import creates is filled without a sync per transaction (``Durability/unsynced``) and synced at the
/// end. An existing store is opened ``Durability/deferred``.
struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import an export into an empty store (or over an import that did not finish), verifying every hash and the end line."
    )

    @OptionGroup var location: StoreLocation
    @Argument(help: "The export to read; it must end with its end line.") var file: String
    @Flag(
        help: "Import an export that has no end line. One cut short at a line boundary then imports as far as it goes, and whatever came after is silently missing."
    ) var allowUnterminated = false

    /// Events restored per transaction. Larger is faster and holds more heap: a 1M-event import took 13.0 s with 5,000,
    /// 12.0–12.6 s with 20,000 (145 MB at the peak) and 11.5–11.7 s with 65,536 (315 MB).
    static let chunk = 20_000

    func run() async throws {
        let input = try openInputFile(file, kind: "an export file")
        close(input)
        // Into a cluster: its log must be empty, which is checked before anything is read.
        let cluster = try location.postgresURL.map { url in
            let address = try ClusterCommand.address(url)
            do {
                let log = Cluster.log(address, store: location.path)
                _ = try log.identity()
                let head = try log.head()
                guard head.position == 0 else {
                    warn("reel: \(PostgresLog.NotEmpty(log: address.description, events: head.position))")
                    throw Exit.rejected
                }
                return log
            } catch let error as LogOfRecordError {
                warn("reel: \(error)")
                throw Exit.cannotOpen
            }
        }
        // Pass 1: the chain and the end line, before touching the store.
        var expected = (position: UInt64(1), hash: [UInt8](repeating: 0, count: 32), time: Int64.min)
        var versions: [String: UInt64] = [:]
        var ended = false
        var lastLine = 0
        try forEachLine { number, line in
            lastLine = number
            func reject(_ reason: String) -> Exit.Failure { Exit.Failure(line: number, reason: reason) }
            guard !ended else { throw reject("a line after the end line: the end line must be the export's last") }
            if case let .text(bytes) = line, Envelope.isEnd(bytes) {
                let end: Envelope.End
                do { end = try Envelope.parseEnd(bytes) } catch { throw reject("\(error)") }
                let found = Envelope.End(events: expected.position - 1, lastPosition: expected.position - 1, lastHash: expected.hash)
                guard end == found else {
                    throw reject(
                        "the end line says \(end.events) events up to position \(end.lastPosition), last hash \(Envelope.hex(end.lastHash)); "
                            + "the lines before it hold \(found.events) up to position \(found.lastPosition), last hash "
                            + "\(Envelope.hex(found.lastHash)): the export was cut short or altered")
                }
                ended = true
                return
            }
            let event = try parse(number, line)
            guard event.position == expected.position else { throw reject("position \(event.position), expected \(expected.position): the export has a gap or is out of order") }
            guard event.version == (versions[event.stream] ?? 0) + 1 else { throw reject("stream \(event.stream) version \(event.version), expected \((versions[event.stream] ?? 0) + 1)") }
            guard event.recordedAtMilliseconds >= expected.time else { throw reject("recorded_at goes backwards") }
            guard event.expectedHash(after: expected.hash) == event.hash else {
                throw reject("hash mismatch at position \(event.position): the line (or one before it) was altered")
            }
            versions[event.stream] = event.version
            expected = (event.position + 1, event.hash, event.recordedAtMilliseconds)
        }
        if !ended, !allowUnterminated {
            throw Exit.Failure(
                line: lastLine + 1,
                reason: #"the export has no end line ({"end":…}): it was cut short, or is not a whole export. "#
                    + "Export it again; or, to import the \(expected.position - 1) events it holds and lose whatever came after them, "
                    + "give --allow-unterminated")
        }
        // Pass 2: restore into the empty store, under the unfinished-import marker.
        let createsDirectory = !FileManager.default.fileExists(atPath: location.path)
        let isNew = !FileManager.default.fileExists(atPath: (location.path as NSString).appendingPathComponent("data.mdb"))
        let media = try openStore(location, readOnly: false, durability: isNew ? .unsynced : .deferred, importing: true)
        let store = media.store
        // Made by this open, or left by an import that did not finish: a store of the import's own, removed if it fails.
        let owned = try store.importUnfinished()
        do {
            try store.beginImport(source: (file as NSString).isAbsolutePath ? file : FileManager.default.currentDirectoryPath + "/" + file)
        } catch let error as EventStoreError {
            switch error {
            case .notEmpty, .importRunning:
                warn("reel: \(error)")
                try? media.close()
                throw Exit.rejected
            default: throw error
            }
        }
        let progress = Progress(label: "import", total: expected.position - 1)
        // This thread parses the lines again while another restores the chunks before them, at most two chunks ahead:
        // restoring (every rule, every projection) takes about twice as long as parsing.
        let restorer = Restorer(media, progress: progress)
        var batch: [ExportedEvent] = []
        var lines: [Int] = []
        batch.reserveCapacity(Self.chunk)
        lines.reserveCapacity(Self.chunk)
        var last = (position: UInt64(0), hash: [UInt8](repeating: 0, count: 32))
        do {
            var ended = false
            try forEachLine { number, line in
                if ended { return }
                if case let .text(bytes) = line, Envelope.isEnd(bytes) {
                    ended = true
                    return
                }
                let event = try parse(number, line)
                batch.append(event)
                lines.append(number)
                last = (event.position, event.hash)
                if batch.count == Self.chunk {
                    try restorer.restore(batch, lines: lines)
                    // New arrays, not emptied ones: the queued chunk keeps the old.
                    batch = []
                    lines = []
                    batch.reserveCapacity(Self.chunk)
                    lines.reserveCapacity(Self.chunk)
                }
            }
            if !batch.isEmpty { try restorer.restore(batch, lines: lines) }
            try restorer.finish()
            // Each restored event was checked against the chain: the same last one means the same events as pass 1.
            guard last.position == expected.position - 1, last.hash == expected.hash else {
                throw Exit.Failure(line: lastLine, reason: "\(file) changed while it was imported")
            }
            // Into a cluster, the store stays marked until the log holds the events too.
            if cluster == nil { try store.finishImport() }
        } catch {
            // The restorer's own failure comes first: it is about an earlier line than any this thread met since.
            let failure = restorer.stop() ?? error
            if owned {
                if (try? store.discardImport()) != nil, createsDirectory { rmdir(location.path) }
            } else {
                try? store.abandonImport()
            }
            throw failure
        }
        progress.finish()
        if let cluster {
            try load(media, into: cluster, through: (expected.position - 1, expected.hash), owned: owned, createdDirectory: createsDirectory)
        } else {
            try media.close()
        }
        printJSON(.object({
            var summary = JSONObject()
            summary.set("imported", .number(JSONNumber(Int(expected.position - 1))))
            summary.set("last_position", .number(JSONNumber(Int(expected.position - 1))))
            if let cluster { summary.set("log", .string(cluster.name)) }
            return summary
        }()))
    }

    /// Copies the imported store's events into the cluster's empty log, in one transaction, then ends the import and
    /// makes the store a node of it. Until the log has committed, the store carries the unfinished-import marker, so an
    /// import killed meanwhile leaves nothing that passes for a store. If the log cannot take the events, the store is
    /// deleted (the log holds none of them) and the import fails: run it again.
    ///
    /// The events are read back from the store and must end at `last` (position and hash): a store another process
    /// changed meanwhile (a node's service still running on it) is not taken for the import, and the log takes none.
    private func load(
        _ media: MediaStore, into log: PostgresLog, through last: (position: UInt64, hash: [UInt8]), owned: Bool, createdDirectory: Bool
    ) throws {
        struct Changed: Error, CustomStringConvertible {
            let description: String
        }
        var next: UInt64 = 1
        var hash = LogHead.empty.hash
        do {
            _ = try log.load {
                let events = try media.store.events(from: next, limit: 5_000)
                guard let end = events.last else {
                    guard next == last.position + 1, hash == last.hash else {
                        throw Changed(
                            description: "the store changed while its events were sent to the log, which took none of them: "
                                + "another process wrote it (stop the node's service before importing into its store)")
                    }
                    return []
                }
                next = end.position + 1
                hash = end.hash
                return events.map(ExportedEvent.init)
            }
        } catch {
            // Under the import's lock: a store the import made goes; a node's store it was given is emptied again.
            if owned {
                if (try? media.store.discardImport()) != nil, createdDirectory { rmdir(location.path) }
            } else {
                try? media.store.abandonImport()
            }
            try? media.close()
            switch error {
            case let refused as PostgresLog.NotEmpty:
                // Another node appended since the check before the import.
                warn("reel: \(refused); the store was removed (or, a node's, emptied again)")
                throw Exit.rejected
            case LogOfRecordError.outcomeUnknown:
                warn(
                    "reel: \(error). The store was removed (or, a node's, emptied again). `reel cluster status` shows whether the log holds the events: if it does, "
                        + "every node reads them; if its head stays 0, import again")
            default:
                warn("reel: the events could not be written to the cluster's log, which holds none of them (\(error)); the store was removed (or, a node's, emptied again)")
            }
            throw Exit.cannotOpen
        }
        // The log holds the events: the import ends, and the store, opened with its log, becomes its replica.
        do {
            try media.store.finishImport()
            try media.close()
        } catch {
            try? media.close()
            warn(
                "reel: the cluster's log holds the imported events, but the store at \(location.path) could not be finished (\(error)): "
                    + "delete it; a node started on that directory makes it again from the log")
            throw Exit.cannotOpen
        }
        do {
            try openStore(location, readOnly: false).close()
        } catch {
            // openStore said why. The import stands: the store joins the log at its next command with --postgres.
            warn("reel: the cluster's log holds the import; the store at \(location.path) becomes its node at its next command")
        }
    }

    /// Restores chunks of parsed events, in order, on a serial queue of its own; the first failure stops it and is
    /// reported by the next call from the parsing thread. `progress` is updated on that queue only, and used by the
    /// parsing thread only after ``finish()`` or ``stop()`` waited for it.
    private final class Restorer: @unchecked Sendable {
        private let media: MediaStore
        private let progress: Progress
        private let queue = DispatchQueue(label: "reel.import.restore")
        /// Chunks handed over and not restored yet, at most two.
        private let room = DispatchSemaphore(value: 2)
        private let failure = Locked<(any Error)?>(nil)

        init(_ media: MediaStore, progress: Progress) { (self.media, self.progress) = (media, progress) }

        /// Queues a chunk (`lines` holds each event's line number), after waiting for room; throws an earlier chunk's
        /// failure instead.
        func restore(_ batch: [ExportedEvent], lines: [Int]) throws {
            room.wait()
            if let failure = failure.withLock({ $0 }) {
                room.signal()
                throw failure
            }
            queue.async { [self] in
                defer { room.signal() }
                guard failure.withLock({ $0 }) == nil else { return }
                do {
                    try Import.restore(batch, lines: lines, media)
                    progress.update(batch.last!.position)
                } catch {
                    failure.withLock { $0 = error }
                }
            }
        }

        /// Waits for every queued chunk; throws the first failure.
        func finish() throws {
            queue.sync {}
            if let failure = failure.withLock({ $0 }) { throw failure }
        }

        /// Waits for the queued chunks (those after a failure are skipped) and returns the first failure, if any.
        func stop() -> (any Error)? {
            queue.sync {}
            return failure.withLock { $0 }
        }
    }

    private static func restore(_ batch: [ExportedEvent], lines: [Int], _ media: MediaStore) throws {
        do {
            try media.store.restore(batch)
        } catch let failure as RestoreFailure {
            throw Exit.Failure(line: lines[failure.index], reason: failure.reason)
        } catch let rejection as DomainRejection {
            let index = rejection.eventID.flatMap { id in batch.firstIndex { $0.id == id } } ?? 0
            throw Exit.Failure(line: lines[index], reason: "\(rejection)")
        }
    }

    private func parse(_ number: Int, _ line: LineReader.Line) throws -> ExportedEvent {
        switch line {
        case let .tooLong(bytes): throw Exit.Failure(line: number, reason: "the line is \(bytes) bytes long")
        case let .text(bytes):
            do { return try Envelope.parse(bytes) } catch { throw Exit.Failure(line: number, reason: "\(error)") }
        }
    }

    private func forEachLine(_ body: (Int, LineReader.Line) throws -> Void) throws {
        let descriptor = try openInputFile(file, kind: "an export file")
        defer { close(descriptor) }
        var reader = LineReader(descriptor: descriptor, name: file)
        try reader.forEach { number, line in
            if case let .text(bytes) = line, bytes.isEmpty { return }
            try body(number, line)
        }
    }
}

extension Exit {
    /// A failure tied to an input line: printed as `line N: reason`, exit 1.
    struct Failure: Error, CustomStringConvertible {
        let line: Int
        let reason: String
        var description: String { "line \(line): \(reason)" }
    }
}
