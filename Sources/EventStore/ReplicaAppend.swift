import Foundation
import LMDB

extension ExportedEvent {
    /// The event as recorded, every field and its hash: what an export line or a log of record holds.
    public init(_ event: RecordedEvent) {
        self.init(
            position: event.position, stream: event.stream, version: event.version, id: event.id, type: event.type,
            recordedAtMilliseconds: event.recordedAtMilliseconds, payload: event.payload, metadata: event.metadata, hash: event.hash)
    }
}

/// A store's place in a cluster: the log it replicates, its path (for messages), and whom to tell when a running
/// replica had to be rebuilt from the log.
struct Replica: Sendable {
    let log: any LogOfRecord
    let path: String
    let repaired: @Sendable (String) -> Void
}

/// Group commits and catch-up of a store that replicates a ``LogOfRecord``.
extension GroupAppend {
    /// Events read from the log per catch-up transaction.
    static let replicaChunk = 2_000

    /// Appends a group through the log of record: its lock, then the replica brought up to the log, then the group
    /// run in one LMDB write transaction, recorded in the log right before LMDB commits. The log is only ever called
    /// outside any closure LMDB may run again. Returns as ``commit(_:events:_:)`` does.
    ///
    /// A replica found to hold what the log does not (the log lost commits in a failover) is rebuilt from the log
    /// under its lock, the repair reported, and the group run on the rebuilt replica.
    func commit(
        _ requests: [AppendRequest], events: Int, _ environment: Environment, replica: Replica
    ) -> (head: UInt64?, outcomes: [Result<AppendResult, any Error>]) {
        let (log, path) = (replica.log, replica.path)
        // What other writers committed is taken in before the log's lock, so that under it only what they commit
        // meanwhile remains: the lock is held for this group's own work. A failure here is met again under the lock.
        _ = try? catchUp(from: log, environment, through: nil, path: path)
        func failing(_ error: any Error, head: UInt64? = nil) -> (head: UInt64?, outcomes: [Result<AppendResult, any Error>]) {
            (head, requests.indices.map { _ in .failure(EventStoreError.wrap(error)) })
        }
        let logHead: LogHead
        do {
            logHead = try log.beginGroup()
        } catch {
            return failing(error)
        }
        var released = false
        defer { if !released { log.abandonGroup() } }
        var caughtUp: UInt64
        do {
            caughtUp = try catchUp(from: log, environment, through: logHead, path: path)
            let local = try environment.read { try layout.head($0) }
            if local.position != logHead.position || local.hash != logHead.hash {
                throw LogOfRecordError.diverged(path: path, reason: "its head is \(LogHead(position: local.position, hash: local.hash)), the log's \(logHead)")
            }
        } catch LogOfRecordError.diverged {
            do {
                let (head, message) = try repair(from: log, environment, path: path)
                if let message { replica.repaired(message) }
                caughtUp = head
            } catch {
                return failing(error)
            }
        } catch {
            return failing(error)
        }
        var excluded: [Int: any Error] = [:]
        // What the transaction made, once handed to the log: for when the log's commit has an unknown outcome, or
        // the log recorded the group and LMDB's commit then failed.
        var attempted: (outcomes: [Result<AppendResult, any Error>], events: [ExportedEvent])?
        var recorded = false
        while true {
            do {
                let (head, outcomes, _) = try environment.write({ txn in
                    let local = try layout.head(txn)
                    guard local.position == logHead.position, local.hash == logHead.hash else {
                        throw LogOfRecordError.diverged(
                            path: path, reason: "its head is \(LogHead(position: local.position, hash: local.hash)), the log's \(logHead)")
                    }
                    let (head, outcomes) = try run(requests, events: events, excluded: Set(excluded.keys), txn)
                    var accepted: [ExportedEvent] = []
                    if head.position > local.position {
                        var decoded: [RecordedEvent] = []
                        try layout.events(
                            from: local.position + 1, through: head.position, limit: Int(head.position - local.position), into: &decoded, txn)
                        accepted = decoded.map(ExportedEvent.init)
                    }
                    return (head, outcomes, accepted)
                }, beforeCommit: { result in
                    released = true
                    guard !result.2.isEmpty else { return log.abandonGroup() }
                    attempted = (result.1, result.2)
                    try log.commitGroup(result.2)
                    recorded = true
                })
                return (head.position, merge(outcomes, excluded))
            } catch let restart as Restart {
                excluded[restart.index] = restart.error
            } catch {
                guard let attempted else { return failing(error, head: caughtUp) }
                if !recorded {
                    // The log lost its connection while committing: the first event's id at its position tells
                    // whether the group is there.
                    guard case LogOfRecordError.outcomeUnknown = error else { return failing(error, head: caughtUp) }
                    let first = attempted.events[0]
                    // Not there yet: the commit may still be under way (waiting for a synchronous standby, say) or
                    // may have failed. The outcome stays unknown, and a retry with the same ids is the remedy.
                    guard let found = try? log.event(at: first.position) else { return failing(error, head: caughtUp) }
                    guard found.id == first.id else {
                        return failing(LogOfRecordError.unavailable(log: log.name, reason: "its commit was not confirmed, and another batch holds its position"), head: caughtUp)
                    }
                }
                // The log holds the group, and LMDB's commit failed (a full map, since grown, or a full disk) or was
                // never made: the callers are answered with what the group made, and the replica takes the group from
                // the log — now, or at its next group or catch-up.
                let head = (try? catchUp(from: log, environment, through: nil, path: path)) ?? caughtUp
                return (head, merge(attempted.outcomes, excluded))
            }
        }
    }

    private func merge(_ outcomes: [Result<AppendResult, any Error>], _ excluded: [Int: any Error]) -> [Result<AppendResult, any Error>] {
        outcomes.enumerated().map { index, outcome in excluded[index].map { .failure($0) } ?? outcome }
    }

    /// Erases a replica that holds what its log does not and fills it again from the log. Returns the replica's head
    /// and what was done, in words for an operator; no words when the replica follows the log after all (repaired
    /// meanwhile by another thread of the store) and was only brought up to it.
    func repair(from log: any LogOfRecord, _ environment: Environment, path: String) throws -> (head: UInt64, message: String?) {
        let local = try environment.read { try layout.head($0) }
        let logHead = try log.head()
        let logged = local.position > 0 ? try log.event(at: local.position) : nil
        // Found by another thread of this store and repaired meanwhile: only catch up.
        if local.position == 0 || logged?.hash == local.hash {
            return (try catchUp(from: log, environment, through: nil, path: path), nil)
        }
        let message =
            logged == nil && local.position > logHead.position
            ? "the replica at \(path) held events up to position \(local.position), past the log's head (\(logHead)): the log lost commits the replica held (a failover, or a backup of the log restored); the replica was rebuilt from the log, and the events after position \(logHead.position) that only it held are gone"
            : "the replica at \(path) did not follow its log (its head \(LogHead(position: local.position, hash: local.hash)), the log's \(logHead)): the replica was rebuilt from the log"
        try environment.write { txn in try Store.erase(layout, txn) }
        return (try catchUp(from: log, environment, through: nil, path: path), message)
    }

    /// Writes what the log holds after the replica's head into the replica, in transactions of ``replicaChunk``
    /// events, up to `target` (or as far as the log goes). Events the replica already holds are skipped (another
    /// process of the same machine may have written them); one that does not follow its head by position, version
    /// and hash is refused as divergence. Returns the replica's head.
    @discardableResult
    func catchUp(from log: any LogOfRecord, _ environment: Environment, through target: LogHead?, path: String) throws -> UInt64 {
        var local = try environment.read { try layout.head($0).position }
        while target.map({ local < $0.position }) ?? true {
            let events = try log.events(after: local, limit: Self.replicaChunk)
            guard !events.isEmpty else { break }
            local = try environment.write { txn in
                let head = try layout.head(txn)
                let fresh = events.drop { $0.position <= head.position }
                guard !fresh.isEmpty else { return head.position }
                do {
                    try restore(Array(fresh), txn)
                } catch let failure as RestoreFailure {
                    throw LogOfRecordError.diverged(path: path, reason: "the log's event at position \(fresh[fresh.startIndex + failure.index].position) does not follow the replica: \(failure.reason)")
                }
                return fresh.last!.position
            }
        }
        return local
    }
}

/// Brings a replica up to its log of record whenever the log says another writer may have committed: one catch-up
/// at a time, on a queue of its own; a wake during a catch-up makes one more.
final class ReplicaFollower: Sendable {
    private let replica: Replica
    private let append: GroupAppend
    private let environment: Environment
    private let notifier: CommitNotifier
    private let queue = DispatchQueue(label: "reel.replica")
    /// Whether a catch-up is queued and not started yet, and whether the follower stopped.
    private let state = Locked((queued: false, stopped: false))

    init(replica: Replica, append: GroupAppend, environment: Environment, notifier: CommitNotifier) {
        (self.replica, self.append, self.environment, self.notifier) = (replica, append, environment, notifier)
    }

    func start() {
        replica.log.watch { [weak self] in self?.wake() }
    }

    /// Queues a catch-up unless one is queued already.
    func wake() {
        let queueing = state.withLock { state -> Bool in
            guard !state.queued, !state.stopped else { return false }
            state.queued = true
            return true
        }
        guard queueing else { return }
        queue.async { [self] in
            guard state.withLock({ state -> Bool in
                state.queued = false
                return !state.stopped
            }) else { return }
            // A replica that does not follow the log (the log lost commits it holds) is rebuilt from it. Any other
            // failure (the log unreachable, the store closing) leaves the replica as it is: the next wake, or the next
            // group commit, which catches up under the log's lock, tries again.
            let (log, path) = (replica.log, replica.path)
            var head: UInt64?
            do {
                let caughtUp = try append.catchUp(from: log, environment, through: nil, path: path)
                // Nothing new, and the replica past the log's head: the log lost commits the replica holds.
                let logHead = try log.head()
                if caughtUp > logHead.position {
                    throw LogOfRecordError.diverged(path: path, reason: "its head is past the log's")
                }
                head = caughtUp
            } catch LogOfRecordError.diverged {
                if let (repaired, message) = try? append.repair(from: log, environment, path: path) {
                    if let message { replica.repaired(message) }
                    head = repaired
                }
            } catch {}
            if let head {
                notifier.publish(head)
                log.replicated(through: head)
            }
        }
    }

    /// Stops following: no catch-up starts after this returns.
    func stop() {
        state.withLock { $0.stopped = true }
        replica.log.stopWatching()
        queue.sync {}
    }
}
