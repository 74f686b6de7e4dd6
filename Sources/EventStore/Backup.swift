import Foundation
import LMDB

extension Store {
    /// What ``backup(to:compact:)`` wrote.
    public struct Backup: Sendable, Equatable {
        /// The copy's head: every event up to it, and the projections as of it.
        public let position: UInt64
        /// The size of the copy's data file.
        public let bytes: Int
    }

    /// Writes a consistent copy of the store — log, indexes and projections as of one committed snapshot — into
    /// `directory` (created if missing; it must not hold a store), synced to disk before this returns. Appends, of
    /// this process or others, go on meanwhile; the copy is a store like any other (open it, verify it, query it).
    ///
    /// - Parameter compact: Leave out the free pages a store accumulates (a bulk load's large commits leave about a
    ///   quarter of the file free until later writes reuse it): a smaller copy, at more CPU.
    /// - Throws: ``EventStoreError/storage(_:)`` when the directory cannot be made or written, or already holds a
    ///   `data.mdb`.
    public func backup(to directory: String, compact: Bool = false) throws -> Backup {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw EventStoreError.storage(LMDBError(code: EACCES, operation: "creating \(directory)", detail: "\(error)"))
        }
        do {
            try environment.copy(to: directory, compact: compact)
        } catch let error as LMDBError {
            throw EventStoreError.storage(error)
        }
        // The copy's head, read from the copy itself: appends went on while it was made.
        var options = StoreOptions()
        options.readOnly = true
        let copy = try Store.open(at: directory, projections: layout.projections.map(\.projection), options: options)
        let position = try copy.head()
        try copy.close()
        let attributes = try? FileManager.default.attributesOfItem(atPath: (directory as NSString).appendingPathComponent("data.mdb"))
        return Backup(position: position, bytes: (attributes?[.size] as? Int) ?? 0)
    }
}
