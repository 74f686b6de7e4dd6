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
    /// Whether the writer holds the log's lock: it then takes in what the log holds itself, and the follower stands
    /// aside rather than read the same events and contend for LMDB's write lock.
    let locked = Locked(false)
}

/// The log of record's lock, held: the log's head, and the first events the replica lacked when it was taken.
struct LockedLog: Sendable {
    let head: LogHead
    let events: [ExportedEvent]
}

/// Group commits and catch-up of a store that replicates a ``LogOfRecord``.
extension GroupAppend {
    /// Events read from the log per catch-up transaction.
    static let replicaChunk = 2_000

    /// Takes the log of record's lock for the next group, after taking in what other writers committed (so that under
    /// the lock only what they commit meanwhile remains): the writer forms its group once the lock is held, from every
    /// batch that queued while it waited. Returns the log's head, or why the lock could not be had.
    func beginGroup(_ environment: Environment, replica: Replica) -> Result<LockedLog, any Error> {
        Result {
            // A replica that does not follow the log is repaired under the lock. A log that cannot be reached fails the
            // group now: trying again on the lock's connection would only make the caller wait as long once more. While
            // the follower reads the log, the writer does not wait for it: what is left is taken in under the lock.
            // The replica's head after it, for when it cannot be read without waiting once the lock is held: the
            // read under the lock then starts from here, and what the follower took in meanwhile is read again and
            // skipped.
            var caughtUp: UInt64?
            do {
                caughtUp = try catchUp(from: replica.log, environment, through: nil, path: replica.path, unlessBusy: true)
            } catch let error as LogOfRecordError where !(error.isDivergence) {
                throw error
            } catch {}
            do {
                let before = try caughtUp ?? environment.read { try layout.head($0).position }
                let (head, events) = try replica.log.beginGroup(limit: Self.replicaChunk) {
                    // From here the writer takes in what the log holds, and the follower stands aside. This runs on
                    // the log's event loop, which must never wait.
                    replica.locked.withLock { $0 = true }
                    return try environment.readIfReady { try layout.head($0).position } ?? before
                }
                return LockedLog(head: head, events: events)
            } catch {
                replica.locked.withLock { $0 = false }
                throw error
            }
        }
    }

    /// Appends a group through the log of record, whose lock ``beginGroup(_:replica:)`` took and whose head it
    /// returned: the replica brought up to the log, then the group run in one LMDB write transaction — with the last
    /// events taken from the log, so that one sync makes both durable — recorded in the log right before LMDB commits.
    /// The log is only ever called outside any closure LMDB may run again. Returns as ``commit(_:events:_:)`` does.
    ///
    /// A replica found to hold what the log does not (the log lost commits in a failover) is rebuilt from the log
    /// under its lock, the repair reported, and the group run on the rebuilt replica.
    func commit(
        _ requests: [AppendRequest], events: Int, _ environment: Environment, replica: Replica, locked: LockedLog
    ) -> (head: UInt64?, outcomes: [Result<AppendResult, any Error>]) {
        let (log, path, logHead) = (replica.log, replica.path, locked.head)
        defer { replica.locked.withLock { $0 = false } }
        func failing(_ error: any Error, head: UInt64? = nil) -> (head: UInt64?, outcomes: [Result<AppendResult, any Error>]) {
            (head, requests.indices.map { _ in .failure(EventStoreError.wrap(error)) })
        }
        var released = false
        defer { if !released { log.abandonGroup() } }
        // The replica's head once caught up, without the events left for the group's transaction.
        var caughtUp: UInt64
        var pending: Pending
        var repaired = false
        func repairReplica() throws {
            repaired = true
            let (head, message) = try repair(from: log, environment, path: path)
            if let message { replica.repaired(message) }
            (caughtUp, pending) = (head, Pending())
        }
        do {
            (caughtUp, pending) = try catchUp(from: log, environment, leavingLast: logHead, first: locked.events, path: path)
        } catch LogOfRecordError.diverged {
            (caughtUp, pending) = (0, Pending())
            do { try repairReplica() } catch { return failing(error) }
        } catch {
            return failing(error)
        }
        var excluded = Self.withdrawn(requests)
        // What the transaction made, once handed to the log: for when the log's commit has an unknown outcome, or
        // the log recorded the group and LMDB's commit then failed.
        var attempted: (outcomes: [Result<AppendResult, any Error>], events: [ExportedEvent])?
        var recorded = false
        while true {
            do {
                let (head, outcomes, _) = try environment.write(
                    { txn in
                        if !pending.events.isEmpty { try restoreFresh(pending.events, txn, path: path, log: log.name, after: pending.after) }
                        let local = try layout.head(txn)
                        guard local.position == logHead.position, local.hash == logHead.hash else {
                            throw LogOfRecordError.diverged(
                                path: path,
                                reason: "its head is \(LogHead(position: local.position, hash: local.hash)), the log's \(logHead)")
                        }
                        let (head, outcomes) = try run(requests, events: events, excluded: Set(excluded.keys), txn)
                        var accepted: [ExportedEvent] = []
                        if head.position > local.position {
                            var decoded: [RecordedEvent] = []
                            try layout.events(
                                from: local.position + 1, through: head.position, limit: Int(head.position - local.position),
                                into: &decoded, txn)
                            accepted = decoded.map(ExportedEvent.init)
                        }
                        return (head, outcomes, accepted)
                    },
                    beforeCommit: { result in
                        released = true
                        guard !result.2.isEmpty else { return log.abandonGroup() }
                        attempted = (result.1, result.2)
                        try log.commitGroup(result.2)
                        recorded = true
                    })
                return (head.position, merge(outcomes, excluded))
            } catch let restart as Restart {
                excluded[restart.index] = restart.error
            } catch LogOfRecordError.diverged where attempted == nil && !released && !repaired {
                // Nothing was sent to the log: the replica is rebuilt from it, under its lock, and the group run again.
                do { try repairReplica() } catch { return failing(error, head: caughtUp) }
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
                        return failing(
                            LogOfRecordError.unavailable(
                                log: log.name, reason: "its commit was not confirmed, and another batch holds its position"), head: caughtUp
                        )
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
        // The replica follows the log to its head after all (repaired meanwhile by another thread of this store, or
        // what failed was the log's next event): only catch up, from the log's hash at the head — which tells an
        // event of the log altered there from divergence.
        if local.position == 0 || logged?.hash == local.hash {
            return (try catchUp(from: log, environment, through: nil, path: path, after: LogHead(position: local.position, hash: local.hash)), nil)
        }
        // A log that lost commits is shorter than the replica, or holds other events that chain one to the next. A
        // log that disagrees with itself at the replica's head is damaged instead — a row missing, or altered there —
        // and the replica is kept rather than rebuilt from a log that cannot rebuild it.
        try refuseDamage(at: local, logged: logged, logHead: logHead, log: log, path: path)
        let message =
            logged == nil && local.position > logHead.position
            ? "the replica at \(path) held events up to position \(local.position), past the log's head (\(logHead)): the log lost commits the replica held (a failover, or a backup of the log restored); the replica was rebuilt from the log, and the events after position \(logHead.position) that only it held are gone"
            : "the replica at \(path) did not follow its log (its head \(LogHead(position: local.position, hash: local.hash)), the log's \(logHead)): the replica was rebuilt from the log"
        try environment.write { txn in try Store.erase(layout, txn) }
        return (try catchUp(from: log, environment, through: nil, path: path), message)
    }

    /// Throws ``LogOfRecordError/refused(log:reason:)`` when the log, where it disagrees with the replica's head
    /// `local`, is damaged rather than different: it has no event at the head while its head row says it holds one; its
    /// head row names the replica's very event while the event there is another; the event there does not give its
    /// own hash after the log's event before it; or the log's next event does not follow it.
    private func refuseDamage(at local: Head, logged: ExportedEvent?, logHead: LogHead, log: any LogOfRecord, path: String) throws {
        func refuse(_ what: String) throws -> Never {
            throw LogOfRecordError.refused(
                log: log.name, reason: "\(what): the log's record is damaged, and the replica at \(path) is kept as it is")
        }
        guard let logged else {
            if logHead.position >= local.position {
                try refuse("its head row says it holds position \(logHead.position), and it has no event at position \(local.position)")
            }
            return
        }
        let previous = local.position == 1 ? LogHead.empty.hash : try log.event(at: local.position - 1)?.hash
        if let previous, logged.expectedHash(after: previous) != logged.hash {
            throw LogOfRecordError.refused(log: log.name, reason: Self.altered(logged, path: path))
        }
        if logHead.position == local.position, logHead.hash == local.hash {
            try refuse("its head row names the replica's event at position \(local.position), and its event there has another hash")
        }
        if let next = try log.event(at: local.position + 1), next.expectedHash(after: logged.hash) != next.hash {
            try refuse("its event at position \(local.position + 1) does not follow its event at position \(local.position)")
        }
    }

    /// Writes what the log holds after the replica's head into the replica, in transactions of ``replicaChunk``
    /// events, up to `target` (or as far as the log goes). Events the replica already holds are skipped (another
    /// process of the same machine may have written them); one that does not follow its head by position, version
    /// and hash is refused as divergence — or as the log's damage, when the event does not give its own hash after the
    /// log's event before it (known from the chunk before, or `after`: the log's position and hash at the replica's
    /// head, when the caller knows them). Events read when `standAside` says so are dropped unwritten, and the
    /// catch-up ends there; `unlessBusy`, it ends where reading would wait for another thread reading the log
    /// (``LogOfRecord/eventsIfIdle(after:limit:)``). Returns the replica's head.
    @discardableResult
    func catchUp(
        from log: any LogOfRecord, _ environment: Environment, through target: LogHead?, path: String,
        after known: LogHead? = nil, unlessBusy: Bool = false, standAside: () -> Bool = { false }
    ) throws -> UInt64 {
        var local = try environment.read { try layout.head($0).position }
        var known = known
        while target.map({ local < $0.position }) ?? true {
            let read = unlessBusy ? try log.eventsIfIdle(after: local, limit: Self.replicaChunk) : try log.events(after: local, limit: Self.replicaChunk)
            guard let events = read, let last = events.last, !standAside() else { break }
            local = try environment.write { txn in try restoreFresh(events, txn, path: path, log: log.name, after: known) }
            known = LogHead(position: last.position, hash: last.hash)
        }
        return local
    }
}

extension GroupAppend {
    /// Writes events of the log into the replica in `txn`; one that does not follow the replica's head by position,
    /// version and hash is refused as divergence — unless the event does not give its own hash after the log's event
    /// before it (`before`, when known, for the first): then the log's record is what is damaged, not the replica,
    /// and it is refused as such (the replica is kept, not rebuilt from a log that cannot rebuild it).
    func restore(_ events: [ExportedEvent], _ txn: borrowing Transaction, path: String, log: String, before: [UInt8]? = nil) throws {
        var reached = 0
        let start = try layout.head(txn)
        do {
            try restore(events, txn, reached: &reached)
        } catch let error as LMDBError {
            throw error
        } catch let error as EventStoreError {
            throw error
        } catch let error as LogOfRecordError {
            throw error
        } catch let failure as RestoreFailure {
            let event = events[failure.index]
            // Reel's logs have no gaps: rows that skip a position are the log's damage.
            if failure.index > 0, event.position != events[failure.index - 1].position + 1 {
                throw LogOfRecordError.refused(log: log, reason: Self.missing(events[failure.index - 1].position + 1, next: event.position, path: path))
            }
            let previous = failure.index > 0 ? events[failure.index - 1].hash : (event.position == 1 ? LogHead.empty.hash : before)
            if let previous, event.expectedHash(after: previous) != event.hash {
                throw LogOfRecordError.refused(log: log, reason: Self.altered(event, path: path))
            }
            // The event chains from the replica's own head: the log and the replica agree on every event before it, and
            // the log holds an event that no Reel appends (a version skipped, time going back, an id used twice).
            let replicaPrevious = failure.index > 0 ? events[failure.index - 1].hash : start.hash
            if event.expectedHash(after: replicaPrevious) == event.hash {
                throw LogOfRecordError.refused(
                    log: log,
                    reason: "its event at position \(event.position) (stream \(event.stream)) breaks the log's rules: \(failure.reason); "
                        + "the log's record is damaged (or a newer Reel wrote it), and the replica at \(path) is kept as it is")
            }
            throw LogOfRecordError.diverged(
                path: path, reason: "the log's event at position \(event.position) does not follow the replica: \(failure.reason)")
        } catch {
            // A projection refused the log's event: written by a newer Reel, with a type or a rule this one does not
            // know, or altered in the log with its hash made again. It is the log's, not the replica's.
            let event = events[reached]
            throw LogOfRecordError.refused(
                log: log,
                reason: "its event at position \(event.position) (type \(event.type), stream \(event.stream)) cannot be taken in: \(error) "
                    + "(a newer Reel may have written it); the replica at \(path) is kept as it is")
        }
    }

    /// Why rows of the log that skip a position are refused as the log's damage.
    static func missing(_ position: UInt64, next: UInt64, path: String) -> String {
        "it has no event at position \(position) (its next row holds position \(next)): a row is missing from the log, and the replica at "
            + "\(path) is kept as it is"
    }

    /// Why an event of the log is refused as the log's damage.
    static func altered(_ event: ExportedEvent, path: String) -> String {
        "its event at position \(event.position) (stream \(event.stream)) does not give its own hash: the log's record was altered, "
            + "and the replica at \(path) is kept as it is"
    }

    /// Writes those of `events` past the replica's head into the replica, in `txn` (another process of this machine
    /// may have written the others meanwhile). `after` is the log's position and hash before `events`, when known.
    /// Returns the replica's head position.
    @discardableResult
    func restoreFresh(
        _ events: [ExportedEvent], _ txn: borrowing Transaction, path: String, log: String, after known: LogHead? = nil
    ) throws -> UInt64 {
        let head = try layout.head(txn)
        let skipped = events.prefix { $0.position <= head.position }
        let fresh = events.dropFirst(skipped.count)
        guard let first = fresh.first, let last = fresh.last else { return head.position }
        if first.position > head.position + 1 {
            throw LogOfRecordError.refused(log: log, reason: Self.missing(head.position + 1, next: first.position, path: path))
        }
        let before = skipped.last?.hash ?? (known.map { $0.position + 1 == first.position } == true ? known?.hash : nil)
        try restore(Array(fresh), txn, path: path, log: log, before: before)
        return last.position
    }

    /// Catches up as ``catchUp(from:_:through:path:)`` does, up to `target`, starting with `first` (the events the
    /// lock came with), except for the last events read — those that reach `target` — which are returned unwritten,
    /// for the group's own transaction, with the log's position and hash before them when known. Returns the
    /// replica's head without them.
    func catchUp(
        from log: any LogOfRecord, _ environment: Environment, leavingLast target: LogHead, first: [ExportedEvent], path: String
    ) throws -> (UInt64, Pending) {
        var local = try environment.read { try layout.head($0).position }
        var first = first.first.map { $0.position <= local + 1 } == true ? first : []
        var known: LogHead?
        while local < target.position {
            let events = first.isEmpty ? try log.events(after: local, limit: Self.replicaChunk) : first
            first = []
            guard let last = events.last else { break }
            if last.position >= target.position { return (local, Pending(events: events, after: known)) }
            local = try environment.write { txn in try restoreFresh(events, txn, path: path, log: log.name, after: known) }
            known = LogHead(position: last.position, hash: last.hash)
        }
        return (local, Pending())
    }

    /// Events of the log left for a group's transaction, and the log's position and hash before them when known.
    struct Pending {
        var events: [ExportedEvent] = []
        var after: LogHead?
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
            guard
                state.withLock({ state -> Bool in
                    state.queued = false
                    return !state.stopped
                })
            else { return }
            follow()
        }
    }

    /// One catch-up, on the follower's queue.
    private func follow() {
        // The writer holds the log's lock and takes in everything up to the log's head before its group, then
        // publishes its head itself.
        // Looked at again shortly, for a group that ends without taking everything in (it failed, say).
        func standAside() -> Bool {
            guard replica.locked.withLock({ $0 }) else { return false }
            queue.asyncAfter(deadline: .now() + .milliseconds(20)) { [weak self] in self?.wake() }
            return true
        }
        if standAside() { return }
        // A replica that does not follow the log (the log lost commits it holds) is rebuilt from it. Any other
        // failure (the log unreachable, the store closing) leaves the replica as it is: the next wake, or the next
        // group commit, which catches up under the log's lock, tries again.
        let (log, path) = (replica.log, replica.path)
        var head: UInt64?
        do {
            // Once the writer holds the log's lock, it takes in what was read here itself: writing it too would
            // only make the writer wait for LMDB's write lock.
            let caughtUp = try append.catchUp(from: log, environment, through: nil, path: path, standAside: standAside)
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

    /// Stops following: no catch-up starts after this returns.
    func stop() {
        state.withLock { $0.stopped = true }
        replica.log.stopWatching()
        queue.sync {}
    }
}
