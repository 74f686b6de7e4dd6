import EventStore
import Foundation

extension PostgresLog {
    /// Checks the log in PostgreSQL, as `reel audit verify --postgres` and a node's `GET /v1/audit/verify` do: every
    /// position from 1 to the head row's without a gap, each row's hash that of its own fields and the hash before it
    /// (a row altered in PostgreSQL
    /// shows here, where a replica that already holds it would never look again), the head row naming the last event,
    /// and each event the replica holds the same as the log's. Reads the whole log, 5,000 rows at a time; stops after
    /// `limit` problems. Rows committed after the head row was read are not looked at.
    public func audit(against replica: Store, limit: Int = 100) throws -> [IntegrityProblem] {
        var problems: [IntegrityProblem] = []
        func problem(_ position: UInt64?, _ message: String) -> IntegrityProblem {
            IntegrityProblem(location: .logOfRecord(position), message: message)
        }
        let head = try self.head()
        let replicaHead = try replica.head()
        var previous = LogHead.empty.hash
        var position: UInt64 = 0
        while position < head.position, problems.count < limit {
            let events = try storedEvents(after: position, limit: 5_000).filter { $0.position <= head.position }
            guard !events.isEmpty else { break }
            let held = position < replicaHead ? try replica.events(from: position + 1, limit: events.count) : []
            for (index, event) in events.enumerated() {
                guard event.position == position + 1 else {
                    problems.append(problem(position + 1, "missing: the next row holds position \(event.position)"))
                    return problems
                }
                if event.expectedHash(after: previous) != event.hash {
                    problems.append(
                        problem(
                            event.position,
                            "the row's fields do not give its hash: it was altered in PostgreSQL (stream \(event.stream), id \(event.id.uuidString.lowercased()))"))
                }
                if index < held.count, held[index].position == event.position, held[index].hash != event.hash {
                    problems.append(problem(event.position, "the replica holds another event there than the log"))
                }
                previous = event.hash
                position = event.position
                if problems.count >= limit { return problems }
            }
        }
        if position < head.position {
            problems.append(problem(position + 1, "missing: the head row says position \(head.position)"))
        } else if head.position > 0, previous != head.hash {
            problems.append(problem(head.position, "the head row's hash is not the last event's"))
        }
        // Rows past the head row: appended since it was read (the head has moved past them since), or left behind a
        // head row set back.
        if let beyond = try storedEvents(after: head.position, limit: 1).first, try self.head().position < beyond.position {
            problems.append(problem(beyond.position, "a row past the head row (\(head.position))"))
        }
        return problems
    }
}
