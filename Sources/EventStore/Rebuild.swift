import Foundation
import LMDB

extension Store {
    /// Rebuilds projections from the log, blue/green, while the store stays open for reads and appends.
    ///
    /// For each projection: its idle generation of databases is emptied and folded from the log in transactions of
    /// ``StoreOptions/rebuildChunk`` events, each short, so appends interleave with the fold rather than wait for it;
    /// meanwhile appends keep updating the generation in use. When the fold is within one chunk of the head, one
    /// write transaction folds the rest, makes the new generation current, writes its checkpoint and empties the old
    /// one. Readers choose the generation inside their own snapshot, so none sees a half-built projection: snapshots
    /// begun before the switch keep reading the old generation, later ones read the new.
    ///
    /// - Parameters:
    ///   - name: One projection, or every registered one when `nil`.
    ///   - progress: Called after each chunk with the projection's name, the position folded and the head.
    /// - Returns: The names rebuilt.
    @discardableResult
    public func rebuild(projection name: String? = nil, progress: ((String, UInt64, UInt64) -> Void)? = nil) throws -> [String] {
        let targets = layout.projections.filter { name == nil || $0.name == name }
        if let name, targets.isEmpty { throw EventStoreError.unknownProjection(name) }
        guard !options.readOnly else { throw EventStoreError.storage(LMDBError(code: 13, operation: "rebuild of a read-only store")) }
        let append = GroupAppend(layout: layout, clock: clock)
        do {
            for registered in targets {
                try Self.rebuild(registered, append: append, environment: environment, chunk: options.rebuildChunk, progress: progress)
            }
        } catch {
            throw EventStoreError.wrap(error)
        }
        return targets.map(\.name)
    }

    static func rebuild(
        _ registered: RegisteredProjection, append: GroupAppend, environment: Environment, chunk: Int,
        progress: ((String, UInt64, UInt64) -> Void)?
    ) throws {
        let layout = append.layout
        let chunk = UInt64(max(chunk, 1))
        let current = try environment.read { try layout.generation(of: registered, $0) }
        let idle = registered.generations[1 - current]
        try environment.write { txn in
            for database in idle.all { try txn.drop(database) }
        }
        var next: UInt64 = 1
        while true {
            let head = try environment.read { try layout.head($0).position }
            if head < next || head - next < chunk { break }
            let last = next + chunk - 1
            try environment.write { txn in try append.fold(registered, from: next, through: last, txn, databases: idle) }
            next = last + 1
            progress?(registered.name, last, head)
        }
        try environment.write { txn in
            guard try layout.generation(of: registered, txn) == current else { throw EventStoreError.rebuildConflict(registered.name) }
            let head = try layout.head(txn).position
            try append.fold(registered, from: next, through: head, txn, databases: idle)
            try txn.put(layout.meta, registered.generationKey, [UInt8(1 - current)])
            try append.writeCheckpoint(registered, head, txn)
            for database in registered.generations[current].all { try txn.drop(database) }
            progress?(registered.name, head, head)
        }
    }
}
