import EventStore
import Foundation

extension PostgresLog {
    /// What ``verify(against:limit:)`` found wrong with the log in PostgreSQL, one line each.
    public struct Problem: Sendable, Hashable, CustomStringConvertible {
        public let position: UInt64?
        public let message: String
        public var description: String { "log of record: " + (position.map { "position \($0): " } ?? "") + message }
    }

    /// Checks the log in PostgreSQL as `reel audit verify --postgres` does: every position from 1 to the head row's
    /// without a gap, each row's hash that of its own fields and the hash before it (a row altered in PostgreSQL
    /// shows here, where a replica that already holds it would never look again), the head row naming the last event,
    /// and each event the replica holds the same as the log's. Reads the whole log, 5,000 rows at a time; stops after
    /// `limit` problems. Rows committed after the head row was read are not looked at.
    public func verify(against replica: Store, limit: Int = 100) throws -> [Problem] {
        var problems: [Problem] = []
        let head = try self.head()
        let replicaHead = try replica.head()
        var previous = LogHead.empty.hash
        var position: UInt64 = 0
        while position < head.position, problems.count < limit {
            let events = try self.events(after: position, limit: 5_000).filter { $0.position <= head.position }
            guard !events.isEmpty else { break }
            let held = position < replicaHead ? try replica.events(from: position + 1, limit: events.count) : []
            for (index, event) in events.enumerated() {
                guard event.position == position + 1 else {
                    problems.append(Problem(position: position + 1, message: "missing: the next row holds position \(event.position)"))
                    return problems
                }
                if event.expectedHash(after: previous) != event.hash {
                    problems.append(
                        Problem(
                            position: event.position,
                            message: "the row's fields do not give its hash: it was altered in PostgreSQL (stream \(event.stream), id \(event.id.uuidString.lowercased()))"))
                }
                if index < held.count, held[index].position == event.position, held[index].hash != event.hash {
                    problems.append(Problem(position: event.position, message: "the replica holds another event there than the log"))
                }
                previous = event.hash
                position = event.position
                if problems.count >= limit { return problems }
            }
        }
        if position < head.position {
            problems.append(Problem(position: position + 1, message: "missing: the head row says position \(head.position)"))
        } else if head.position > 0, previous != head.hash {
            problems.append(Problem(position: head.position, message: "the head row's hash is not the last event's"))
        }
        // Rows past the head row: appended since it was read (the head has moved past them since), or left behind a
        // head row set back.
        if let beyond = try events(after: head.position, limit: 1).first, try self.head().position < beyond.position {
            problems.append(Problem(position: beyond.position, message: "a row past the head row (\(head.position))"))
        }
        return problems
    }
}
