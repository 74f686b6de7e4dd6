import ArgumentParser
import EventStore
import Foundation
import MediaPipeline

/// `reel import FILE` — an export back into an empty store, reproducing every position, version, id, time and hash.
///
/// Two passes: the first checks every line and the whole hash chain and writes nothing; the second restores the
/// events in large transactions, folding every projection (so every domain rule is checked again). If anything fails
/// in the second pass the store is emptied again: nothing half-imported stays behind.
///
/// A store the import creates is filled without a sync per transaction (``Durability/unsynced``) and synced at the
/// end: should the system crash meanwhile, the new store may be damaged, but it holds nothing but the import — delete
/// it and import again. An existing (empty) store is opened ``Durability/deferred``, which never risks its integrity.
struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Import an export into an empty store, verifying every hash.")

    @OptionGroup var location: StoreLocation
    @Argument(help: "The export to read.") var file: String

    /// Events restored per transaction. Larger is faster and holds more heap: a 1M-event import took 13.0 s with 5,000,
    /// 12.0–12.6 s with 20,000 (145 MB at the peak) and 11.5–11.7 s with 65,536 (315 MB).
    static let chunk = 20_000

    func run() async throws {
        guard FileManager.default.isReadableFile(atPath: file) else { throw ValidationError("cannot read \(file)") }
        // Pass 1: the chain, before touching the store.
        var expected = (position: UInt64(1), hash: [UInt8](repeating: 0, count: 32), time: Int64.min)
        var versions: [String: UInt64] = [:]
        try forEachLine { number, line in
            let event = try parse(number, line)
            func reject(_ reason: String) -> Exit.Failure { Exit.Failure(line: number, reason: reason) }
            guard event.position == expected.position else { throw reject("position \(event.position), expected \(expected.position): the export has a gap or is out of order") }
            guard event.version == (versions[event.stream] ?? 0) + 1 else { throw reject("stream \(event.stream) version \(event.version), expected \((versions[event.stream] ?? 0) + 1)") }
            guard event.recordedAtMilliseconds >= expected.time else { throw reject("recorded_at goes backwards") }
            guard event.expectedHash(after: expected.hash) == event.hash else {
                throw reject("hash mismatch at position \(event.position): the line (or one before it) was altered")
            }
            versions[event.stream] = event.version
            expected = (event.position + 1, event.hash, event.recordedAtMilliseconds)
        }
        // Pass 2: restore into the empty store.
        let isNew = !FileManager.default.fileExists(atPath: (location.path as NSString).appendingPathComponent("data.mdb"))
        let media = try openStore(location, readOnly: false, durability: isNew ? .unsynced : .deferred)
        guard try media.store.head() == 0 else {
            warn("reel: the store at \(location.path) is not empty; import only into an empty store")
            throw Exit.rejected
        }
        let progress = Progress(label: "import", total: expected.position - 1)
        // This thread parses the lines again while another restores the chunks before them, at most two chunks ahead:
        // restoring (every rule, every projection) takes about twice as long as parsing.
        let restorer = Restorer(media, progress: progress)
        var batch: [ExportedEvent] = []
        var lines: [Int] = []
        batch.reserveCapacity(Self.chunk)
        lines.reserveCapacity(Self.chunk)
        do {
            try forEachLine { number, line in
                batch.append(try parse(number, line))
                lines.append(number)
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
            try media.store.sync()
        } catch {
            // The restorer's own failure comes first: it is about an earlier line than any this thread met since.
            let failure = restorer.stop() ?? error
            try? media.store.erase()
            try? media.store.sync()
            throw failure
        }
        progress.finish()
        try media.close()
        print(#"{"imported":\#(expected.position - 1),"last_position":\#(expected.position - 1)}"#)
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
        let descriptor = open(file, O_RDONLY)
        guard descriptor >= 0 else { throw ValidationError("cannot read \(file)") }
        defer { close(descriptor) }
        var reader = LineReader(descriptor: descriptor)
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
