import Foundation
import LMDB

extension Store {
    /// Rebuilds projections from the log, blue/green, while the store stays open for reads and appends.
    ///
    /// The log up to the head is folded, once for all the projections rebuilt, into a disposable scratch environment in
    /// the system's temporary directory (`ScratchFold`) — no lock of the store is held, so appends go on at full
    /// speed. Then, for each projection, its databases are copied, in key order, into the projection's idle
    /// generation, a slice of entries per write transaction. What was appended meanwhile is then folded into the idle generation in transactions of
    /// ``StoreOptions/rebuildChunk`` events, and when that is within one chunk of the head, one write transaction
    /// folds the rest, makes the new generation current, writes its checkpoint and empties the old one. Meanwhile
    /// appends keep updating the generation in use. Readers choose the generation inside their own snapshot, so none
    /// sees a half-built projection: snapshots begun before the switch keep reading the old generation, later ones
    /// read the new. The scratch environments need about one and a half times each projection's size in free space
    /// while they last. Each projection switches on its own, as soon as its own copy is caught up: when rebuilding
    /// several fails, those already switched stay switched (each is whole and current), the others keep their
    /// generation in use.
    ///
    /// - Parameters:
    ///   - name: One projection, or every registered one when `nil`.
    ///   - progress: Called after each chunk folded with the projection's name, the position folded and the head.
    /// - Returns: The names rebuilt.
    @discardableResult
    public func rebuild(projection name: String? = nil, progress: ((String, UInt64, UInt64) -> Void)? = nil) throws -> [String] {
        let targets = layout.projections.filter { name == nil || $0.name == name }
        if let name, targets.isEmpty { throw EventStoreError.unknownProjection(name) }
        guard !options.readOnly else { throw EventStoreError.storage(LMDBError(code: 13, operation: "rebuild of a read-only store")) }
        let append = GroupAppend(layout: layout, clock: clock)
        do {
            try Self.rebuild(targets, append: append, environment: environment, chunk: options.rebuildChunk, progress: progress)
        } catch let refused as ScratchFold.Refused {
            throw EventStoreError.wrap(refused.error)
        } catch {
            throw EventStoreError.wrap(error)
        }
        return targets.map(\.name)
    }

    static func rebuild(
        _ targets: [RegisteredProjection], append: GroupAppend, environment: Environment, chunk: Int,
        progress: ((String, UInt64, UInt64) -> Void)?
    ) throws {
        guard !targets.isEmpty else { return }
        let layout = append.layout
        let chunk = UInt64(max(chunk, 1))
        // 1. The bulk of the fold, every projection from one reading of the log, each into a scratch environment of
        //    its own on a thread of its own: the store's writer lock is not taken at all.
        let scratch = try ScratchFold(targets, of: environment, layout: layout, chunk: Int(chunk))
        defer { scratch.remove() }
        let folded = try environment.read { try layout.head($0).position }
        // 2–3. Each projection but the first is copied, caught up and switched on its fold's thread as soon as that
        //      fold is done, while the others still fold; the first, once every fold is done.
        let switched = Locked<[Int: UInt64]>([:])
        try scratch.fold(
            from: environment, layout: layout, through: folded,
            progress: { position in
                for registered in targets { progress?(registered.name, position, folded) }
            },
            then: { index in
                let head = try switchTo(
                    targets[index], scratch: scratch, index, folded: folded, append: append, environment: environment, chunk: chunk, progress: nil)
                switched.withLock { $0[index] = head }
            })
        for (index, head) in switched.withLock({ $0 }).sorted(by: { $0.key < $1.key }) { progress?(targets[index].name, head, head) }
        try switchTo(targets[0], scratch: scratch, 0, folded: folded, append: append, environment: environment, chunk: chunk, progress: progress)
    }

    /// Copies a projection folded to `folded` in part `index` of `scratch` into its idle generation, catches up and
    /// switches to it; returns the position it switched at.
    @discardableResult
    private static func switchTo(
        _ registered: RegisteredProjection, scratch: ScratchFold, _ index: Int, folded: UInt64,
        append: GroupAppend, environment: Environment, chunk: UInt64, progress: ((String, UInt64, UInt64) -> Void)?
    ) throws -> UInt64 {
        let layout = append.layout
        let current = try environment.read { try layout.generation(of: registered, $0) }
        let idle = registered.generations[1 - current]
        // 2. Its databases copied into the idle generation in key order (appends into empty databases), a slice per
        //    write transaction, so appends interleave.
        try environment.write { txn in
            for database in idle.all { try txn.drop(database) }
        }
        try scratch.copy(index, into: idle, of: environment)
        // 3. What was appended meanwhile, folded in the store, a chunk per transaction; the last chunk and the switch
        //    in one.
        var next = folded + 1
        while true {
            let head = try environment.read { try layout.head($0).position }
            if head < next || head - next < chunk { break }
            let last = next + chunk - 1
            try environment.write { txn in try append.fold(registered, from: next, through: last, txn, databases: idle) }
            next = last + 1
            progress?(registered.name, last, head)
        }
        return try environment.write { txn in
            guard try layout.generation(of: registered, txn) == current else { throw EventStoreError.rebuildConflict(registered.name) }
            let head = try layout.head(txn).position
            try append.fold(registered, from: next, through: head, txn, databases: idle)
            try txn.put(layout.meta, registered.generationKey, [UInt8(1 - current)])
            try append.writeCheckpoint(registered, head, txn)
            for database in registered.generations[current].all { try txn.drop(database) }
            progress?(registered.name, head, head)
            return head
        }
    }
}
