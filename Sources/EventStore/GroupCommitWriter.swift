import Foundation
import LMDB

/// The one thread that writes: it gathers the batches of every concurrent caller into one LMDB write transaction and
/// answers each caller after that transaction's commit.
///
/// A write transaction must begin and commit on one OS thread (LMDB-NOTES: committed elsewhere it never releases the
/// writer lock), and Swift tasks hop threads at every `await`, so callers never touch the write transaction: they
/// enqueue a request and suspend until this thread resumes them.
final class GroupCommitWriter: @unchecked Sendable {
    typealias Completion = @Sendable (Result<AppendResult, any Error>) -> Void

    /// Upper bound of one group (``StoreOptions/maxEventsPerGroup``): more events than this wait for the next
    /// transaction.
    private let maxEventsPerGroup: Int

    private let environment: Environment
    private let append: GroupAppend
    /// Where each group is recorded first, when the store replicates a log of record.
    private let replica: Replica?
    private let onCommit: @Sendable (UInt64) -> Void
    private let observer: (@Sendable (CommitReport) -> Void)?
    private let condition = NSCondition()
    /// Queued batches and their callers' completions, from `queueHead` on (the slots before it were taken: each is
    /// moved out into a group, not copied, so a bulk load's million batches cost no reference counting here).
    private var queuedRequests: [AppendRequest?] = []
    private var queuedCompletions: [Completion?] = []
    private var queueHead = 0
    private var queuedCount: Int { queuedRequests.count - queueHead }
    private var stopping = false
    private var finished = false
    /// Callers seen active around the last commit (its group plus those that queued while it ran), and how long it
    /// took: the callers it answered are likely to come back.
    private var activeCallers = 0
    private var lastCommitSeconds = 0.0
    /// Answered groups, not freed yet: the next callers free them (see `commit`).
    private var answeredGroups: [Answered] = []

    /// A committed group with what its commit made: the requests handed to `GroupAppend` and their outcomes. They
    /// hold the last references to the group's events and results, so all of it is freed together, by a caller.
    private struct Answered: Sendable {
        let requests: [AppendRequest]
        let completions: [Completion]
        let outcomes: [Result<AppendResult, any Error>]
        /// The events of `requests`.
        let events: Int
    }

    /// The longest the writer waits for answered callers to come back before starting a smaller group.
    static let maxLinger = 0.0005

    init(
        environment: Environment, append: GroupAppend, maxEventsPerGroup: Int, observer: (@Sendable (CommitReport) -> Void)? = nil,
        replica: Replica? = nil, onCommit: @escaping @Sendable (UInt64) -> Void
    ) {
        self.observer = observer
        self.replica = replica
        self.environment = environment
        self.append = append
        self.maxEventsPerGroup = maxEventsPerGroup
        self.onCommit = onCommit
        let thread = Thread { [self] in run() }
        thread.name = "reel.writer"
        thread.qualityOfService = .userInitiated
        thread.start()
    }

    /// Queues a batch and suspends until it is committed (or rejected).
    func submit(_ request: AppendRequest) async throws -> AppendResult {
        try await withCheckedThrowingContinuation { continuation in
            enqueue(request) { continuation.resume(with: $0) }
        }
    }

    /// Queues a batch at once, behind every batch queued before it; `complete` runs on the writer thread after the
    /// batch's commit (or rejection).
    func enqueue(_ request: AppendRequest, _ complete: @escaping Completion) {
        condition.lock()
        if stopping {
            condition.unlock()
            complete(.failure(EventStoreError.closed))
            return
        }
        queuedRequests.append(request)
        queuedCompletions.append(complete)
        condition.signal()
        // An answered group, if one waits, is freed here, on the caller's thread (see `commit`).
        let answered = answeredGroups.popLast()
        condition.unlock()
        withExtendedLifetime(answered) {}
    }

    /// Lets queued batches finish, then ends the thread and waits for it.
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        while !finished { condition.wait() }
        condition.unlock()
    }

    private func run() {
        while waitForWork() {
            // A replica takes its log's lock first and then forms its group, from every batch that queued meanwhile:
            // the lock is the cluster's bottleneck, and each turn at it carries as much as it can.
            let locked = replica.map { append.beginGroup(environment, replica: $0) }
            let (requests, completions, events) = takeGroup()
            commit(requests, completions, events: events, locked: locked)
        }
        condition.lock()
        freeAnsweredGroups()
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    /// Frees every answered group still waiting, outside the lock; called and returns with `condition` locked.
    ///
    /// Large groups go to the reaper queue: freeing another thread's allocations is slow (about 2 µs per event of a
    /// bulk load), and this runs when the writer ran out of work — often at the end of a load, when its caller is about
    /// to close the store, which would otherwise wait for it. Small groups are freed at once, without a hand-off.
    private func freeAnsweredGroups() {
        let answered = answeredGroups
        answeredGroups = []
        condition.unlock()
        let events = answered.reduce(0) { $0 + $1.events }
        if events < Self.freedInline || !reap(answered) { withExtendedLifetime(answered) {} }
        condition.lock()
    }

    /// Below this many answered events, the writer frees them itself when it runs out of work.
    private static let freedInline = 4_096

    /// Waits until a batch is queued; false when the writer is stopping and none is.
    private func waitForWork() -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while queuedCount == 0 {
            if stopping { return false }
            // Out of work: answered groups no caller came back to free are freed here, so an idle store holds none.
            if !answeredGroups.isEmpty {
                freeAnsweredGroups()
                continue
            }
            condition.wait()
        }
        // Linger: the callers the last commit answered are usually preparing their next batch. Starting a transaction
        // for the first of them alone makes small groups, and with random keys each group dirties (and syncs) about
        // as many pages as a large one. So wait briefly — at most half the last commit's time — for them.
        if queuedCount < activeCallers {
            let deadline = Date(timeIntervalSinceNow: min(Self.maxLinger, lastCommitSeconds / 2))
            while queuedCount < activeCallers, !stopping, condition.wait(until: deadline) {}
        }
        return true
    }

    /// Takes the queued batches, up to ``StoreOptions/maxEventsPerGroup`` events (and at least one batch): the next
    /// group. Only the writer thread takes batches, so after ``waitForWork()`` there is one.
    private func takeGroup() -> (requests: [AppendRequest], completions: [Completion], events: Int) {
        condition.lock()
        defer { condition.unlock() }
        var events = 0
        var end = queueHead
        while end < queuedRequests.count {
            let count = queuedRequests[end]!.events.count
            if end > queueHead, events + count > maxEventsPerGroup { break }
            events += count
            end += 1
        }
        var requests: [AppendRequest] = []
        var completions: [Completion] = []
        requests.reserveCapacity(end - queueHead)
        completions.reserveCapacity(end - queueHead)
        for index in queueHead..<end {
            requests.append(queuedRequests[index].take()!)
            completions.append(queuedCompletions[index].take()!)
        }
        queueHead = end
        if queueHead == queuedRequests.count {
            queuedRequests.removeAll(keepingCapacity: true)
            queuedCompletions.removeAll(keepingCapacity: true)
            queueHead = 0
        } else if queueHead >= 4_096, queueHead * 2 >= queuedRequests.count {
            // The taken slots are empty: dropping them moves the rest down, with no reference counting.
            queuedRequests.removeFirst(queueHead)
            queuedCompletions.removeFirst(queueHead)
            queueHead = 0
        }
        return (requests, completions, events)
    }

    /// Commits a group; for a replica, with the outcome of taking its log's lock.
    private func commit(_ requests: [AppendRequest], _ completions: [Completion], events: Int, locked: Result<LockedLog, any Error>?) {
        let started = DispatchTime.now().uptimeNanoseconds
        let (head, outcomes): (UInt64?, [Result<AppendResult, any Error>]) =
            switch (replica, locked) {
            case let (replica?, .success(locked)?): append.commit(requests, events: events, environment, replica: replica, locked: locked)
            case let (_, .failure(error)?): (nil, requests.map { _ in .failure(EventStoreError.wrap(error)) })
            default: append.commit(requests, events: events, environment)
            }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        let waiting = condition.withLock {
            lastCommitSeconds = seconds
            activeCallers = requests.count + queuedCount
            return queuedCount
        }
        if let head { onCommit(head) }
        if let observer {
            observer(CommitReport(batches: requests.count, events: events, seconds: seconds, queued: waiting, committed: head != nil))
        }
        for index in completions.indices {
            completions[index](outcomes[index])
        }
        // The group's events (payloads, records, names, decoded attachments) and results are freed by the callers, each
        // `enqueue` freeing one answered group: freeing them here took about a tenth of the writer's time in a bulk
        // `reel append`, and the writer is the bottleneck; a caller frees what its own thread allocated, the cheapest
        // place for malloc. When callers do not come back soon enough, the reaper queue frees the older groups, and
        // when it lags too the writer frees its own: memory waiting to be freed stays bounded.
        let overflow: Answered? = condition.withLock {
            answeredGroups.insert(Answered(requests: requests, completions: completions, outcomes: outcomes, events: events), at: 0)
            return answeredGroups.count > Self.maxAnsweredGroups ? answeredGroups.removeLast() : nil
        }
        if let overflow, !reap([overflow]) { withExtendedLifetime(overflow) {} }
    }

    /// Hands answered groups to the reaper queue to be freed there; false (the caller frees them) when that would put
    /// more than ``maxReaperBacklog`` groups in its care.
    private func reap(_ groups: [Answered]) -> Bool {
        let count = groups.count
        let reaping = reaperBacklog.withLock { backlog -> Bool in
            guard backlog + count <= Self.maxReaperBacklog else { return false }
            backlog += count
            return true
        }
        guard reaping else { return false }
        let backlog = reaperBacklog
        Self.reaper.async {
            withExtendedLifetime(groups) {}
            backlog.withLock { $0 -= count }
        }
        return true
    }

    /// Answered groups that wait for callers to free them, at most.
    private static let maxAnsweredGroups = 2

    /// Where answered groups are freed, off the writer thread.
    private static let reaper = DispatchQueue(label: "reel.writer.reaper", qos: .utility)
    /// Groups handed to the reaper and not freed yet, and how many may be.
    private let reaperBacklog = Locked(0)
    private static let maxReaperBacklog = 4
}

/// One group commit, as ``StoreOptions/commitObserver`` reports it.
public struct CommitReport: Sendable {
    /// The batches (append calls) the group took, and their events.
    public let batches: Int
    public let events: Int
    /// From the transaction's start to its synced commit, in seconds (and every answer's outcome known). For a replica
    /// of a log of record, from when it holds the log's lock, which is when it forms its group.
    public let seconds: Double
    /// Batches still queued when the group finished: the writer's backlog.
    public let queued: Int
    /// Whether the group wrote anything (false when every batch was rejected or the commit failed).
    public let committed: Bool
}
