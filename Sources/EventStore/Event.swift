import Foundation

/// Who caused an event and why: carried with every stored event, covered by its hash.
public struct EventMetadata: Sendable, Hashable {
    /// The user, service or worker that appended the event.
    public var actor: String?
    /// Groups the events of one piece of work (one request, one job) across streams.
    public var correlationID: String?
    /// The id of the event or command that caused this one.
    public var causationID: String?

    public init(actor: String? = nil, correlationID: String? = nil, causationID: String? = nil) {
        self.actor = actor
        self.correlationID = correlationID
        self.causationID = causationID
    }

    public static let none = EventMetadata()
}

/// An event to append: the stream it belongs to, its type, its payload and a unique id.
public struct NewEvent: Sendable, Hashable {
    /// Unique in the store; appending the same id again with the same content is a no-op. Defaults to a time-ordered
    /// UUID (version 7): ids that grow with time keep the id index appending at its end, where random (version 4) ids
    /// dirty a different page of it for every event.
    public var id: UUID
    /// The stream, e.g. `job-3f2a…`. 1…255 bytes of UTF-8.
    public var stream: String
    /// The event type, e.g. `image.generated`. 1…255 bytes of UTF-8.
    public var type: String
    /// The event's data, opaque to the engine (the domain stores canonical JSON).
    public var payload: [UInt8]
    public var metadata: EventMetadata
    /// What the caller already knows of the payload (say, the decoded event it was encoded from), handed to
    /// projections with the event in this process's append so they need not decode the payload again. Never stored;
    /// not part of the event's identity (`==` and hashing ignore it).
    public var attachment: (any Sendable)?

    public init(id: UUID = .timeOrdered(), stream: String, type: String, payload: [UInt8], metadata: EventMetadata = .none) {
        self.id = id
        self.stream = stream
        self.type = type
        self.payload = payload
        self.metadata = metadata
    }

    public static func == (lhs: NewEvent, rhs: NewEvent) -> Bool {
        lhs.id == rhs.id && lhs.stream == rhs.stream && lhs.type == rhs.type && lhs.payload == rhs.payload && lhs.metadata == rhs.metadata
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(id)
        hasher.combine(stream)
        hasher.combine(type)
        hasher.combine(payload)
        hasher.combine(metadata)
    }
}

/// A stored event, as read back or as handed to projections.
public struct RecordedEvent: Sendable, Hashable {
    /// Global position: 1, 2, 3, … without gaps.
    public let position: UInt64
    public let stream: String
    /// Position within the stream: 1, 2, 3, … without gaps.
    public let version: UInt64
    public let id: UUID
    public let type: String
    /// Milliseconds since 1970-01-01T00:00:00Z, from the store's clock; never decreases as position grows.
    public let recordedAtMilliseconds: Int64
    public let metadata: EventMetadata
    public let payload: [UInt8]
    /// SHA-256(previous event's hash ‖ canonical bytes of this event); see `docs/FORMAT.md`.
    public let hash: [UInt8]
    /// The appender's ``NewEvent/attachment``, while the event is being appended in this process; `nil` when read back
    /// or refolded, or what ``Projection/prepare(_:)`` made of it in a refold. Not part of the event's identity.
    public internal(set) var attachment: (any Sendable)?

    init(
        position: UInt64, stream: String, version: UInt64, id: UUID, type: String, recordedAtMilliseconds: Int64,
        metadata: EventMetadata, payload: [UInt8], hash: [UInt8], attachment: (any Sendable)? = nil
    ) {
        (self.position, self.stream, self.version, self.id, self.type) = (position, stream, version, id, type)
        (self.recordedAtMilliseconds, self.metadata, self.payload, self.hash) = (recordedAtMilliseconds, metadata, payload, hash)
        self.attachment = attachment
    }

    public static func == (lhs: RecordedEvent, rhs: RecordedEvent) -> Bool {
        lhs.position == rhs.position && lhs.stream == rhs.stream && lhs.version == rhs.version && lhs.id == rhs.id
            && lhs.type == rhs.type && lhs.recordedAtMilliseconds == rhs.recordedAtMilliseconds && lhs.metadata == rhs.metadata
            && lhs.payload == rhs.payload && lhs.hash == rhs.hash
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(position)
        hasher.combine(id)
        hasher.combine(hash)
    }

    public var recordedAt: Date { Date(timeIntervalSince1970: Double(recordedAtMilliseconds) / 1000) }
}

/// How many events a stream must hold before an append, checked inside the write transaction.
public enum ExpectedVersion: Sendable, Hashable {
    /// No check.
    case any
    /// The stream holds exactly this many events; `0` means the stream must not exist yet.
    case exactly(UInt64)

    public static let noStream = ExpectedVersion.exactly(0)
}

/// What an append did.
public struct AppendResult: Sendable, Hashable {
    /// One event's position and version are kept inline: a bulk load answers a million one-event batches, and the
    /// writer thread then allocates no arrays for them. (Always `.one` for one event, so equal results are equal.)
    private enum Storage: Sendable, Hashable {
        case one(position: UInt64, version: UInt64)
        case many(positions: [UInt64], versions: [UInt64])
    }

    private let storage: Storage
    /// `true` when every event was already stored with the same content: nothing was written and the positions are
    /// the original ones.
    public let isDuplicate: Bool

    public init(positions: [UInt64], versions: [UInt64], isDuplicate: Bool) {
        if positions.count == 1, versions.count == 1 {
            storage = .one(position: positions[0], version: versions[0])
        } else {
            storage = .many(positions: positions, versions: versions)
        }
        self.isDuplicate = isDuplicate
    }

    /// The result of one event.
    public init(position: UInt64, version: UInt64, isDuplicate: Bool) {
        storage = .one(position: position, version: version)
        self.isDuplicate = isDuplicate
    }

    /// The position of each event, in the order given.
    public var positions: [UInt64] {
        switch storage {
        case let .one(position, _): [position]
        case let .many(positions, _): positions
        }
    }

    /// The stream version of each event, in the order given.
    public var versions: [UInt64] {
        switch storage {
        case let .one(_, version): [version]
        case let .many(_, versions): versions
        }
    }

    public var lastPosition: UInt64 {
        switch storage {
        case let .one(position, _): position
        case let .many(positions, _): positions.last ?? 0
        }
    }
}

extension AppendResult: CustomStringConvertible {
    /// The positions and versions, as a closed range when they run on by one, else as a list:
    /// `AppendResult(position: 7, version: 1)`, `AppendResult(positions: 7...9, versions: 1...3)`,
    /// `AppendResult(positions: 7...9, versions: [4, 1, 5], duplicate)` (a batch over two streams, stored before).
    public var description: String {
        let duplicate = isDuplicate ? ", duplicate" : ""
        switch storage {
        case let .one(position, version):
            return "AppendResult(position: \(position), version: \(version)\(duplicate))"
        case let .many(positions, versions):
            return "AppendResult(positions: \(Self.run(positions)), versions: \(Self.run(versions))\(duplicate))"
        }
    }

    /// `a...b` for numbers that each follow the one before by one, else the list.
    private static func run(_ numbers: [UInt64]) -> String {
        guard let first = numbers.first, numbers.count > 1,
            numbers.indices.allSatisfy({ numbers[$0] &- first == UInt64($0) })
        else { return numbers.description }
        return "\(first)...\(first &+ UInt64(numbers.count - 1))"
    }
}

extension AppendResult: CustomReflectable {
    /// What `dump` and debuggers show: the positions, the versions and whether the batch was a duplicate.
    public var customMirror: Mirror {
        Mirror(self, children: ["positions": positions, "versions": versions, "isDuplicate": isDuplicate], displayStyle: .struct)
    }
}

extension UUID {
    /// A random (version 4) UUID from the system's generator (`getrandom`), without the file opens that `UUID()`
    /// costs on Linux.
    public static func random() -> UUID {
        var generator = SystemRandomNumberGenerator()
        var bytes = (generator.next() as UInt64, generator.next() as UInt64)
        return withUnsafeMutableBytes(of: &bytes) { raw in
            raw[6] = raw[6] & 0x0F | 0x40
            raw[8] = raw[8] & 0x3F | 0x80
            return UUID(uuid: raw.load(as: uuid_t.self))
        }
    }
}

extension UUID {
    /// A time-ordered UUID (RFC 9562 version 7): 48 bits of Unix milliseconds, then a 26-bit counter that makes ids of
    /// one process strictly increasing within a millisecond, then random bits.
    public static func timeOrdered() -> UUID {
        let milliseconds = UInt64((Date().timeIntervalSince1970 * 1000).rounded(.down))
        let (time, count, random) = timeOrderedState.withLock { state -> (UInt64, UInt64, UInt64) in
            if milliseconds > state.milliseconds {
                state.milliseconds = milliseconds
                state.counter = 0
            } else {
                state.counter += 1
                if state.counter >= 1 << 26 { (state.milliseconds, state.counter) = (state.milliseconds + 1, 0) }
            }
            return (state.milliseconds, state.counter, state.random.next())
        }
        // Two big-endian words, no temporary array: time (48 bits), version 7 and counter bits 25…14; then the variant,
        // counter bits 13…0 and 48 random bits.
        let high = time << 16 | 0x7000 | (count >> 14) & 0x0FFF
        let low = 0x8000_0000_0000_0000 | (count & 0x3FFF) << 48 | random & 0xFFFF_FFFF_FFFF
        return withUnsafeBytes(of: (high.bigEndian, low.bigEndian)) { bytes in
            UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                        bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
        }
    }
}

/// The last millisecond and counter handed out by ``UUID/timeOrdered()`` in this process, and the generator of its
/// random bits: xoshiro256** seeded once from the system's generator (a `getrandom` call per id showed up in profiles).
private let timeOrderedState = Locked<(milliseconds: UInt64, counter: UInt64, random: Xoshiro256)>((0, 0, Xoshiro256()))

/// xoshiro256** (Blackman and Vigna), seeded from `SystemRandomNumberGenerator`.
struct Xoshiro256: RandomNumberGenerator {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    init() {
        var system = SystemRandomNumberGenerator()
        s = (system.next(), system.next(), system.next(), system.next() | 1)
    }

    mutating func next() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0
        s.3 ^= s.1
        s.1 ^= s.2
        s.0 ^= s.3
        s.2 ^= t
        s.3 = s.3 << 45 | s.3 >> 19
        return result
    }
}
