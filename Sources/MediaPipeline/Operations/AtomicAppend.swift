import EventStore
import Foundation

/// Input lines appended as one transaction, as `reel append --all-or-nothing` and `POST /v1/events?all_or_nothing=true`
/// do: every line lands, or none does.
extension MediaStore {
    /// What became of all-or-nothing lines.
    public enum AtomicOutcome: Sendable {
        /// Every line landed or was already stored: each line's result (a duplicate's is its stored position), and the
        /// lines that repeat an earlier line of the same input (duplicates too, with no result of their own).
        case appended(results: [(line: Int, result: AppendResult)], repeated: [Int])
        /// Lines failed: nothing was written. Each failed line with its error as thrown: every line that could not join
        /// the batch (an event of another's content under a repeated id, a conflicting expected version), or the one
        /// line the transaction failed at (`atCommit`).
        case refused(lines: [(line: Int, reason: any Error)], atCommit: Bool)
    }

    /// Appends `lines` (each input with its line number) in one transaction.
    ///
    /// A line whose event is already stored with the same content is a duplicate, left out of the transaction, as it
    /// would be line by line, so that an input can be run again after a partial load. Another writer may store one of
    /// the others between that lookup and the append (the append then fails as a whole, writing nothing): the batch is
    /// then made again, a few times.
    ///
    /// - Throws: A failure of the store itself (an `EventStoreError` whose `isStoreFailure`
    ///   holds: storage, closed, damaged, its log of record); a line's own failure is an
    ///   ``AtomicOutcome/refused(lines:atCommit:)``.
    public func appendAtomically(_ lines: [(line: Int, input: Input)]) async throws -> AtomicOutcome {
        for attempt in 1...3 {
            var batch = Batch()
            var resolver = StreamResolver()
            var added: [Int] = []
            var duplicates: [(line: Int, stored: AppendResult?)] = []
            var failed: [(line: Int, reason: any Error)] = []
            for (number, input) in lines {
                do {
                    switch try batch.add(input, in: self, resolver: &resolver, skippingStored: true) {
                    case .added: added.append(number)
                    case .repeats: duplicates.append((number, nil))
                    case let .stored(position, version):
                        duplicates.append((number, AppendResult(position: position, version: version, isDuplicate: true)))
                    }
                } catch {
                    failed.append((number, error))
                }
            }
            guard failed.isEmpty else { return .refused(lines: failed, atCommit: false) }
            var results: [(line: Int, result: AppendResult)] = []
            if !batch.events.isEmpty {
                let result: AppendResult
                do {
                    result = try await store.append(batch.events, expected: batch.expected)
                } catch EventStoreError.partialDuplicate where attempt < 3 {
                    continue
                } catch let error as EventStoreError where error.isStoreFailure {
                    throw error
                } catch {
                    let (index, reason) = batch.attribute(error) ?? (0, error)
                    return .refused(lines: [(added[index], reason)], atCommit: true)
                }
                for (index, number) in added.enumerated() {
                    results.append(
                        (number, AppendResult(positions: [result.positions[index]], versions: [result.versions[index]], isDuplicate: result.isDuplicate)))
                }
            }
            for (number, stored) in duplicates where stored != nil { results.append((number, stored!)) }
            results.sort { $0.line < $1.line }
            return .appended(results: results, repeated: duplicates.filter { $0.stored == nil }.map(\.line))
        }
        preconditionFailure("unreachable: the last attempt returns or throws")
    }
}

extension EventStoreError {
    /// The store itself failed (rather than the input or a rule): damaged, full, closed, not readable.
    public var isStoreFailure: Bool {
        switch self {
        case let .storage(error): error.kind != .badValueSize
        case .damaged, .notAStore, .newerFormat, .corruptRecord, .closed, .logOfRecord: true
        default: false
        }
    }
}
