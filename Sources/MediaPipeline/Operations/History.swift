import EventStore
import Foundation

extension MediaStore {
    /// Every event that touched a frame, in log order: the frame's own events (creation, reviews), every event of the
    /// jobs created for it (their status changes and images), and the events of other streams that changed it
    /// (set as a scenelet's end frame or no longer, removed with its scenelet, its previous frame removed).
    public func history(frame: UUID) throws -> [RecordedEvent] {
        try store.read { snapshot in
            // Only a frame's id: another entity's touches must not pass for a frame's history.
            let own = try frameEvents(frame, snapshot)
            guard !own.isEmpty else { throw UnknownEntity(entity: "frame", id: frame) }
            return Self.inOrder(try own + touches(of: frame, snapshot))
        }
    }

    /// A frame's stream and the streams of the jobs created for it; nothing for an id that is not a frame's.
    private func frameEvents(_ frame: UUID, _ snapshot: borrowing Snapshot) throws -> [RecordedEvent] {
        let own = try snapshot.stream("frame-\(frame.text)", from: 1, limit: .max)
        guard !own.isEmpty else { return [] }
        let jobs = try snapshot.query("media") { txn, databases in
            let t = databases.memoized(Tables.init)
            return try t.ids(t.frameJobs, prefix: Key(frame), txn)
        }
        return try own + jobs.flatMap { try snapshot.stream("job-\($0.text)", from: 1, limit: .max) }
    }

    /// Every event that touched a job: its stream (creation, status changes, its images and their deletion). No
    /// event of another stream changes a job.
    public func history(job: UUID) throws -> [RecordedEvent] {
        let events = try store.stream("job-\(job.text)", from: 1, limit: .max)
        guard !events.isEmpty else { throw UnknownEntity(entity: "job", id: job) }
        return events
    }

    /// Every event that touched any entity with this id, or the event with this id: the entity's own stream if it
    /// has one (a frame's with its jobs' streams, as ``history(frame:)``); the events of its parent's stream that name it (an image in its job's stream, a scenelet or shot in
    /// its story's stream); and the events of other streams that changed it without naming it there — a frame set as
    /// a scenelet's end frame, shots and frames removed with their scenelet and the pointers at them cleared, a frame
    /// added to a shot, a session's images counted, a session or reference image added to a user.
    public func history(id: UUID) throws -> [RecordedEvent] {
        try store.read { snapshot in
            var events: [RecordedEvent] = []
            for entity in ["user", "session", "reference-image", "job", "project", "story"] {
                events += try snapshot.stream("\(entity)-\(id.text)", from: 1, limit: .max)
            }
            // A frame's history is the same as with `history(frame:)`: its jobs' events too.
            events += try frameEvents(id, snapshot)
            // An image, scenelet or shot lives in its parent's stream (kept after removal): its events there name it.
            let needle = Array(id.text.utf8)
            let parent: String? = try snapshot.query("media") { txn, databases in try databases.memoized(Tables.init).stream(of: id, txn) }
            if let parent, !parent.hasSuffix(id.text) {
                events += try snapshot.stream(parent, from: 1, limit: .max).filter { $0.payload.contains(needle) }
            }
            events += try touches(of: id, snapshot)
            if let event = try snapshot.event(id: id) { events.append(event) }
            guard !events.isEmpty else { throw UnknownEntity(entity: "entity or event", id: id) }
            return Self.inOrder(events)
        }
    }

    /// The events that changed `id` from a stream its history would not otherwise read: those recorded in
    /// `entity-touches`, and — kept in the indexes while they last, moved to `entity-touches` when they go — a shot's
    /// frames' creations (`shot-frames`) and the generations of a session's images (`session-images-by-time`).
    private func touches(of id: UUID, _ snapshot: borrowing Snapshot) throws -> [RecordedEvent] {
        let positions = try snapshot.query("media") { txn, databases -> [UInt64] in
            let t = databases.memoized(Tables.init)
            var positions: [UInt64] = []
            // Keys `id ‖ u64 position` in each: the position that follows the id.
            for database in [t.entityTouches, t.shotFrames, t.sessionImagesByTime] {
                try t.scan(database, prefix: Key(id), txn) { suffix, _ in
                    var reader = ByteReader(suffix)
                    guard suffix.count == 8, let position = try? reader.u64() else { throw DamagedRecord(what: "index") }
                    positions.append(position)
                    return true
                }
            }
            return positions
        }
        return try positions.map { position in
            guard let event = try snapshot.event(at: position) else {
                throw EventStoreError.corruptRecord(position: position, reason: "entity-touches points at a missing event")
            }
            return event
        }
    }

    /// Events in log order, each once.
    private static func inOrder(_ events: [RecordedEvent]) -> [RecordedEvent] {
        var seen = Set<UInt64>()
        return events.sorted { $0.position < $1.position }.filter { seen.insert($0.position).inserted }
    }
}

extension Array where Element == UInt8 {
    func contains(_ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, count >= needle.count else { return false }
        let first = needle[0]
        for start in 0...(count - needle.count) where self[start] == first {
            if self[start..<start + needle.count].elementsEqual(needle) { return true }
        }
        return false
    }
}
