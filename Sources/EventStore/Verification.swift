import Crypto
import Foundation
import LMDB

/// One thing found wrong by ``Store/verify()`` or ``Store/verifyProjections()``.
public struct IntegrityProblem: Sendable, Hashable, CustomStringConvertible {
    /// Where the problem is.
    public enum Location: Sendable, Hashable {
        case position(UInt64)
        case stream(String)
        case projection(String)
        /// One of the engine's indexes (`ids`, `streams`, `stream-events`).
        case index(String)
    }

    public let location: Location
    public let message: String

    public var description: String {
        switch location {
        case let .position(position): "position \(position): \(message)"
        case let .stream(stream): "stream \(stream): \(message)"
        case let .projection(name): "projection \(name): \(message)"
        case let .index(name): "index \(name): \(message)"
        }
    }
}

extension Store {
    /// Checks the log in one snapshot, reading only: positions gapless from 1, every record decodable and at its own
    /// key, the hash chain, `recorded_at` never decreasing, stream versions gapless, and the stream and id indexes
    /// agreeing with the log entry for entry; each projection's checkpoint at the head.
    ///
    /// - Returns: Every problem found, in log order; empty when the store is sound.
    public func verify() throws -> [IntegrityProblem] {
        try read { snapshot in try snapshot.verify() }
    }

    /// Folds every projection from scratch into a scratch store in a temporary directory and compares it, database by
    /// database and by digest, with the live projection at the same position.
    ///
    /// Reads the live store only (it works on a read-only store and appends go on meanwhile).
    public func verifyProjections() throws -> [IntegrityProblem] {
        guard !layout.projections.isEmpty else { return [] }
        let scratchPath = FileManager.default.temporaryDirectory.appendingPathComponent("reel-verify-\(UUID().uuidString)").path
        do {
            try FileManager.default.createDirectory(atPath: scratchPath, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: scratchPath) }
            let scratch = try Environment(path: scratchPath)
            let scratchLayout = try scratch.openDatabases { txn in
                try Layout(txn: txn, projections: layout.projections.map(\.projection), create: true)
            }
            // The live side: head and digests in one snapshot.
            let (head, live) = try environment.read { txn in
                let head = try layout.head(txn).position
                var digests: [String: [String: Digest]] = [:]
                for registered in layout.projections {
                    let live = try layout.databases(of: registered, txn)
                    for spec in registered.projection.databases {
                        digests[registered.name, default: [:]][spec.name] = try Self.digest(live[spec.name], txn)
                    }
                }
                return (head, digests)
            }
            // The fresh side: the same events folded into empty databases, a slice at a time. A record that cannot be
            // decoded, or that a projection refuses (an altered record the hash check has flagged too), ends the fold
            // as a problem at its position: the comparison after it would mean nothing.
            var next: UInt64 = 1
            var failed: IntegrityProblem?
            while next <= head, failed == nil {
                let events: [RecordedEvent]
                do {
                    events = try self.events(from: next, limit: 4_096).filter { $0.position <= head }
                } catch let EventStoreError.corruptRecord(position, reason) {
                    return [IntegrityProblem(location: .position(position), message: "cannot be folded, the record is corrupt: \(reason)")]
                }
                guard let last = events.last else { break }
                try scratch.write { txn in
                    for event in events {
                        for registered in scratchLayout.projections {
                            do {
                                try registered.projection.apply(event, txn, registered.generations[0])
                            } catch let error as LMDBError {
                                throw error
                            } catch {
                                failed = IntegrityProblem(
                                    location: .position(event.position),
                                    message: "projection \(registered.name) refuses it in a fold from scratch: \(error)")
                                return
                            }
                        }
                    }
                }
                next = last.position + 1
            }
            if let failed { return [failed] }
            return try scratch.read { txn in
                var problems: [IntegrityProblem] = []
                for registered in scratchLayout.projections {
                    for spec in registered.projection.databases {
                        let rebuilt = try Self.digest(registered.generations[0][spec.name], txn)
                        guard let expected = live[registered.name]?[spec.name], expected == rebuilt else {
                            let count = live[registered.name]?[spec.name]?.entries ?? 0
                            problems.append(
                                IntegrityProblem(
                                    location: .projection(registered.name),
                                    message:
                                        "database \(spec.name) differs from a fold of the log to position \(head) (\(count) entries live, \(rebuilt.entries) rebuilt)"
                                ))
                            continue
                        }
                    }
                }
                return problems
            }
        } catch {
            throw EventStoreError.wrap(error)
        }
    }

    struct Digest: Equatable {
        var entries = 0
        var sha = [UInt8]()
    }

    /// SHA-256 over every entry of a database, lengths included, in key order.
    static func digest(_ database: Database, _ txn: borrowing Transaction) throws -> Digest {
        var hasher = SHA256()
        var entries = 0
        try txn.withCursor(database) { cursor in
            try cursor.forEach { key, value in
                var lengths = ByteWriter(capacity: 8)
                lengths.u32(UInt32(key.count))
                lengths.u32(UInt32(value.count))
                hasher.update(data: lengths.bytes)
                hasher.update(bufferPointer: key)
                hasher.update(bufferPointer: value)
                entries += 1
                return true
            }
        }
        return Digest(entries: entries, sha: Array(hasher.finalize()))
    }
}

extension Snapshot {
    func verify() throws -> [IntegrityProblem] {
        var problems: [IntegrityProblem] = []
        var expected: UInt64 = 1
        var previousHash = RecordCodec.zeroHash
        var previousTime = Int64.min
        var streams: [String: StreamHead] = [:]
        do {
            try txn.withCursor(layout.log) { cursor in
                try cursor.forEach { key, value in
                    guard let position = BigEndian.u64(key), key.count == 8 else {
                        problems.append(IntegrityProblem(location: .index("log"), message: "a key of \(key.count) bytes is not a position"))
                        return true
                    }
                    if position != expected {
                        problems.append(
                            IntegrityProblem(
                                location: .position(expected), message: "missing: the log jumps from \(expected - 1) to \(position)"))
                    }
                    expected = position + 1
                    let parts: (hash: UnsafeRawBufferPointer, previousInStream: UInt64, canonical: UnsafeRawBufferPointer)
                    do {
                        parts = try RecordCodec.split(value)
                    } catch {
                        problems.append(IntegrityProblem(location: .position(position), message: "undecodable record: \(error)"))
                        previousHash = RecordCodec.zeroHash
                        return true
                    }
                    // Decoded before it is hashed: the decoder checks every length against the value's size, and a
                    // size LMDB got from a damaged page can reach past the end of data.mdb, which hashing would read.
                    let event: RecordedEvent
                    do {
                        event = try layout.decode(value, at: position)
                    } catch {
                        problems.append(IntegrityProblem(location: .position(position), message: "\(error)"))
                        previousHash = Array(parts.hash)
                        return true
                    }
                    let recomputed = previousHash.withUnsafeBytes { RecordCodec.hash(previous: $0, canonical: parts.canonical) }
                    if !recomputed.elementsEqual(parts.hash) {
                        problems.append(
                            IntegrityProblem(
                                location: .position(position), message: "hash mismatch: the record or the one before it was altered"))
                    }
                    previousHash = Array(parts.hash)
                    if event.recordedAtMilliseconds < previousTime {
                        problems.append(IntegrityProblem(location: .position(position), message: "recorded_at goes backwards"))
                    }
                    previousTime = event.recordedAtMilliseconds
                    var stream =
                        try streams[event.stream]
                        ?? StreamHead(number: layout.streamHead(event.stream, txn)?.number ?? 0, version: 0, lastPosition: 0)
                    if event.version != stream.version + 1 {
                        problems.append(
                            IntegrityProblem(
                                location: .stream(event.stream),
                                message: "version \(event.version) at position \(position), expected \(stream.version + 1)"))
                    }
                    if parts.previousInStream != stream.lastPosition {
                        problems.append(
                            IntegrityProblem(
                                location: .position(position),
                                message:
                                    "links to position \(parts.previousInStream) as the previous event of \(event.stream), not \(stream.lastPosition)"
                            ))
                    }
                    stream.version = event.version
                    stream.lastPosition = position
                    streams[event.stream] = stream
                    if try layout.position(of: event.id, txn) != position {
                        problems.append(
                            IntegrityProblem(
                                location: .index("ids"), message: "id \(event.id.lowercased) does not point at position \(position)"))
                    }
                    if event.version % Layout.streamIndexInterval == 0,
                        try layout.indexedPosition(stream: stream.number, version: event.version, txn) != position
                    {
                        problems.append(
                            IntegrityProblem(
                                location: .index("stream-events"),
                                message: "\(event.stream) version \(event.version) does not point at position \(position)"))
                    }
                    return true
                }
            }
        } catch let error as LMDBError where error.kind == .corrupted {
            // A damaged B-tree page of the log (LMDB follows no checksum; it notices only some damage).
            problems.append(IntegrityProblem(location: .position(expected), message: "the log cannot be read from here on: \(error)"))
        }
        let head = expected - 1
        for (name, stream) in streams where try layout.streamHead(name, txn) != stream {
            problems.append(
                IntegrityProblem(
                    location: .stream(name),
                    message: "stream head does not say version \(stream.version) at position \(stream.lastPosition)"))
        }
        let counts = (
            ids: try txn.statistics(layout.ids).entries,
            streams: try txn.statistics(layout.streams).entries,
            streamEvents: try txn.statistics(layout.streamEvents).entries
        )
        let events = streams.values.reduce(0) { $0 + $1.version }
        let indexed = streams.values.reduce(0) { $0 + $1.version / Layout.streamIndexInterval }
        if counts.ids != Int(events) {
            problems.append(IntegrityProblem(location: .index("ids"), message: "\(counts.ids) entries for \(events) events"))
        }
        if counts.streamEvents != Int(indexed) {
            problems.append(
                IntegrityProblem(location: .index("stream-events"), message: "\(counts.streamEvents) entries, \(indexed) expected"))
        }
        if counts.streams != streams.count {
            problems.append(
                IntegrityProblem(location: .index("streams"), message: "\(counts.streams) streams listed, \(streams.count) in the log"))
        }
        for registered in layout.projections {
            let checkpoint = try layout.checkpoint(of: registered.name, txn)?.position ?? 0
            if checkpoint != head {
                problems.append(IntegrityProblem(location: .projection(registered.name), message: "checkpoint \(checkpoint), head \(head)"))
            }
        }
        return problems
    }
}
