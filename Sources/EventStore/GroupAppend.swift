import Foundation
import LMDB

/// One caller's batch, waiting for the writer. A class: the writer's queue, its group and the answered group that
/// frees it each hold one reference, not one per array.
final class AppendRequest: Sendable {
    let events: [NewEvent]
    let expected: [String: ExpectedVersion]
    /// Each event's record, encoded on the caller's thread.
    let records: [PendingRecord]
    /// Asked when the writer takes the batch into a group: an error answers the batch with it, unwritten.
    let withdrawal: (@Sendable () -> (any Error)?)?

    init(events: [NewEvent], expected: [String: ExpectedVersion], withdrawal: (@Sendable () -> (any Error)?)? = nil) {
        self.events = events
        self.expected = expected
        self.withdrawal = withdrawal
        records = events.map { PendingRecord(stream: $0.stream, id: $0.id, type: $0.type, payload: $0.payload, metadata: $0.metadata) }
    }
}

/// Appends the batches of one group commit inside one write transaction.
///
/// Each batch is checked (idempotency, expected versions) before it writes anything, then its events are folded into
/// every projection and written to the log and the indexes — except the event-type index, which never rejects an event
/// and is folded once for the whole group when it finishes. A batch that fails before writing is simply rejected; one
/// that fails after writing (a projection rejecting its second event, say) makes the group start over without it, so
/// the failed batch never leaves a trace and the others still land.
struct GroupAppend {
    let layout: Layout
    let clock: @Sendable () -> Int64

    /// Thrown inside the transaction to abort it and run the group again without the batch at `index`.
    struct Restart: Error {
        let index: Int
        let error: any Error
    }

    /// Mutable state of the group within its transaction; changed only after the writes it describes succeeded.
    struct State {
        var head: Head
        var now: Int64
        var nextStream: UInt64
        /// Streams touched in this group: number, version, and whether the `streams` entry must be written.
        var streams: [String: (head: StreamHead, dirty: Bool)] = [:]
        var startPosition: UInt64
        /// The greatest key of the id index: an id above it can be put with `MDB_APPEND` (time-ordered ids usually
        /// are), which skips the search and fills pages densely.
        var lastID: UUID?
        /// Each projection's databases in use, in ``Layout/projections`` order.
        var projections: [ProjectionDatabases] = []
        /// The event-type index among them, if registered: it is folded once, when the group finishes.
        var typeIndex: (index: Int, projection: EventTypeIndex)?
        /// The group's accepted events so far, for the event-type index.
        var typed: [(type: String, position: UInt64)] = []
        /// Computes the group's hash chain on a thread of its own, when the group is large and no projection reads
        /// hashes; its events' log records are then written when the group finishes.
        var sealer: Sealer?
        /// With a sealer: every accepted event of the group, in position order (the first at `startPosition + 1`).
        var sealing: [Sealer.Event] = []
        /// How many of `sealing` the sealer was given.
        var sealed = 0
    }

    /// The least events in a group for its hash chain to be computed on a second thread: below it, handing events over
    /// costs more than it saves.
    static let sealAsideMinimum = 4_096
    /// Events handed to the sealer at a time (at least; a batch is never split): one hand-over per one-event batch
    /// would cost more than the hashing.
    static let sealChunk = 1_024

    /// Hands the accepted events the sealer has not been given yet over to it.
    private func handOver(_ state: inout State) {
        guard let sealer = state.sealer, state.sealed < state.sealing.count else { return }
        // A copy: a slice would share the array's buffer, and the next append would copy all of it.
        sealer.seal(Array(state.sealing[state.sealed...]), from: state.startPosition + 1 + UInt64(state.sealed))
        state.sealed = state.sealing.count
    }

    /// Appends a group in one write transaction and commits it, redoing the group without any batch that failed
    /// after writing. Returns the head after the commit (`nil` when the transaction failed as a whole) and one outcome
    /// per request, in order. `events` is the requests' number of events, which the writer counted as it took them.
    func commit(
        _ requests: [AppendRequest], events: Int, _ environment: Environment
    ) -> (head: UInt64?, outcomes: [Result<AppendResult, any Error>]) {
        var excluded = Self.withdrawn(requests)
        while true {
            do {
                let (head, outcomes) = try environment.write { txn in
                    try run(requests, events: events, excluded: Set(excluded.keys), txn)
                }
                let merged = outcomes.enumerated().map { index, outcome in excluded[index].map { .failure($0) } ?? outcome }
                return (head.position, merged)
            } catch let restart as Restart {
                excluded[restart.index] = restart.error
            } catch {
                // The transaction itself failed (disk full, a damaged file): no batch of the group was written.
                let failure = EventStoreError.wrap(error)
                return (nil, requests.indices.map { .failure(excluded[$0] ?? failure) })
            }
        }
    }

    /// The requests of a group that their callers withdrew (``AppendRequest/withdrawal``), by index, with the error
    /// each is answered with.
    static func withdrawn(_ requests: [AppendRequest]) -> [Int: any Error] {
        var withdrawn: [Int: any Error] = [:]
        for (index, request) in requests.enumerated() {
            if let error = request.withdrawal?() { withdrawn[index] = error }
        }
        return withdrawn
    }

    /// Runs the group of `events` events inside `txn`. Returns the new head and one outcome per request (excluded ones
    /// get a placeholder).
    func run(
        _ requests: [AppendRequest], events eventCount: Int, excluded: Set<Int>, _ txn: borrowing Transaction
    ) throws -> (head: Head, outcomes: [Result<AppendResult, any Error>]) {
        let head = try layout.head(txn)
        var state = State(
            head: head,
            now: max(clock(), head.recordedAt),
            nextStream: try layout.metaU64(Layout.metaNextStreamKey, txn) ?? 1,
            startPosition: head.position,
            lastID: try layout.lastID(txn),
            projections: try layout.projections.map { try layout.databases(of: $0, txn) }
        )
        // The event-type index never rejects an event, and appending a group's positions type by type through one
        // cursor costs less than a put per event.
        if let index = layout.projections.firstIndex(where: { $0.projection is EventTypeIndex }) {
            state.typeIndex = (index, layout.projections[index].projection as! EventTypeIndex)
            state.typed.reserveCapacity(eventCount)
        }
        // At most one stream per event: room for them all at once, rather than rehashing every name at each doubling.
        state.streams.reserveCapacity(eventCount)
        if eventCount >= Self.sealAsideMinimum, layout.projections.allSatisfy({ !$0.projection.readsHash }) {
            state.sealer = Sealer(previousHash: head.hash, recordedAt: state.now)
            state.sealing.reserveCapacity(eventCount)
        }
        // However the group ends — a batch's restart, a failed write, a map to grow — the sealer is done with the
        // group's records before they are used again.
        defer { state.sealer?.stop() }
        try catchUpProjections(to: head.position, txn)
        var outcomes: [Result<AppendResult, any Error>] = []
        outcomes.reserveCapacity(requests.count)
        for index in requests.indices {
            let request = requests[index]
            if excluded.contains(index) {
                outcomes.append(.failure(EventStoreError.invalidBatch("excluded")))  // replaced by the caller
                continue
            }
            let mark = txn.changeCount
            let typedMark = state.typed.count
            let sealingMark = state.sealing.count
            do {
                outcomes.append(.success(try append(request, &state, txn)))
                if state.sealing.count - state.sealed >= Self.sealChunk { handOver(&state) }
            } catch {
                state.typed.removeSubrange(typedMark...)
                state.sealing.removeSubrange(sealingMark...)
                // A failed put or get leaves the transaction unusable: the whole group fails or is retried. A key or
                // value too large is checked before anything is touched: only this caller's batch fails.
                if let lmdb = error as? LMDBError, lmdb.kind != .badValueSize { throw error }
                if txn.changeCount != mark { throw Restart(index: index, error: EventStoreError.wrap(error)) }
                outcomes.append(.failure(EventStoreError.wrap(error)))
            }
        }
        try finish(&state, txn)
        return (state.head, outcomes)
    }

    /// Writes what the group deferred: the log records of a group sealed beside the writer, stream heads, the stream
    /// counter and the projections' checkpoints.
    func finish(_ state: inout State, _ txn: borrowing Transaction) throws {
        guard state.head.position != state.startPosition else { return }
        if let sealer = state.sealer {
            // The log records, sealed meanwhile, appended in position order through one cursor, which stays at the end.
            handOver(&state)
            state.head.hash = sealer.finish()
            try txn.withCursor(layout.log) { cursor in
                var position = state.startPosition
                for event in state.sealing {
                    position += 1
                    _ = try BigEndian.withBytes(position) { key in
                        try event.record.bytes.withUnsafeBytes { try cursor.put(key, $0, flags: .append) }
                    }
                }
            }
        }
        for (name, stream) in state.streams where stream.dirty {
            var name = name
            // Number, version and last position, big-endian, in a value on the stack: no buffer allocated per stream.
            let value = (stream.head.number.bigEndian, stream.head.version.bigEndian, stream.head.lastPosition.bigEndian)
            _ = try name.withUTF8 { key in
                try withUnsafeBytes(of: value) { try txn.put(layout.streams, UnsafeRawBufferPointer(key), $0) }
            }
        }
        _ = try Layout.metaNextStreamKey.withUnsafeBytes { key in
            try BigEndian.withBytes(state.nextStream) { try txn.put(layout.meta, key, $0) }
        }
        if let (index, typeIndex) = state.typeIndex { try typeIndex.index(state.typed, txn, state.projections[index]) }
        for registered in layout.projections {
            try writeCheckpoint(registered, state.head.position, txn)
        }
    }

    func writeCheckpoint(_ registered: RegisteredProjection, _ position: UInt64, _ txn: borrowing Transaction) throws {
        let value = Checkpoint(position: position, version: registered.projection.version).bytes
        try txn.put(layout.checkpoints, Array(registered.name.utf8), value)
    }

    /// Folds into each projection the events it has not seen (written by a process that did not register it).
    func catchUpProjections(to position: UInt64, _ txn: borrowing Transaction) throws {
        for registered in layout.projections {
            let checkpoint = try layout.checkpoint(of: registered.name, txn)?.position ?? 0
            guard checkpoint < position else { continue }
            try fold(registered, from: checkpoint + 1, through: position, txn)
            try writeCheckpoint(registered, position, txn)
        }
    }

    /// Folds the stored events `from…through` into one projection, using the databases given.
    func fold(
        _ registered: RegisteredProjection, from start: UInt64, through end: UInt64, _ txn: borrowing Transaction,
        databases: ProjectionDatabases? = nil
    ) throws {
        guard start <= end else { return }
        let databases = try databases ?? layout.databases(of: registered, txn)
        var events: [RecordedEvent] = []
        var next = start
        while next <= end {
            // Decode a slice, then fold it: a cursor must not be held across the projection's own writes to other
            // databases (it would be fine in LMDB, but keeps the fold independent of cursor state).
            try layout.events(from: next, through: end, limit: 1_024, into: &events, txn)
            guard let last = events.last else { break }
            for event in events { try registered.projection.apply(event, txn, databases) }
            next = last.position + 1
        }
    }

    // MARK: One batch

    private func append(_ request: AppendRequest, _ state: inout State, _ txn: borrowing Transaction) throws -> AppendResult {
        if let duplicate = try duplicateCheck(request, state, txn) { return duplicate }
        for (stream, expectation) in request.expected {
            guard case let .exactly(expected) = expectation else { continue }
            let actual = try streamHead(stream, &state, txn)?.version ?? 0
            if actual != expected {
                throw EventStoreError.wrongExpectedVersion(stream: stream, expected: expected, actual: actual)
            }
        }
        var positions: [UInt64] = []
        var versions: [UInt64] = []
        let single = request.events.count == 1  // answered with an inline result, no arrays
        if !single {
            positions.reserveCapacity(request.events.count)
            versions.reserveCapacity(request.events.count)
        }
        for index in request.events.indices {
            let record = request.records[index]
            // The stream's entry in the group's table, found once: it is updated in place below, without hashing the
            // name again (nothing else changes the table in between).
            let slot = try streamSlot(request.events[index].stream, &state, txn)
            let existing = slot.map { state.streams.values[$0].head }
            let number = existing?.number ?? state.nextStream
            let version = (existing?.version ?? 0) + 1
            let position = state.head.position + 1
            let hash: [UInt8]
            if state.sealer != nil {
                hash = []
                state.sealing.append(Sealer.Event(request: request, index: index, previousInStream: existing?.lastPosition ?? 0, version: version))
            } else {
                hash = record.seal(
                    previousHash: state.head.hash, previousInStream: existing?.lastPosition ?? 0, position: position, version: version,
                    recordedAt: state.now)
            }
            // Built from the request's event field by field: a copy of the whole event first would retain each of its
            // arrays and strings once more.
            let recorded = RecordedEvent(
                position: position, stream: request.events[index].stream, version: version, id: request.events[index].id,
                type: request.events[index].type, recordedAtMilliseconds: state.now, metadata: request.events[index].metadata,
                payload: request.events[index].payload, hash: hash, attachment: request.events[index].attachment
            )
            let event = (id: recorded.id, stream: recorded.stream, type: recorded.type)
            for index in layout.projections.indices where index != state.typeIndex?.index {
                try layout.projections[index].projection.apply(recorded, txn, state.projections[index])
            }
            if state.typeIndex != nil { state.typed.append((event.type, position)) }
            let ascending = state.lastID.map { event.id.isGreater(than: $0) } ?? true
            try BigEndian.withBytes(position) { key in
                if state.sealer == nil { _ = try record.bytes.withUnsafeBytes { try txn.put(layout.log, key, $0, flags: .append) } }
                if version % Layout.streamIndexInterval == 0 {
                    _ = try BigEndian.withBytes(number, version) { try txn.put(layout.streamEvents, $0, key) }
                }
                try event.id.withBytes { idKey in
                    guard try txn.put(layout.ids, idKey, key, flags: ascending ? .append : .noOverwrite) else {
                        throw EventStoreError.invalidBatch("event id \(event.id.lowercased) appears twice")
                    }
                }
            }
            state.head = Head(position: position, hash: hash, recordedAt: state.now)
            if ascending { state.lastID = event.id }
            let head = (StreamHead(number: number, version: version, lastPosition: position), dirty: true)
            if let slot { state.streams.values[slot] = head } else { state.streams[event.stream] = head }
            if existing == nil { state.nextStream += 1 }
            if single { return AppendResult(position: position, version: version, isDuplicate: false) }
            positions.append(position)
            versions.append(version)
        }
        return AppendResult(positions: positions, versions: versions, isDuplicate: false)
    }

    private func streamHead(_ name: String, _ state: inout State, _ txn: borrowing Transaction) throws -> StreamHead? {
        try streamSlot(name, &state, txn).map { state.streams.values[$0].head }
    }

    /// Where the group's table of streams holds `name`, read from the store into it on first use; `nil` for a stream
    /// that does not exist yet.
    private func streamSlot(
        _ name: String, _ state: inout State, _ txn: borrowing Transaction
    ) throws -> Dictionary<String, (head: StreamHead, dirty: Bool)>.Index? {
        if let slot = state.streams.index(forKey: name) { return slot }
        guard let stored = try layout.streamHead(name, txn) else { return nil }
        state.streams[name] = (stored, false)
        return state.streams.index(forKey: name)
    }

    /// `nil` when no event of the batch is stored yet; the original result when all are, with the same content;
    /// otherwise an error. An id above `state.lastID`, the greatest key of the id index, cannot be stored:
    /// time-ordered ids of new events usually are, and skip the lookup.
    private func duplicateCheck(_ request: AppendRequest, _ state: State, _ txn: borrowing Transaction) throws -> AppendResult? {
        var found: [(event: NewEvent, position: UInt64)] = []
        for index in request.events.indices {
            let id = request.events[index].id
            if let lastID = state.lastID, id.isGreater(than: lastID) { continue }
            if let position = try layout.position(of: id, txn) { found.append((request.events[index], position)) }
        }
        guard !found.isEmpty else { return nil }
        var positions: [UInt64] = []
        var versions: [UInt64] = []
        for (event, position) in found {
            let stored: (stream: String, type: String, payload: [UInt8], version: UInt64)
            if state.sealer != nil, position > state.startPosition {
                // Appended earlier in this group: its log record is written when the group finishes.
                let earlier = state.sealing[Int(position - state.startPosition - 1)]
                let event = earlier.request.events[earlier.index]
                stored = (event.stream, event.type, event.payload, earlier.version)
            } else {
                guard let event = try layout.event(at: position, txn) else {
                    throw EventStoreError.corruptRecord(position: position, reason: "the id index points at a missing event")
                }
                stored = (event.stream, event.type, event.payload, event.version)
            }
            guard stored.stream == event.stream, stored.type == event.type, stored.payload == event.payload else {
                throw EventStoreError.idempotencyConflict(id: event.id, position: position)
            }
            positions.append(position)
            versions.append(stored.version)
        }
        guard found.count == request.events.count else {
            throw EventStoreError.partialDuplicate(id: found[0].event.id, position: found[0].position)
        }
        return AppendResult(positions: positions, versions: versions, isDuplicate: true)
    }
}
