import Foundation
import LMDB

extension Store {
    /// Rebuilds projections from the log, blue/green, while the store stays open for reads and appends.
    ///
    /// For each projection: the log up to the head is folded into a disposable scratch environment in the system's
    /// temporary directory (``ScratchFold``) — no lock of the store is held, so appends go on at full speed — and its
    /// databases are copied, in key order, into the projection's idle generation, a slice of entries per write
    /// transaction. What was appended meanwhile is then folded into the idle generation in transactions of
    /// ``StoreOptions/rebuildChunk`` events, and when that is within one chunk of the head, one write transaction
    /// folds the rest, makes the new generation current, writes its checkpoint and empties the old one. Meanwhile
    /// appends keep updating the generation in use. Readers choose the generation inside their own snapshot, so none
    /// sees a half-built projection: snapshots begun before the switch keep reading the old generation, later ones
    /// read the new. The scratch environment needs about the projection's size in free space while it lasts.
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
        // 1. The bulk of the fold, into a scratch environment: the store's writer lock is not taken at all.
        let scratch = try ScratchFold(registered, chunk: chunk)
        defer { scratch.remove() }
        let folded = try scratch.fold(from: environment, layout: layout, progress: progress)
        // 2. Its databases copied into the idle generation in key order (appends into empty databases), a slice per
        //    write transaction, so appends interleave.
        try environment.write { txn in
            for database in idle.all { try txn.drop(database) }
        }
        try scratch.copy(into: idle, of: environment)
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

/// A projection folded from scratch in a disposable environment of its own (``Environment/Options/disposable``:
/// written through the map, never synced), from the events of a store's snapshot, then copied into that store.
///
/// Folding there holds no lock of the store, writes no page twice to disk and keeps dirty pages off the heap; the
/// copy afterwards is a sequential append of sorted keys, far cheaper than the fold's random puts.
struct ScratchFold {
    let registered: RegisteredProjection
    let path: String
    let environment: Environment
    /// The projection's databases in the scratch environment.
    let databases: ProjectionDatabases
    /// Events folded per scratch transaction (cheap to commit: never synced, written through the map).
    let foldChunk: UInt64
    /// Entries copied per store transaction: sorted appends fill few pages, so a transaction of many stays short.
    let copyChunk: Int

    /// - Parameter chunk: The store's ``StoreOptions/rebuildChunk``.
    init(_ projection: RegisteredProjection, chunk: UInt64) throws {
        foldChunk = chunk * 10
        copyChunk = Int(chunk) * 25
        path = FileManager.default.temporaryDirectory.appendingPathComponent("reel-fold-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        var options = Environment.Options()
        options.disposable = true
        environment = try Environment(path: path, options: options)
        let layout = try environment.openDatabases { txn in
            try Layout(txn: txn, projections: [projection.projection], create: true)
        }
        registered = layout.projections[0]
        databases = registered.generations[0]
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }

    /// Folds the store's events up to its head at the start; returns that position.
    func fold(from store: Environment, layout: Layout, progress: ((String, UInt64, UInt64) -> Void)?) throws -> UInt64 {
        let target = try store.read { try layout.head($0).position }
        var next: UInt64 = 1
        var events: [RecordedEvent] = []
        while next <= target {
            let last = min(target, next + foldChunk - 1)
            try environment.write { txn in
                var position = next
                while position <= last {
                    // A slice of the log in a short read of the store, then folded.
                    try store.read { try layout.events(from: position, through: last, limit: 1_024, into: &events, $0) }
                    guard let folded = events.last else { throw EventStoreError.corruptRecord(position: position, reason: "missing from the log") }
                    for event in events { try registered.projection.apply(event, txn, databases) }
                    position = folded.position + 1
                }
            }
            next = last + 1
            progress?(registered.name, last, target)
        }
        return target
    }

    /// Copies every database into `target` (empty databases of `store`), in key order.
    func copy(into target: ProjectionDatabases, of store: Environment) throws {
        for spec in registered.projection.databases {
            let source = databases[spec.name]
            let destination = target[spec.name]
            let flags: PutFlags = spec.flags.contains(.duplicateSort) ? [] : .append
            /// The first key not copied yet (`nil`: from the start).
            var resume: [UInt8]? = nil
            var done = false
            while !done {
                // The write body may run again (a map grown mid-transaction), so it starts from `start` every time
                // and only its returned result moves `resume`.
                let start = resume
                (resume, done) = try store.write { txn -> ([UInt8]?, Bool) in
                    try environment.read { reading in
                        try reading.withCursor(source) { cursor in
                            var copied = 0
                            var next: [UInt8]? = nil
                            let startBytes = start ?? []
                            try startBytes.withUnsafeBytes { from in
                                try cursor.forEach(from: start == nil ? nil : from) { key, value in
                                    if copied == copyChunk {
                                        next = Array(key)
                                        return false
                                    }
                                    try txn.put(destination, key, value, flags: flags)
                                    copied += 1
                                    return true
                                }
                            }
                            return (next, next == nil)
                        }
                    }
                }
            }
        }
    }
}
