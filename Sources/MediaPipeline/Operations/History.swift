import EventStore
import Foundation

extension MediaStore {
    /// Every event that touched a frame, in log order: the frame's own events (creation, reviews) and every event of
    /// the jobs created for it (their status changes and images).
    public func history(frame: UUID) throws -> [RecordedEvent] {
        try store.read { snapshot in
            var streams = ["frame-\(frame.text)"]
            let jobs = try snapshot.query("media") { txn, databases in
                let t = databases.memoized(Tables.init)
                return try t.ids(t.frameJobs, prefix: Key(frame), txn)
            }
            streams += jobs.map { "job-\($0.text)" }
            let events = try streams.flatMap { try snapshot.stream($0, from: 1, limit: .max) }
            guard !events.isEmpty else { throw UnknownEntity(entity: "frame", id: frame) }
            return events.sorted { $0.position < $1.position }
        }
    }

    /// Every event of a job's stream: creation, status changes, its images and their deletion.
    public func history(job: UUID) throws -> [RecordedEvent] {
        let events = try store.stream("job-\(job.text)", from: 1, limit: .max)
        guard !events.isEmpty else { throw UnknownEntity(entity: "job", id: job) }
        return events
    }

    /// Every event that touched any entity with this id, or the event with this id: the entity's own stream if it
    /// has one, and the events of its parent's stream that name it (an image in its job's stream, a scenelet or shot
    /// in its story's stream).
    public func history(id: UUID) throws -> [RecordedEvent] {
        try store.read { snapshot in
            var events: [RecordedEvent] = []
            for entity in ["user", "session", "reference-image", "job", "project", "story", "frame"] {
                events += try snapshot.stream("\(entity)-\(id.text)", from: 1, limit: .max)
            }
            // An image, scenelet or shot lives in its parent's stream (kept after removal): its events there name it.
            let needle = Array(id.text.utf8)
            let parent: String? = try snapshot.query("media") { txn, databases in try databases.memoized(Tables.init).stream(of: id, txn) }
            if let parent, !parent.hasSuffix(id.text) {
                events += try snapshot.stream(parent, from: 1, limit: .max).filter { $0.payload.contains(needle) }
            }
            if let event = try snapshot.event(id: id), !events.contains(event) { events.append(event) }
            guard !events.isEmpty else { throw UnknownEntity(entity: "entity or event", id: id) }
            return events.sorted { $0.position < $1.position }
        }
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
