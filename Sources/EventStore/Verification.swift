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
        /// One of the engine's indexes (`ids`, `streams`, `stream-events`), or another of its databases.
        case index(String)
        /// A page of the data file, and the tree it belongs to (``Store/checkPages(at:projections:)``).
        case page(UInt64?, tree: String)
        /// The data file as a whole.
        case file
        /// The log of record a replica follows (``StoreOptions/logOfRecord``), at a position or as a whole.
        case logOfRecord(UInt64?)
    }

    public let location: Location
    public let message: String

    public init(location: Location, message: String) {
        self.location = location
        self.message = message
    }

    public var description: String {
        switch location {
        case let .position(position): "position \(position): \(message)"
        case let .stream(stream): "stream \(stream): \(message)"
        case let .projection(name): "projection \(name): \(message)"
        case let .index(name): "index \(name): \(message)"
        case let .page(page?, tree): "page \(page) (\(tree)): \(message)"
        case let .page(nil, tree): "\(tree): \(message)"
        case .file: "data.mdb: \(message)"
        case let .logOfRecord(position?): "log of record: position \(position): \(message)"
        case .logOfRecord(nil): "log of record: \(message)"
        }
    }
}

extension Store {
    /// Checks the log of record of a replica (``StoreOptions/logOfRecord``) as the log can check itself, and the
    /// replica against it (``LogOfRecord/audit(against:limit:)``); nothing for a store that is not a replica opened
    /// with its log. Reads the whole log. At most `limit` problems.
    public func verifyLogOfRecord(limit: Int = 100) throws -> [IntegrityProblem] {
        guard let log = options.logOfRecord else { return [] }
        do {
            return try log.audit(against: self, limit: limit)
        } catch {
            throw EventStoreError.wrap(error)
        }
    }

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
        // Registered projections a read-only open cannot serve are not checked, and say so.
        let unchecked = layout.unavailable.sorted { $0.key < $1.key }.map { name, reason in
            IntegrityProblem(location: .projection(name), message: "not checked: \(reason)")
        }
        return try unchecked + verifyServedProjections()
    }

    private func verifyServedProjections() throws -> [IntegrityProblem] {
        guard !layout.projections.isEmpty else { return [] }
        do {
            let scratch = try ScratchFold(layout.projections, of: environment, layout: layout, chunk: options.rebuildChunk, name: "reel-verify")
            defer { scratch.remove() }
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
            // The fresh side: the same events folded into empty databases. A record that cannot be decoded, or that a
            // projection refuses (an altered record the hash check has flagged too), ends the fold as a problem at its
            // position: the comparison after it would mean nothing.
            do {
                try scratch.fold(from: environment, layout: layout, through: head)
            } catch let EventStoreError.corruptRecord(position, reason) {
                return [IntegrityProblem(location: .position(position), message: "cannot be folded, the record is corrupt: \(reason)")]
            } catch let refused as ScratchFold.Refused {
                return [
                    IntegrityProblem(
                        location: .position(refused.position),
                        message: "projection \(refused.projection) refuses it in a fold from scratch: \(refused.error)")
                ]
            }
            var problems: [IntegrityProblem] = []
            for part in scratch.parts {
                let registered = part.registered
                try part.environment.read { txn in
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
            }
            return problems
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
    /// Streams whose last event ``verify()`` keeps in memory. A stream not among them (a large log's cold streams)
    /// is checked through its back-link instead — one read of the event it links to — so memory stays flat however
    /// many streams the log holds.
    static let verifiedStreamsKept = 100_000

    /// - Parameter kept: How many streams to keep in memory (tests lower it to drive the back-link path).
    func verify(keepingStreams kept: Int = verifiedStreamsKept) throws -> [IntegrityProblem] {
        var problems: [IntegrityProblem] = []
        var expected: UInt64 = 1
        var previousHash = RecordCodec.zeroHash
        var previousTime = Int64.min
        /// Recently seen streams: the version and position of their last event (the number 0 until needed).
        var recent: [String: StreamHead] = [:]
        recent.reserveCapacity(min(kept, 1 << 16))
        var counts = (events: 0, firstVersions: 0, indexed: 0)
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
                    // Decoded before it is hashed: the decoder checks every length against the value's size, and a
                    // size LMDB got from a damaged page can reach past the end of data.mdb, which hashing would read.
                    let parts: (hash: UnsafeRawBufferPointer, previousInStream: UInt64, canonical: UnsafeRawBufferPointer)
                    let event: RecordCodec.Fields
                    do throws(RecordCodec.DecodeFailure) {
                        parts = try RecordCodec.split(value)
                        event = try RecordCodec.fields(parts.canonical)
                        guard RecordCodec.isText(event.stream) else { throw RecordCodec.DecodeFailure.malformed("stream is not UTF-8") }
                        guard RecordCodec.isText(event.type) else { throw RecordCodec.DecodeFailure.malformed("type is not UTF-8") }
                        guard event.position == position else {
                            throw RecordCodec.DecodeFailure.malformed("record says position \(event.position)")
                        }
                    } catch {
                        let reason: String
                        switch error {
                        case let .newerFormat(format): reason = "record format \(format) is newer than this Reel reads"
                        case let .malformed(text): reason = text
                        }
                        problems.append(IntegrityProblem(location: .position(position), message: "\(EventStoreError.corruptRecord(position: position, reason: reason))"))
                        previousHash = value.count >= 33 ? Array(value[1..<33]) : RecordCodec.zeroHash
                        return true
                    }
                    counts.events += 1
                    var recomputed = SHA256()
                    recomputed.update(data: previousHash)
                    recomputed.update(bufferPointer: parts.canonical)
                    let hashMatches = recomputed.finalize().withUnsafeBytes { $0.elementsEqual(parts.hash) }
                    if !hashMatches {
                        problems.append(
                            IntegrityProblem(
                                location: .position(position), message: "hash mismatch: the record or the one before it was altered"))
                    }
                    previousHash.withUnsafeMutableBytes { $0.copyMemory(from: parts.hash) }
                    if event.recordedAt < previousTime {
                        problems.append(IntegrityProblem(location: .position(position), message: "recorded_at goes backwards"))
                    }
                    previousTime = event.recordedAt
                    let name = String(decoding: event.stream, as: UTF8.self)
                    let previous: StreamHead
                    if let kept = recent[name] {
                        previous = kept
                    } else {
                        previous = try linkedHead(of: name, linkedTo: parts.previousInStream, before: position, &problems)
                    }
                    if event.version != previous.version + 1 {
                        problems.append(
                            IntegrityProblem(
                                location: .stream(name),
                                message: "version \(event.version) at position \(position), expected \(previous.version + 1)"))
                    }
                    if parts.previousInStream != previous.lastPosition {
                        problems.append(
                            IntegrityProblem(
                                location: .position(position),
                                message: "links to position \(parts.previousInStream) as the previous event of \(name), not \(previous.lastPosition)"
                            ))
                    }
                    var stream = StreamHead(number: previous.number, version: event.version, lastPosition: position)
                    if event.version == 1 { counts.firstVersions += 1 }
                    if try layout.position(of: event.id, txn) != position {
                        problems.append(
                            IntegrityProblem(
                                location: .index("ids"), message: "id \(event.id.lowercased) does not point at position \(position)"))
                    }
                    if event.version % Layout.streamIndexInterval == 0 {
                        counts.indexed += 1
                        if stream.number == 0 { stream.number = try layout.streamHead(name, txn)?.number ?? 0 }
                        if try layout.indexedPosition(stream: stream.number, version: event.version, txn) != position {
                            problems.append(
                                IntegrityProblem(
                                    location: .index("stream-events"),
                                    message: "\(name) version \(event.version) does not point at position \(position)"))
                        }
                    }
                    if recent.count >= kept, recent[name] == nil { recent.removeAll(keepingCapacity: true) }
                    recent[name] = stream
                    return true
                }
            }
        } catch let error as LMDBError where error.kind == .corrupted {
            // A damaged B-tree page of the log (LMDB follows no checksum; it notices only some damage).
            problems.append(IntegrityProblem(location: .position(expected), message: "the log cannot be read from here on: \(error)"))
        }
        let head = expected - 1
        problems += try verifyStreamHeads(events: counts.events, streams: counts.firstVersions)
        let entries = (ids: try txn.statistics(layout.ids).entries, streamEvents: try txn.statistics(layout.streamEvents).entries)
        if entries.ids != counts.events {
            problems.append(IntegrityProblem(location: .index("ids"), message: "\(entries.ids) entries for \(counts.events) events"))
        }
        if entries.streamEvents != counts.indexed {
            problems.append(
                IntegrityProblem(location: .index("stream-events"), message: "\(entries.streamEvents) entries, \(counts.indexed) expected"))
        }
        for registered in layout.projections {
            let checkpoint = try layout.checkpoint(of: registered.name, txn)?.position ?? 0
            if checkpoint != head {
                problems.append(IntegrityProblem(location: .projection(registered.name), message: "checkpoint \(checkpoint), head \(head)"))
            }
        }
        return problems
    }

    /// The head a stream had before `position`, for a stream not kept in memory: none when the event links to no
    /// earlier one, else the version of the event it links to — which must be an earlier event of the same stream.
    private func linkedHead(
        of stream: String, linkedTo previous: UInt64, before position: UInt64, _ problems: inout [IntegrityProblem]
    ) throws -> StreamHead {
        guard previous != 0 else { return StreamHead(number: 0, version: 0, lastPosition: 0) }
        guard previous < position, let linked = try? layout.event(at: previous, txn), linked.stream == stream else {
            problems.append(
                IntegrityProblem(location: .position(position), message: "links to position \(previous), which is not an earlier event of \(stream)"))
            return StreamHead(number: 0, version: 0, lastPosition: previous)
        }
        return StreamHead(number: 0, version: linked.version, lastPosition: previous)
    }

    /// Every stream head names an event of its stream with its version, and the heads' versions add up to the
    /// events: with every version checked gapless above, that makes each head the stream's last event.
    private func verifyStreamHeads(events: Int, streams: Int) throws -> [IntegrityProblem] {
        var problems: [IntegrityProblem] = []
        var listed = 0
        var versions: UInt64 = 0
        var highest: (number: UInt64, stream: String)?
        try txn.withCursor(layout.streams) { cursor in
            try cursor.forEach { key, value in
                listed += 1
                let name = String(decoding: key, as: UTF8.self)
                var reader = ByteReader(value)
                guard value.count == 24, let number = try? reader.u64(), let version = try? reader.u64(), let last = try? reader.u64() else {
                    problems.append(IntegrityProblem(location: .stream(name), message: "stream head of \(value.count) bytes is malformed"))
                    return true
                }
                versions += version
                if number > highest?.number ?? 0 { highest = (number, name) }
                guard let event = try? layout.event(at: last, txn), event.stream == name, event.version == version else {
                    problems.append(
                        IntegrityProblem(location: .stream(name), message: "stream head does not say version \(version) at position \(last)"))
                    return true
                }
                return true
            }
        }
        if listed != streams {
            problems.append(IntegrityProblem(location: .index("streams"), message: "\(listed) streams listed, \(streams) in the log"))
        }
        if versions != UInt64(events) {
            problems.append(
                IntegrityProblem(location: .index("streams"), message: "stream heads add up to \(versions) events, the log holds \(events)"))
        }
        problems += try verifyMeta(highestStream: highest)
        return problems
    }

    /// The engine's own values in `reel.meta`: the format, the stream counter above every stream number in use (a
    /// counter below one would give a new stream a number in use, and overwrite its index), each projection's
    /// generation flag, the identity of the log of record a replica follows, and no key the engine does not write.
    private func verifyMeta(highestStream: (number: UInt64, stream: String)?) throws -> [IntegrityProblem] {
        var problems: [IntegrityProblem] = []
        var next: UInt64?
        var format: UInt32?
        try txn.withCursor(layout.meta) { cursor in
            try cursor.forEach { key, value in
                let name = String(decoding: key, as: UTF8.self)
                func bad(_ message: String) { problems.append(IntegrityProblem(location: .index("meta"), message: "\(name): \(message)")) }
                switch name {
                case "format":
                    var reader = ByteReader(value)
                    if value.count == 4, let read = try? reader.u32() { format = read } else { bad("\(value.count) bytes, not a u32") }
                case "next-stream":
                    if value.count == 8 { next = BigEndian.u64(value) } else { bad("\(value.count) bytes, not a u64") }
                case "import-unfinished":
                    bad("an import into the store did not finish")
                case "log-of-record":
                    // The identity of the log the store replicates: text, as a log gives it.
                    if value.isEmpty || !RecordCodec.isText(value) { bad("not the identity of a log of record") }
                case let generation where generation.hasPrefix("generation."):
                    if value.count != 1 || value[0] > 1 { bad("not a generation (0 or 1): \(Array(value))") }
                default:
                    bad("a key the store does not write: a key altered?")
                }
                return true
            }
        }
        if let format, !(1...Layout.formatVersion).contains(format) {
            problems.append(IntegrityProblem(location: .index("meta"), message: "format \(format), not one this Reel writes (1–\(Layout.formatVersion))"))
        } else if format == nil {
            problems.append(IntegrityProblem(location: .index("meta"), message: "the format marker is missing"))
        }
        if let highestStream {
            if let next, next <= highestStream.number {
                problems.append(
                    IntegrityProblem(
                        location: .index("meta"),
                        message: "next-stream is \(next), not above stream number \(highestStream.number) in use (\(highestStream.stream))"))
            } else if next == nil {
                problems.append(IntegrityProblem(location: .index("meta"), message: "next-stream is missing, and streams are in use"))
            }
        }
        return problems
    }
}
