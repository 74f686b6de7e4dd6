import Foundation
import LMDB

/// A store's log read ahead on a thread of its own, for a refold: slices of events decoded and prepared by the
/// projections (``Projection/prepare(_:)``, typically their payloads decoded) while the projections fold the slices
/// before them, each on its own thread.
///
/// Every slice goes to every consumer (one per projection), in order. At most `depth` slices wait for the slowest
/// consumer, so memory stays flat however long the log. Each slice is read in a short read transaction of its own, so
/// no snapshot is held for the whole refold (LMDB could not reuse the pages appends free meanwhile). Consumers hand
/// folded slices back (``recycle(_:)``) so they are freed on the feed's thread: freeing a slice of decoded events costs
/// about a tenth of folding it.
final class EventFeed: @unchecked Sendable {
    /// Consecutive events and what each projection prepared for them; shared by the consumers, never changed.
    final class Slice: @unchecked Sendable {
        let events: [RecordedEvent]
        /// Per projection: its attachment for each event, or `nil` when it prepared nothing for any of them.
        let prepared: [[(any Sendable)?]?]
        /// Consumers that handed it back (under the feed's lock).
        fileprivate var returned = 0

        init(events: [RecordedEvent], prepared: [[(any Sendable)?]?]) {
            self.events = events
            self.prepared = prepared
        }

        /// Folds event `index` into projection `p`, with that projection's attachment.
        func apply(_ index: Int, _ p: Int, _ projection: any Projection, _ txn: borrowing Transaction, _ databases: ProjectionDatabases) throws {
            if let prepared = prepared[p] {
                var event = events[index]
                event.attachment = prepared[index]
                try projection.apply(event, txn, databases)
            } else {
                // Lent from the buffer: reading `events[index]` as an argument copies the event (a retain per field).
                try events.withUnsafeBufferPointer { try projection.apply($0[index], txn, databases) }
            }
        }
    }

    private let condition = NSCondition()
    /// Slices read, oldest first; consumer `c` has taken `taken[c]` of them.
    private var slices: [Slice] = []
    private var taken: [Int]
    private var finished = false
    private var failure: (any Error)?
    private var stopped = false
    /// Slices every consumer handed back, freed by the feed's thread.
    private var spent: [Slice] = []
    private let exited = DispatchSemaphore(value: 0)
    private let depth: Int
    /// Events read that began their stream (version 1): the streams that exist once the feed has read them all.
    private(set) var streamsBegun = 0

    /// Starts reading events `first…last` of the log of `store` for `projections.count` consumers.
    ///
    /// - Parameters:
    ///   - boundary: Slices never cross a multiple of this many events counted from `first`, so a consumer folding
    ///     transactions of that many takes whole slices.
    ///   - projections: Each event is handed to their ``Projection/prepare(_:)`` on the feed's thread.
    init(
        store: Environment, layout: Layout, from first: UInt64, through last: UInt64, boundary: UInt64, projections: [any Projection],
        sliceSize: Int = 1_024, depth: Int = 8
    ) {
        self.depth = depth
        taken = Array(repeating: 0, count: projections.count)
        let thread = Thread { [self] in
            defer { exited.signal() }
            do {
                var position = first
                while position <= last {
                    let end = min(last, first + ((position - first) / boundary + 1) * boundary - 1)
                    var events: [RecordedEvent] = []
                    events.reserveCapacity(sliceSize)
                    try store.read { try layout.events(from: position, through: end, limit: sliceSize, into: &events, $0) }
                    guard let read = events.last else {
                        throw EventStoreError.corruptRecord(position: position, reason: "missing from the log")
                    }
                    let prepared = projections.map { projection -> [(any Sendable)?]? in
                        let values = events.map { projection.prepare($0) }
                        return values.contains { $0 != nil } ? values : nil
                    }
                    let begun = events.reduce(0) { $0 + ($1.version == 1 ? 1 : 0) }
                    guard put(Slice(events: events, prepared: prepared), streamsBegun: begun) else { return }
                    position = read.position + 1
                }
                finish(nil)
            } catch {
                finish(error)
            }
        }
        thread.name = "reel-event-feed"
        thread.start()
    }

    /// Waits for room; `false` when the feed was stopped.
    private func put(_ slice: Slice, streamsBegun begun: Int) -> Bool {
        var freeing: [Slice] = []
        condition.lock()
        defer {
            condition.unlock()
            freeing.removeAll()
        }
        // Without consumers (a refold of no projection, run for the feed's counts) every slice counts as taken.
        while !stopped, slices.count - (taken.min() ?? slices.count) >= depth { condition.wait() }
        swap(&freeing, &spent)
        guard !stopped else { return false }
        guard !taken.isEmpty else {
            streamsBegun += begun
            freeing.append(slice)
            return true
        }
        // Forget the slices every consumer has taken (the consumers hold them until they hand them back).
        if let oldest = taken.min(), oldest > depth {
            // Dropped after the lock is released: this may be the last reference to some of them.
            freeing.append(contentsOf: slices[..<oldest])
            slices.removeFirst(oldest)
            for c in taken.indices { taken[c] -= oldest }
        }
        slices.append(slice)
        streamsBegun += begun
        condition.broadcast()
        return true
    }

    private func finish(_ error: (any Error)?) {
        condition.lock()
        defer { condition.unlock() }
        finished = true
        failure = error
        condition.broadcast()
    }

    /// Consumer `c`'s next slice, `nil` after the last; throws what stopped the reading (after the slices read before
    /// it), or ``Stopped`` once the feed was stopped.
    func next(_ c: Int) throws -> Slice? {
        condition.lock()
        defer { condition.unlock() }
        while taken[c] == slices.count, !finished, !stopped { condition.wait() }
        if stopped { throw Stopped() }
        if taken[c] < slices.count {
            let slice = slices[taken[c]]
            taken[c] += 1
            condition.broadcast()
            return slice
        }
        if let failure { throw failure }
        return nil
    }

    /// Whether the feed was stopped (a fold failed, or the refold is over).
    var isStopped: Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopped
    }

    /// Waits until the reading ends, for a feed without consumers; throws what stopped it.
    func drain() throws {
        condition.lock()
        defer { condition.unlock() }
        while !finished, !stopped { condition.wait() }
        if let failure { throw failure }
    }

    /// Another consumer failed and stopped the feed.
    struct Stopped: Error {}

    /// Hands folded slices back; `slices` is emptied. The last consumer to hand a slice back leaves it to the feed's
    /// thread to free.
    func recycle(_ slices: inout [Slice]) {
        guard !slices.isEmpty else { return }
        var handed: [Slice] = []
        swap(&handed, &slices)
        condition.lock()
        defer { condition.unlock() }
        for slice in handed {
            slice.returned += 1
            if slice.returned == taken.count { spent.append(slice) }
        }
        handed.removeAll()  // not the last references: those are in `spent` or with another consumer
    }

    /// Stops the reading (and every consumer's next ``next(_:)``) and waits for the thread to end. Any thread may call
    /// it, any number of times.
    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
        // The thread signals once when it ends; each caller passes the signal on to the next.
        exited.wait()
        exited.signal()
    }
}
