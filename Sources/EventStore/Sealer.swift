import Foundation
import Synchronization

/// Computes a group commit's hash chain on a thread of its own while the writer folds the group (``GroupAppend``).
///
/// The chain is sequential — each hash covers the one before it — but nothing else in the group needs it before the
/// log records are written. So the writer hands each accepted batch's events over with what their records still lack
/// (position, version, the stream's previous position, the group's time) and goes on folding the next batch; when the
/// group finishes, it waits for the last hash and appends the sealed records in position order. Used for groups of at
/// least ``GroupAppend/sealAsideMinimum`` events when no projection reads ``RecordedEvent/hash``.
///
/// One thread at a time uses a record: the writer hands it to the sealer, and touches it again only after
/// ``finish()`` or ``stop()`` has returned.
final class Sealer: @unchecked Sendable {
    /// An accepted event whose record the sealer completes.
    struct Event {
        let request: AppendRequest
        let index: Int
        let previousInStream: UInt64
        let version: UInt64

        var record: PendingRecord { request.records[index] }
    }

    private let queue = DispatchQueue(label: "reel-sealer")
    private let recordedAt: Int64
    /// The hash of the last event sealed: used on `queue` only.
    private var previousHash: [UInt8]
    private let stopped = Atomic<Bool>(false)

    /// A sealer whose first event follows the one with `previousHash`; every event of the group is recorded at
    /// `recordedAt`.
    init(previousHash: [UInt8], recordedAt: Int64) {
        self.previousHash = previousHash
        self.recordedAt = recordedAt
    }

    /// Seals `events`, the next ones in position order, the first at `position`, on the sealer's thread.
    func seal(_ events: [Event], from position: UInt64) {
        queue.async { [self] in
            var position = position
            for event in events {
                if stopped.load(ordering: .relaxed) { return }
                previousHash = event.record.seal(
                    previousHash: previousHash, previousInStream: event.previousInStream, position: position, version: event.version,
                    recordedAt: recordedAt)
                position += 1
            }
        }
    }

    /// Waits until every event handed over is sealed; returns the last one's hash.
    func finish() -> [UInt8] {
        queue.sync { previousHash }
    }

    /// Drops what is left to seal and waits until the sealer's thread has let go of the records.
    func stop() {
        stopped.store(true, ordering: .relaxed)
        queue.sync {}
    }
}
