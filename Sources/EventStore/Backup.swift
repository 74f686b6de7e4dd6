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
    /// A copy that fails is removed; a `data.mdb` already in `directory` is never touched. If the copy is written but
    /// its head cannot be read back, the copy stays and the error is thrown.
    ///
    /// - Parameters:
    ///   - directory: Where the copy goes: a directory that holds no `data.mdb`, made (with its parents) if missing.
    ///   - compact: Leave out the free pages a store accumulates (a bulk load's large commits leave about a quarter of
    ///     the file free until later writes reuse it): a smaller copy, at more CPU.
    /// - Throws: ``EventStoreError/storage(_:)`` when the directory cannot be made or written, or already holds a
    ///   `data.mdb`.
    public func backup(to directory: String, compact: Bool = false) throws -> Backup {
        do {
            let created = try Self.makeDirectories(directory)
            // A directory made here is named by its parent's entry: that is synced too.
            try environment.copy(to: directory, compact: compact, syncParent: created)
        } catch {
            throw EventStoreError.wrap(error)
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

    /// Makes `path` and any missing parent (`mkdir -p`); whether it made `path` itself. Throws an ``LMDBError`` with
    /// the `errno` of the `mkdir` that failed.
    static func makeDirectories(_ path: String) throws -> Bool {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw LMDBError(code: ENOTDIR, operation: "mkdir(\(path))", detail: "\(path) is a file") }
            return false
        }
        // Not `NSString.deletingLastPathComponent`, which traps on a one-character path in this Foundation.
        var parent = path
        while parent.count > 1, parent.hasSuffix("/") { parent.removeLast() }
        parent = parent.lastIndex(of: "/").map { String(parent[..<$0]) } ?? ""
        if !parent.isEmpty, parent != path { _ = try makeDirectories(parent) }
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else { throw LMDBError(code: errno, operation: "mkdir(\(path))") }
        return true
    }
}
