import EventStore
import Foundation
import LMDB

/// A domain rule failed: names the event type, the rule and the ids, e.g.
/// `image.generated rejected: job 3f2a… is pending, not processing`.
public struct DomainRejection: Error, Sendable, Equatable, CustomStringConvertible {
    public let type: String
    public let reason: String
    /// The id of the rejected event, when the rule was checked on a stored-to-be event (lets a caller that appended a
    /// batch tell which of its events failed).
    public var eventID: UUID? = nil

    public init(type: String, reason: String, eventID: UUID? = nil) {
        self.type = type
        self.reason = reason
        self.eventID = eventID
    }

    public var description: String { "\(type) rejected: \(reason)" }
}

/// The databases of ``MediaProjection``, opened, with typed access. Keys are fixed-width big-endian so that each
/// query reads one contiguous range of one entity's keys.
final class Tables: Sendable {
    let users, emails, sessions, userSessions, sessionImages, sessionImagesByTime: Database
    let referenceImages, userReferenceImages, jobs, jobsByStatus, jobImages, images: Database
    let projects, sceneImages, stories, sceneletChildren: Database
    /// Scenelets and shots are stored by story (``SceneletRecord/key``, ``ShotRecord/key``), so that a whole story
    /// reads as two key ranges; `scenelets` and `shots` map each id to its record's key.
    let scenelets, storyScenelets, shots, storyShots: Database
    let frames, shotFrames, shotFrameTypes, frameJobs, endFrameRefs, previousFrameRefs: Database
    /// Add-only: the stream of every image, scenelet, shot and frame ever created, kept when the entity is removed —
    /// so its id is never reused and its history can still be found.
    let entityStreams: Database
    /// Add-only, keyed `entity id ‖ position`: the events that changed an entity from outside its own stream without
    /// naming it there, for its history (``MediaStore/history(id:)``) — a frame set as a scenelet's end frame, shots
    /// and frames removed with their scenelet, pointers at them cleared, a shot given a frame, a session's images
    /// counted, a user given a session or a reference image.
    let entityTouches: Database

    static let names = [
        "users", "emails", "sessions", "user-sessions", "session-images", "session-images-by-time",
        "reference-images", "user-reference-images", "jobs", "jobs-by-status", "job-images", "images",
        "projects", "scene-images", "stories", "scenelets", "story-scenelets", "scenelet-children", "shots", "story-shots",
        "frames", "shot-frames", "shot-frame-types", "frame-jobs", "end-frame-refs", "previous-frame-refs",
        "entity-streams", "entity-touches",
    ]

    init(_ d: ProjectionDatabases) {
        (users, emails, sessions, userSessions) = (d["users"], d["emails"], d["sessions"], d["user-sessions"])
        (sessionImages, sessionImagesByTime) = (d["session-images"], d["session-images-by-time"])
        (referenceImages, userReferenceImages) = (d["reference-images"], d["user-reference-images"])
        (jobs, jobsByStatus, jobImages, images) = (d["jobs"], d["jobs-by-status"], d["job-images"], d["images"])
        (projects, sceneImages, stories, scenelets) = (d["projects"], d["scene-images"], d["stories"], d["scenelets"])
        (storyScenelets, sceneletChildren, shots, storyShots) = (d["story-scenelets"], d["scenelet-children"], d["shots"], d["story-shots"])
        (frames, shotFrames, shotFrameTypes, frameJobs) = (d["frames"], d["shot-frames"], d["shot-frame-types"], d["frame-jobs"])
        (endFrameRefs, previousFrameRefs) = (d["end-frame-refs"], d["previous-frame-refs"])
        entityStreams = d["entity-streams"]
        entityTouches = d["entity-touches"]
    }

    // MARK: Records

    func record<R: EntityRecord>(_ type: R.Type, _ database: Database, _ id: UUID, _ txn: borrowing Transaction) throws -> R? {
        try read(database, id, txn) { try R(bytes: $0) }
    }

    /// What `decode` makes of the value stored under `id` (read in place, in the map), or `nil` when there is none.
    func read<R>(_ database: Database, _ id: UUID, _ txn: borrowing Transaction, _ decode: (UnsafeRawBufferPointer) throws -> R) throws -> R? {
        try id.withBytes { key in try txn.get(database, key) { value in try value.map(decode) } }
    }

    func record<R: EntityRecord>(_ type: R.Type, _ database: Database, _ key: Key, _ txn: borrowing Transaction) throws -> R? {
        try key.withBytes { key in try txn.get(database, key) { value in try value.map { try R(bytes: $0) } } }
    }

    /// Stores a new entity's record; `false`, writing nothing, when the id has one already — unless `replacing`.
    func putNew(_ record: some EntityRecord, _ database: Database, _ id: UUID, replacing: Bool = false, _ txn: borrowing Transaction) throws -> Bool {
        let value = record.bytes
        return try id.withBytes { key in
            try value.withUnsafeBytes { try txn.put(database, key, $0, flags: replacing ? [] : .noOverwrite) }
        }
    }

    func exists(_ database: Database, _ id: UUID, _ txn: borrowing Transaction) throws -> Bool {
        try id.withBytes { try txn.contains(database, $0) }
    }

    func put(_ record: some EntityRecord, _ database: Database, _ id: UUID, _ txn: borrowing Transaction) throws {
        let value = record.bytes
        _ = try id.withBytes { key in try value.withUnsafeBytes { try txn.put(database, key, $0) } }
    }

    func delete(_ database: Database, _ id: UUID, _ txn: borrowing Transaction) throws {
        _ = try id.withBytes { try txn.delete(database, $0) }
    }

    /// The stream an image, scenelet, shot or frame was created in, even if it was removed since.
    func stream(of id: UUID, _ txn: borrowing Transaction) throws -> String? {
        try id.withBytes { key in try txn.get(entityStreams, key) { $0.map { String(decoding: $0, as: UTF8.self) } } }
    }

    /// Records the stream an id was created in; `false`, writing nothing, when the id has one already — unless
    /// `replacing`.
    func recordStream(of id: UUID, _ stream: String, replacing: Bool = false, _ txn: borrowing Transaction) throws -> Bool {
        var stream = stream
        return try id.withBytes { key in
            try stream.withUTF8 { try txn.put(entityStreams, key, UnsafeRawBufferPointer($0), flags: replacing ? [] : .noOverwrite) }
        }
    }

    // MARK: Sessions, kept together by user

    /// The user a session belongs to, or `nil` when there is no such session.
    func owner(ofSession id: UUID, _ txn: borrowing Transaction) throws -> UUID? {
        try record(SessionOwner.self, sessions, id, txn)?.userID
    }

    /// A session's owner and record, or `nil` when there is no such session.
    func session(_ id: UUID, _ txn: borrowing Transaction) throws -> (userID: UUID, record: SessionRecord)? {
        guard let userID = try owner(ofSession: id, txn) else { return nil }
        guard let record = try session(id, of: userID, txn) else { throw DamagedRecord(what: "session") }
        return (userID, record)
    }

    /// A session's record, stored under its user.
    func session(_ id: UUID, of userID: UUID, _ txn: borrowing Transaction) throws -> SessionRecord? {
        try record(SessionRecord.self, userSessions, Key(userID).with(id), txn)
    }

    func put(_ session: SessionRecord, _ id: UUID, of userID: UUID, _ txn: borrowing Transaction) throws {
        try put(userSessions, Key(userID).with(id), session.bytes, txn)
    }

    // MARK: Scenelets and shots, kept together by story

    /// Where a scenelet is: its story and the position of its `scenelet.added` (the key of its record), or `nil`.
    func place(ofScenelet id: UUID, _ txn: borrowing Transaction) throws -> ScenePlace? {
        try id.withBytes { key in
            try txn.get(scenelets, key) { value in
                guard let value else { return nil }
                var reader = ByteReader(value)
                guard let storyID = try? reader.uuid(), let position = try? reader.u64() else { throw DamagedRecord(what: "scenelet") }
                return ScenePlace(storyID: storyID, position: position)
            }
        }
    }

    func scenelet(_ id: UUID, _ txn: borrowing Transaction) throws -> SceneletRecord? {
        guard let place = try place(ofScenelet: id, txn) else { return nil }
        guard let record = try record(SceneletRecord.self, storyScenelets, place.key, txn) else { throw DamagedRecord(what: "scenelet") }
        return record
    }

    /// Stores a scenelet's record; `new` also maps its id to it.
    func put(_ scenelet: SceneletRecord, new: Bool, _ txn: borrowing Transaction) throws {
        try put(scenelet, storyScenelets, mappedIn: new ? scenelets : nil, txn)
    }

    func delete(_ scenelet: SceneletRecord, _ txn: borrowing Transaction) throws {
        try delete(scenelet, storyScenelets, mappedIn: scenelets, txn)
    }

    /// Stores a record kept by story under its key, and with `ids` maps its id to that key.
    private func put(_ record: some StoryKeyed, _ database: Database, mappedIn ids: Database?, _ txn: borrowing Transaction) throws {
        let key = record.key
        try put(database, key, record.bytes, txn)
        if let ids { try put(ids, Key(record.id), key.bytes, txn) }
    }

    private func delete(_ record: some StoryKeyed, _ database: Database, mappedIn ids: Database, _ txn: borrowing Transaction) throws {
        try delete(database, record.key, txn)
        try delete(ids, record.id, txn)
    }

    /// The `story-shots` key of a shot's record, or `nil`.
    func key(ofShot id: UUID, _ txn: borrowing Transaction) throws -> [UInt8]? {
        try id.withBytes { key in try txn.get(shots, key) { $0.map { Array($0) } } }
    }

    /// The story a shot belongs to, or `nil`.
    func story(ofShot id: UUID, _ txn: borrowing Transaction) throws -> UUID? {
        try id.withBytes { key in
            try txn.get(shots, key) { value in
                guard let value else { return nil }
                var reader = ByteReader(value)
                guard let storyID = try? reader.uuid() else { throw DamagedRecord(what: "shot") }
                return storyID
            }
        }
    }

    func shot(_ id: UUID, _ txn: borrowing Transaction) throws -> ShotRecord? {
        guard let key = try key(ofShot: id, txn) else { return nil }
        return try key.withUnsafeBytes { key in
            try txn.get(storyShots, key) { value in
                guard let value else { throw DamagedRecord(what: "shot") }
                return try ShotRecord(bytes: value)
            }
        }
    }

    /// Stores a shot's record; `new` also maps its id to it.
    func put(_ shot: ShotRecord, new: Bool, _ txn: borrowing Transaction) throws {
        try put(shot, storyShots, mappedIn: new ? shots : nil, txn)
    }

    func delete(_ shot: ShotRecord, _ txn: borrowing Transaction) throws {
        try delete(shot, storyShots, mappedIn: shots, txn)
    }

    /// The shots of a scenelet, by shot index.
    func shots(of scenelet: SceneletRecord, _ txn: borrowing Transaction) throws -> [ShotRecord] {
        var shots: [ShotRecord] = []
        try scan(storyShots, prefix: scenelet.key, txn) { _, value in
            shots.append(try ShotRecord(bytes: value))
            return true
        }
        return shots
    }

    // MARK: Index entries

    func put(_ database: Database, _ key: Key, _ value: [UInt8] = [], _ txn: borrowing Transaction) throws {
        _ = try key.withBytes { key in try value.withUnsafeBytes { try txn.put(database, key, $0) } }
    }

    /// An index entry whose value is a text's UTF-8.
    func put(_ database: Database, _ key: Key, text: String, _ txn: borrowing Transaction) throws {
        var text = text
        _ = try key.withBytes { key in try text.withUTF8 { try txn.put(database, key, UnsafeRawBufferPointer($0)) } }
    }

    /// An index entry whose value is an id.
    func put(_ database: Database, _ key: Key, id: UUID, _ txn: borrowing Transaction) throws {
        _ = try key.withBytes { key in try id.withBytes { try txn.put(database, key, $0) } }
    }

    func delete(_ database: Database, _ key: Key, _ txn: borrowing Transaction) throws {
        _ = try key.withBytes { try txn.delete(database, $0) }
    }

    /// Replaces the value under `key` with what `body` makes of the stored one (`nil` when there is none), in one
    /// search of the tree: a cursor finds the entry, then writes where it stands.
    func update(_ database: Database, _ key: Key, _ txn: borrowing Transaction, _ body: (UnsafeRawBufferPointer?) throws -> [UInt8]) throws {
        try key.withBytes { key in
            try txn.withCursor(database) { cursor in
                let replaced = try cursor.seek(atLeast: key) { found, value -> [UInt8]? in
                    guard found.elementsEqual(key) else { return nil }
                    return try body(value)
                } ?? nil
                if let replaced {
                    _ = try replaced.withUnsafeBytes { try cursor.put(key, $0, flags: .current) }
                } else {
                    _ = try body(nil).withUnsafeBytes { try cursor.put(key, $0) }
                }
            }
        }
    }

    func get(_ database: Database, _ key: Key, _ txn: borrowing Transaction) throws -> [UInt8]? {
        try key.withBytes { key in try txn.get(database, key) { $0.map { Array($0) } } }
    }

    /// Whether an entry exists under `key`.
    func contains(_ database: Database, _ key: Key, _ txn: borrowing Transaction) throws -> Bool {
        try key.withBytes { try txn.contains(database, $0) }
    }

    /// Every entry whose key starts with `prefix`, in key order, while `body` returns `true`.
    func scan(
        _ database: Database, prefix: Key, _ txn: borrowing Transaction,
        _ body: (_ suffix: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> Bool
    ) throws {
        try prefix.withBytes { start in
            try txn.withCursor(database) { cursor in
                try cursor.forEach(from: start) { key, value in
                    guard key.count >= start.count, memcmp(key.baseAddress!, start.baseAddress!, start.count) == 0 else { return false }
                    return try body(UnsafeRawBufferPointer(rebasing: key[start.count...]), value)
                }
            }
        }
    }

    /// The UUID value of the first entry under `prefix`, or `nil`.
    func firstID(_ database: Database, prefix: Key, _ txn: borrowing Transaction) throws -> UUID? {
        var first: UUID?
        try scan(database, prefix: prefix, txn) { _, value in
            var reader = ByteReader(value)
            guard let id = try? reader.uuid() else { throw DamagedRecord(what: "index") }
            first = id
            return false
        }
        return first
    }

    /// The UUID values of every entry under `prefix`, in key order.
    func ids(_ database: Database, prefix: Key, _ txn: borrowing Transaction) throws -> [UUID] {
        var ids: [UUID] = []
        try scan(database, prefix: prefix, txn) { _, value in
            var reader = ByteReader(value)
            guard let id = try? reader.uuid() else { throw DamagedRecord(what: "index") }
            ids.append(id)
            return true
        }
        return ids
    }

    /// The keys' trailing UUIDs under `prefix` (for sets keyed `owner ‖ member`).
    func members(_ database: Database, prefix: Key, _ txn: borrowing Transaction) throws -> [UUID] {
        var ids: [UUID] = []
        try scan(database, prefix: prefix, txn) { suffix, _ in
            var reader = ByteReader(suffix)
            guard suffix.count == 16, let id = try? reader.uuid() else { throw DamagedRecord(what: "index") }
            ids.append(id)
            return true
        }
        return ids
    }
}

/// Where a scenelet's record is: its story and the position of its `scenelet.added`.
struct ScenePlace: Equatable {
    let storyID: UUID
    let position: UInt64

    var key: Key { Key(storyID).with(position) }
}

/// A composite index key: UUIDs, big-endian integers and strings side by side.
///
/// Built on every put, get and delete of the fold, so it lives inline: keys of up to 48 bytes (two UUIDs and two
/// integers) never touch the heap; longer ones (a UUID and a text) spill to an array.
struct Key {
    private var inline: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0)
    private var count = 0
    private var spilled: [UInt8]?
    private static let capacity = 48

    init(_ id: UUID) { append(id) }
    init(_ code: UInt8) { append(CollectionOfOne(code)) }

    func with(_ id: UUID) -> Key {
        var key = self
        key.append(id)
        return key
    }

    func with(_ number: UInt64) -> Key {
        var key = self
        withUnsafeBytes(of: number.bigEndian) { key.append($0) }
        return key
    }

    /// The rules keep every number in a key at 0 or above; a damaged record's negative one must not trap.
    func with(_ number: Int) -> Key { with(UInt64(bitPattern: Int64(number))) }

    func with(_ text: String) -> Key {
        var key = self
        key.append(text.utf8)
        return key
    }

    /// The key's bytes, lent for the call.
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        if let spilled { return try spilled.withUnsafeBytes(body) }
        var copy = inline
        return try withUnsafeBytes(of: &copy) { try body(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
    }

    /// The key's bytes, copied.
    var bytes: [UInt8] { withBytes { Array($0) } }

    private mutating func append(_ id: UUID) {
        withUnsafeBytes(of: id.uuid) { append($0) }
    }

    private mutating func append(_ more: some Collection<UInt8>) {
        if spilled == nil, count + more.count <= Self.capacity {
            let start = count
            withUnsafeMutableBytes(of: &inline) { buffer in
                for (offset, byte) in more.enumerated() { buffer[start + offset] = byte }
            }
            count += more.count
        } else {
            if spilled == nil { spilled = withUnsafeBytes(of: inline) { Array($0[..<count]) } }
            spilled!.append(contentsOf: more)
            count += more.count
        }
    }
}

extension UUID {
    /// The 16 bytes, as an index value.
    var valueBytes: [UInt8] { withUnsafeBytes(of: uuid) { Array($0) } }
    /// Lower-case canonical text, as in JSON and stream names.
    var text: String { lowercased }
}
