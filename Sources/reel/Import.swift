import ArgumentParser
import EventStore
import Foundation
import MediaPipeline

/// `reel import FILE` — an export back into an empty store, reproducing every position, version, id, time and hash.
///
/// Two passes: the first checks every line and the whole hash chain and writes nothing; the second restores the
/// events in large transactions, folding every projection (so every domain rule is checked again). If anything fails
/// in the second pass the store is emptied again: nothing half-imported stays behind.
struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Import an export into an empty store, verifying every hash.")

    @OptionGroup var location: StoreLocation
    @Argument(help: "The export to read.") var file: String

    static let chunk = 5_000

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
        let media = try openStore(location, readOnly: false, durability: .deferred)
        guard try media.store.head() == 0 else {
            warn("reel: the store at \(location.path) is not empty; import only into an empty store")
            throw Exit.rejected
        }
        let progress = Progress(label: "import", total: expected.position - 1)
        var batch: [ExportedEvent] = []
        var firstLine = 1
        do {
            try forEachLine { number, line in
                if batch.isEmpty { firstLine = number }
                batch.append(try parse(number, line))
                if batch.count == Self.chunk {
                    try restore(batch, media, firstLine)
                    progress.update(batch.last!.position)
                    batch.removeAll(keepingCapacity: true)
                }
            }
            if !batch.isEmpty { try restore(batch, media, firstLine) }
            try media.store.sync()
        } catch {
            try? media.store.erase()
            try? media.store.sync()
            throw error
        }
        progress.finish()
        try media.close()
        print(#"{"imported":\#(expected.position - 1),"last_position":\#(expected.position - 1)}"#)
    }

    private func restore(_ batch: [ExportedEvent], _ media: MediaStore, _ firstLine: Int) throws {
        do {
            try media.store.restore(batch)
        } catch let failure as RestoreFailure {
            throw Exit.Failure(line: firstLine + failure.index, reason: failure.reason)
        } catch let rejection as DomainRejection {
            let index = rejection.eventID.flatMap { id in batch.firstIndex { $0.id == id } } ?? 0
            throw Exit.Failure(line: firstLine + index, reason: "\(rejection)")
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
