import EventStore
import Foundation
import LMDB

/// The media-pipeline store services embed: typed appends checked against every rule of the domain inside the write
/// transaction, typed queries over one snapshot, and a change feed.
///
/// ```swift
/// let reel = try MediaStore.open(at: "/var/lib/reel")
/// try await reel.append(.projectCreated(ProjectCreated(projectID: project, title: "Lighthouse")))
/// try await reel.append(.sceneImageSaved(SceneImageSaved(projectID: project, sceneIndex: 0, imageURL: url)))
/// let scenes = try reel.imagesByScene(project: project)
/// ```
///
/// `Sendable`: share one instance per process (a directory may be opened once per process; other processes may open
/// it too). The library never prints.
public final class MediaStore: MediaQueries {
    /// The underlying event store (reads of the raw log, subscriptions, verification).
    public let store: Store

    /// Opens (creating unless read-only) the store at `path` with the media projection and the event-type index.
    public static func open(at path: String, options: StoreOptions = StoreOptions()) throws -> MediaStore {
        MediaStore(store: try Store.open(at: path, projections: projections, options: options))
    }

    /// The projections every process opening a media store registers.
    public static var projections: [any Projection] { [MediaProjection(), EventTypeIndex()] }

    init(store: Store) { self.store = store }

    /// Finishes queued appends, syncs and closes (see `Store.close()`).
    public func close() throws { try store.close() }

    // MARK: Appending

    /// One event with the envelope fields a caller may set.
    public struct Input: Sendable, Hashable {
        public var event: DomainEvent
        public var id: UUID
        public var metadata: EventMetadata
        /// Events the event's stream must hold before the batch (`.exactly(0)`: a new stream).
        public var expectedVersion: ExpectedVersion

        public init(_ event: DomainEvent, id: UUID = .timeOrdered(), metadata: EventMetadata = .none, expectedVersion: ExpectedVersion = .any) {
            self.event = event
            self.id = id
            self.metadata = metadata
            self.expectedVersion = expectedVersion
        }
    }

    /// Appends one event; durable when it returns.
    ///
    /// - Throws: ``DomainRejection`` when a rule fails (nothing is written), `EventStoreError` for version and
    ///   idempotency conflicts and storage failures.
    @discardableResult
    public func append(
        _ event: DomainEvent, id: UUID = .timeOrdered(), metadata: EventMetadata = .none, expectedVersion: ExpectedVersion = .any
    ) async throws -> AppendResult {
        try await append([Input(event, id: id, metadata: metadata, expectedVersion: expectedVersion)])
    }

    /// Appends a batch atomically: every event passes its rules (each seeing the ones before it) and lands, or none does.
    @discardableResult
    public func append(_ inputs: [Input]) async throws -> AppendResult {
        let (events, expected) = try prepare(inputs)
        return try await store.append(events, expected: expected)
    }

    /// Engine events for a batch: payloads in canonical JSON, streams resolved, expectations merged by stream.
    public func prepare(_ inputs: [Input]) throws -> ([NewEvent], [String: ExpectedVersion]) {
        var resolver = StreamResolver()
        return try prepare(inputs, resolver: &resolver)
    }

    /// Like ``prepare(_:)``, remembering the parents of created entities in `resolver` for later batches (a streaming
    /// input whose later lines refer to entities created by earlier lines not yet committed).
    public func prepare(_ inputs: [Input], resolver: inout StreamResolver) throws -> ([NewEvent], [String: ExpectedVersion]) {
        if inputs.count == 1 {
            // One input (each line of a streaming `reel append`): no batch bookkeeping to keep.
            let input = inputs[0]
            let event = try Batch.newEvent(input, in: self, resolver: &resolver)
            guard case let .exactly(version) = input.expectedVersion else { return ([event], [:]) }
            return ([event], [event.stream: .exactly(version)])
        }
        var batch = Batch()
        for input in inputs {
            if case let .repeats(earlier) = try batch.add(input, in: self, resolver: &resolver) {
                throw EventStoreError.invalidBatch("event \(batch.events.count + 1) repeats event \(earlier + 1) (id \(input.id.lowercased))")
            }
        }
        return (batch.events, batch.expected)
    }

    /// An atomic batch being assembled input by input, so that a failure belongs to the input that caused it.
    public struct Batch: Sendable {
        public private(set) var events: [NewEvent] = []
        /// Per stream, the events it must hold before the batch.
        public private(set) var expected: [String: ExpectedVersion] = [:]
        private var perStream: [String: UInt64] = [:]
        private var byID: [UUID: Int] = [:]
        /// Per stream, the first input that expected a version, and how many events of the stream came before it.
        private var firstExpecting: [String: (index: Int, before: UInt64)] = [:]

        public init() {}

        /// What ``add(_:in:resolver:skippingStored:)`` did.
        public enum Added: Sendable, Equatable {
            case added
            /// The input repeats an earlier one of the batch (same id and content): it was left out.
            case repeats(Int)
            /// The store already holds the input's event (same id, stream, type and data), at this position and
            /// version: it was left out, a no-op as a re-append of a stored event always is.
            case stored(position: UInt64, version: UInt64)
        }

        /// Adds one input, or throws for it alone (the batch is unchanged): its stream cannot be resolved, its id
        /// repeats an earlier input with other content (`EventStoreError.invalidBatch`), or its expected version
        /// contradicts an earlier input's on the same stream. An `expected_version` counts the events of the stream
        /// before this input, earlier inputs of the batch included.
        ///
        /// - Parameters:
        ///   - input: The event and its envelope fields.
        ///   - media: The store the batch is for: streams of child entities are looked up there.
        ///   - resolver: Remembers the parents of entities created by earlier inputs, also across batches.
        ///   - skippingStored: Look the input's id up in the store first: an event stored with the same content is
        ///     left out (``Added/stored(position:version:)``), one stored with other content is an
        ///     `EventStoreError.idempotencyConflict`. Without it, a batch that mixes stored and new events fails as a
        ///     whole when appended (`EventStoreError.partialDuplicate`). An event stored after the lookup, by another
        ///     writer, still makes the append fail that way.
        public mutating func add(
            _ input: Input, in media: MediaStore, resolver: inout StreamResolver, skippingStored: Bool = false
        ) throws -> Added {
            let event = try Self.newEvent(input, in: media, resolver: &resolver)
            let stream = event.stream
            if let earlier = byID[input.id] {
                let first = events[earlier]
                guard first.stream == event.stream, first.type == event.type, first.payload == event.payload else {
                    throw EventStoreError.invalidBatch("event id \(input.id.lowercased) appears earlier in this input with other content")
                }
                return .repeats(earlier)
            }
            if skippingStored, let stored = try media.store.event(id: input.id) {
                // The engine's rule for a re-appended event: the same stream, type and data.
                guard stored.stream == event.stream, stored.type == event.type, stored.payload == event.payload else {
                    throw EventStoreError.idempotencyConflict(id: input.id, position: stored.position)
                }
                return .stored(position: stored.position, version: stored.version)
            }
            let before = perStream[stream] ?? 0
            if case let .exactly(version) = input.expectedVersion {
                if case let .exactly(start)? = expected[stream], start + before != version {
                    throw EventStoreError.wrongExpectedVersion(stream: stream, expected: version, actual: start + before)
                }
                guard version >= before else {
                    throw EventStoreError.wrongExpectedVersion(stream: stream, expected: version, actual: before)
                }
                expected[stream] = .exactly(version - before)
                if firstExpecting[stream] == nil { firstExpecting[stream] = (events.count, before) }
            }
            byID[input.id] = events.count
            events.append(event)
            perStream[stream] = before + 1
            return .added
        }

        /// The engine event of an input: its stream resolved, its payload canonical JSON, the decoded event attached
        /// (so the projection need not decode the payload again).
        static func newEvent(_ input: Input, in media: MediaStore, resolver: inout StreamResolver) throws -> NewEvent {
            let stream: String
            do {
                stream = try resolver.stream(for: input.event, in: media)
            } catch var rejection as DomainRejection {
                rejection.eventID = input.id
                throw rejection
            }
            var event = NewEvent(
                id: input.id, stream: stream, type: input.event.type,
                payload: JSONWriter.canonical(.object(input.event.data)), metadata: input.metadata
            )
            event.attachment = MediaProjection.Decoded(input.event, checks: true)
            return event
        }

        /// The input an append failure of this batch is about, and the failure in that input's terms (an expected
        /// version counted from that input, not from the batch's start); `nil` when it is about the batch as a whole.
        public func attribute(_ error: any Error) -> (index: Int, error: any Error)? {
            switch error {
            case let rejection as DomainRejection:
                return rejection.eventID.flatMap { byID[$0] }.map { ($0, rejection) }
            case let EventStoreError.idempotencyConflict(id, _), let EventStoreError.partialDuplicate(id, _):
                return byID[id].map { ($0, error) }
            case let EventStoreError.wrongExpectedVersion(stream, expected, actual):
                guard let first = firstExpecting[stream] else { return nil }
                let translated = EventStoreError.wrongExpectedVersion(stream: stream, expected: expected + first.before, actual: actual + first.before)
                return (first.index, translated)
            default:
                return nil
            }
        }
    }

    // MARK: Queries

    /// Runs a query on one snapshot of the media projection (the queries themselves are ``MediaQueries``').
    public func withQueries<R>(_ body: (SnapshotQueries, borrowing Transaction) throws -> R) throws -> R {
        try store.read { snapshot in
            try snapshot.query("media") { txn, databases in try body(SnapshotQueries(t: databases.memoized(Tables.init)), txn) }
        }
    }

    // MARK: Change feed

    /// Every event from `position` on, decoded, then new ones as they commit (see `Store.subscribe(from:)`).
    public func changes(from position: UInt64 = 1) -> AsyncThrowingMapSequence<EventSubscription, (RecordedEvent, DomainEvent)> {
        store.subscribe(from: position).map { event in (event, try DomainEvent(recorded: event)) }
    }
}

/// Decides the stream of each event: `<entity>-<id>` of the entity it belongs to. Events that name only a child
/// entity (`image.deleted`, `scenelet.updated|removed|end_frame_set`, `shot.planned`, `shot.assets_attached`) take
/// the stream of its parent (job, story), found among the events resolved before in this resolver or in the store.
/// The parent of an entity never changes, so reading it before the write transaction is safe.
public struct StreamResolver: Sendable {
    /// Parents of entities created by events this resolver has seen, bounded to the most recent ones.
    private var recent: [UUID: String] = [:]
    private var order: [UUID] = []
    private let capacity: Int

    /// - Parameter capacity: How many recently created entities to remember (for streaming inputs, a bound on memory).
    public init(capacity: Int = 100_000) { self.capacity = capacity }

    private mutating func remember(_ id: UUID, _ stream: String) {
        if recent.updateValue(stream, forKey: id) == nil { order.append(id) }
        if order.count > capacity * 2 {
            for old in order.prefix(order.count - capacity) { recent[old] = nil }
            order.removeFirst(order.count - capacity)
        }
    }

    public mutating func stream(for event: DomainEvent, in media: MediaStore) throws -> String {
        if let (entity, id) = event.directStream {
            let stream = id.lowercased(after: entity + "-")
            switch event {
            case let .imageGenerated(e): remember(e.imageID, stream)
            case let .sceneletAdded(e): remember(e.sceneletID, stream)
            default: break
            }
            return stream
        }
        // The store first: what is committed is authoritative. The entities remembered from earlier inputs only stand
        // in for ones not committed yet (and whose creation may still be rejected, in which case so is this event).
        func parent(_ id: UUID, _ entity: String) throws -> String {
            if let stream = try media.withQueries({ queries, txn in try queries.t.stream(of: id, txn) }) { return stream }
            if let known = recent[id] { return known }
            throw DomainRejection(type: event.type, reason: "\(entity) \(id.text) does not exist")
        }
        switch event {
        case let .imageDeleted(e): return try parent(e.imageID, "image")
        case let .sceneletUpdated(e): return try parent(e.sceneletID, "scenelet")
        case let .sceneletRemoved(e): return try parent(e.sceneletID, "scenelet")
        case let .sceneletEndFrameSet(e): return try parent(e.sceneletID, "scenelet")
        case let .shotPlanned(e):
            let stream = try parent(e.sceneletID, "scenelet")
            remember(e.shotID, stream)
            return stream
        case let .shotAssetsAttached(e): return try parent(e.shotID, "shot")
        default:
            preconditionFailure("\(event.type) names its own stream")
        }
    }
}
