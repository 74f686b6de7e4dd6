import EventStore
import LMDB
import Foundation

extension MediaStore {
    /// The store as it stood after `position`: a scratch store in a temporary directory that holds exactly the first
    /// `position` events (same positions, times and hashes), folded by the same projections
    /// (`Store.replay(through:)`). Its queries answer byte for byte what a store that only ever received
    /// those events answers. The live store is only read.
    ///
    /// Call ``discard()`` on the result when done (it deletes the scratch directory).
    public func replay(to position: UInt64) throws -> MediaStore {
        MediaStore(store: try store.replay(through: position))
    }

    /// The projections as they stood after `position`, for queries (``MediaReplay``): folded like
    /// ``replay(to:)``'s, without copying the log. The live store is only read.
    ///
    /// Call ``MediaReplay/discard()`` on the result when done.
    public func projections(at position: UInt64) throws -> MediaReplay {
        MediaReplay(try store.replayProjections(through: position))
    }

    /// The last position whose `recorded_at` is at or before `time` (milliseconds since the epoch), 0 when none is:
    /// a binary search, since `recorded_at` never decreases along the log.
    public func position(at time: Int64) throws -> UInt64 {
        try store.read { snapshot in
            var (low, high) = (UInt64(0), try snapshot.head())
            while low < high {
                let middle = low + (high - low + 1) / 2
                guard let event = try snapshot.event(at: middle) else { break }
                if event.recordedAtMilliseconds <= time { low = middle } else { high = middle - 1 }
            }
            return low
        }
    }

    /// Closes a scratch store made by ``replay(to:)`` and deletes its directory.
    public func discard() throws {
        try store.close()
        try FileManager.default.removeItem(atPath: store.path)
    }
}

/// The media projection and the event-type index as they stood after a position (`ProjectionReplay`):
/// every query of ``MediaQueries`` answers what it answered then.
public final class MediaReplay: MediaQueries {
    public let projections: ProjectionReplay

    init(_ projections: ProjectionReplay) { self.projections = projections }

    public func withQueries<R>(_ body: (SnapshotQueries, borrowing Transaction) throws -> R) throws -> R {
        try projections.query("media") { txn, databases in try body(SnapshotQueries(t: databases.memoized(Tables.init)), txn) }
    }

    /// How many events of each type there were, in type order.
    public func eventTypes() throws -> [(type: String, count: Int)] { try EventTypeIndex.counts(in: projections) }

    /// Closes and deletes the scratch environments.
    public func discard() { projections.discard() }
}
