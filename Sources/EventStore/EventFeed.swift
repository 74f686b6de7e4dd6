import Foundation
import LMDB

/// A store's log read ahead on a thread of its own, for a refold: slices of events decoded and prepared by the
/// projections (``Projection/prepare(_:)``, typically their payloads decoded) while the caller's thread folds the slices
/// before them.
///
/// A refold is a loop of decode, then fold; on two cores the two halves overlap. At most `depth` slices wait at any
/// time, so memory stays flat however long the log. Each slice is read in a short read transaction of its own, so no
/// snapshot is held for the whole refold (LMDB could not reuse the pages appends free meanwhile).
final class EventFeed: @unchecked Sendable {
    /// Consecutive events and what each projection prepared for them.
    struct Slice {
        var events: [RecordedEvent]
        /// `prepared[i * projections + p]`: projection `p`'s attachment for `events[i]`.
        var prepared: [(any Sendable)?]

        /// Folds event `index` into projection `p` (of `count`) with that projection's attachment.
        mutating func apply(
            _ index: Int, _ p: Int, of count: Int, _ projection: any Projection, _ txn: borrowing Transaction,
            _ databases: ProjectionDatabases
        ) throws {
            events[index].attachment = prepared[index * count + p]
            // Lent from the buffer: reading `events[index]` as an argument copies the event (a retain per field).
            try events.withUnsafeBufferPointer { try projection.apply($0[index], txn, databases) }
        }
    }

    private let condition = NSCondition()
    /// Slices read and not yet taken, in order.
    private var ready: [Slice] = []
    private var readyStart = 0
    private var finished = false
    private var failure: (any Error)?
    private var stopped = false
    /// Slices folded and handed back, freed by the feed's thread.
    private var spent: [Slice] = []
    private let exited = DispatchSemaphore(value: 0)
    private let depth: Int

    /// Starts reading events `first…last` of the log of `store`.
    ///
    /// - Parameters:
    ///   - boundary: Slices never cross a multiple of this many events counted from `first`, so a caller folding
    ///     transactions of that many takes whole slices.
    ///   - projections: Each event is handed to their ``Projection/prepare(_:)`` on the feed's thread.
    init(
        store: Environment, layout: Layout, from first: UInt64, through last: UInt64, boundary: UInt64, projections: [any Projection],
        sliceSize: Int = 1_024, depth: Int = 8
    ) {
        self.depth = depth
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
                    var prepared: [(any Sendable)?] = []
                    prepared.reserveCapacity(events.count * projections.count)
                    for event in events {
                        for projection in projections { prepared.append(projection.prepare(event)) }
                    }
                    guard put(Slice(events: events, prepared: prepared)) else { return }
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

    /// Waits for room; `false` when the reader stopped the feed.
    private func put(_ slice: Slice) -> Bool {
        var freeing: [Slice] = []
        condition.lock()
        defer {
            condition.unlock()
            freeing.removeAll()
        }
        while !stopped, ready.count - readyStart >= depth { condition.wait() }
        swap(&freeing, &spent)
        guard !stopped else { return false }
        if readyStart > depth {
            ready.removeFirst(readyStart)
            readyStart = 0
        }
        ready.append(slice)
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

    /// The next slice, `nil` after the last; throws what stopped the reading (after the slices read before it).
    func next() throws -> Slice? {
        condition.lock()
        defer { condition.unlock() }
        while readyStart == ready.count, !finished { condition.wait() }
        if readyStart < ready.count {
            let slice = ready[readyStart]
            ready[readyStart] = Slice(events: [], prepared: [])
            readyStart += 1
            condition.broadcast()
            return slice
        }
        if let failure { throw failure }
        return nil
    }

    /// Hands folded slices back, to be freed on the feed's thread rather than the folding one (freeing a slice of
    /// decoded events costs about a tenth of its fold).
    func recycle(_ slices: inout [Slice]) {
        guard !slices.isEmpty else { return }
        condition.lock()
        spent.append(contentsOf: slices)
        condition.broadcast()
        condition.unlock()
        slices.removeAll(keepingCapacity: true)
    }

    /// Stops the reading and waits for the thread to end. Call it once, when done with the feed.
    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
        exited.wait()
    }
}
