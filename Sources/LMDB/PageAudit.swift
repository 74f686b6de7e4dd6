import CLMDB
import Glibc

/// What ``PageAudit`` found: every damaged page it met (the first one first), and what the file holds.
public struct PageAuditReport: Sendable {
    /// One damaged page, or a count that does not add up.
    public struct Problem: Sendable, Hashable, CustomStringConvertible {
        /// The page, when the problem is on one.
        public let page: UInt64?
        /// The tree the page belongs to: `free list`, `main`, a named database, or `meta`.
        public let tree: String
        public let message: String

        public var description: String {
            if let page { return "page \(page) (\(tree)): \(message)" }
            return "\(tree): \(message)"
        }
    }

    /// What a page of the file is, as the walk found it.
    public enum PageKind: UInt8, Sendable, CaseIterable {
        /// Not reached: a leaked page, or one past the last page in use.
        case unused
        case meta, branch, leaf
        /// A leaf of fixed-size values (`MDB_DUPFIXED`).
        case leaf2
        /// A page of a value too large for a leaf (the first page and those that follow it).
        case overflow
        /// On the free list.
        case free
    }

    /// A named database, as its record in the main tree gives it.
    public struct Tree: Sendable, Hashable {
        public let name: String
        /// `MDB_DUPSORT` and friends, as lmdb.h defines them (``DatabaseFlags``).
        public let flags: UInt32
        public let entries: UInt64
    }

    public internal(set) var problems: [Problem] = []
    public internal(set) var pageSize = 0
    /// The last page number in use (`mm_last_pg` of the meta page walked).
    public internal(set) var lastPage: UInt64 = 0
    /// The transaction whose meta page was walked.
    public internal(set) var transaction: UInt64 = 0
    /// The size of `data.mdb`.
    public internal(set) var fileSize = 0
    /// The named databases of the main tree, in key order.
    public internal(set) var trees: [Tree] = []
    /// Pages of each kind.
    public internal(set) var counts: [PageKind: Int] = [:]
    /// The kind of every page from 0 to ``lastPage`` (when asked for).
    public internal(set) var kinds: [PageKind]?

    /// How many of the two meta pages carry LMDB's magic and this LMDB's data version: 0 for a file that is not an LMDB
    /// data file of this version at all (rather than a damaged one).
    public internal(set) var recognisedMetaPages = 0

    /// Whether nothing was found wrong.
    public var isSound: Bool { problems.isEmpty }
}

/// A structural check of an LMDB data file, in the manner of bbolt's `Tx.Check`: it walks every page of every B-tree
/// (the free list, the main tree, each named database, each sub-database of duplicate values) from one meta page,
/// reading the file with `pread` — never through the map, so a damaged page can fail a check but never fault — and
/// checks:
///
/// - both meta pages: magic, version, page size, map size, last page and the transaction ids' pairing;
/// - every page: its number, its type for where it is in the tree, its bounds, its nodes inside it and packed, key
///   order within the page and within the range its parent gives it, every leaf at the tree's depth;
/// - every value: its flags, its size, an overflow value's pages, a sub-page of duplicates, a sub-database;
/// - every tree's page and entry counts against its record, which is what `mdb_stat` reports;
/// - LMDB's own audit invariant: the two meta pages, the pages of every tree and the pages on the free list are each
///   counted once and add up to the last page number plus one; a page that is on the free list may lie past the end of
///   the file (LMDB never writes a page one transaction took and freed again), a page in use may not.
///
/// LMDB keeps no checksums: a flipped bit in a key or a value that keeps every rule above is not seen here. The store's
/// own checks (the hash chain, the indexes against the log, the projections against a refold) see those.
public enum PageAudit {
    /// Checks `data.mdb` in `directory` as it is on disk, from its newer meta page, without LMDB: for a store LMDB
    /// refuses to open (a damaged meta page), or one no process writes to. A store being written must be checked with
    /// ``Environment/auditPages(recordingKinds:)``, which pins its snapshot.
    public static func audit(directory: String, recordingKinds: Bool = false) throws -> PageAuditReport {
        let path = directory + "/data.mdb"
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw LMDBError(code: errno, operation: "open(\(path))") }
        defer { close(descriptor) }
        var walk = try Walk(descriptor: descriptor, recordingKinds: recordingKinds)
        walk.run(transaction: nil)
        return walk.report
    }
}

extension Environment {
    /// Checks every page of the environment as of one read transaction (see ``PageAudit``). Writers go on meanwhile:
    /// the read transaction keeps the pages it walks from being reused.
    public func auditPages(recordingKinds: Bool = false) throws -> PageAuditReport {
        try withPinnedWalk(recordingKinds: recordingKinds) { walk, transaction in
            walk.run(transaction: transaction)
            return walk.report
        }
    }

    /// The pages on the free list as of one read transaction, and the file's facts: what ``Environment/init(path:options:)``
    /// needs to tell a short file LMDB made (free pages never written) from a truncated one.
    func freePages() throws -> (free: Set<UInt64>, report: PageAuditReport) {
        try withPinnedWalk(recordingKinds: false) { walk, transaction in
            let free = walk.runFreeListOnly(transaction: transaction)
            return (free, walk.report)
        }
    }

    /// Runs `body` inside a read transaction with a walk set up on the meta page of that transaction. Two commits
    /// after the transaction began, its meta page is overwritten (there are two): the walk then starts again on a new
    /// transaction.
    private func withPinnedWalk<R>(recordingKinds: Bool, _ body: (inout Walk, UInt64) throws -> R) throws -> R {
        // The meta page this transaction did not pin may be mid-write by another process's commit (LMDB writes a meta
        // page in place): a problem of the meta pages is looked at again, a few times, before it is reported.
        var metaRetries = 3
        for _ in 0..<1_000 {
            let result: R? = try read { txn in
                let transaction = UInt64(mdb_txn_id(txn.handle))
                var descriptor: Int32 = -1
                try check(mdb_env_get_fd(handle, &descriptor), "mdb_env_get_fd")
                var walk = try Walk(descriptor: descriptor, recordingKinds: recordingKinds)
                guard walk.pins(transaction) else { return nil }
                let result = try body(&walk, transaction)
                if metaRetries > 0, walk.report.problems.contains(where: { $0.tree == "meta" }) { return nil }
                return result
            }
            if let result { return result }
            if metaRetries > 0 {
                metaRetries -= 1
                usleep(10_000)
            }
        }
        throw LMDBError(code: EAGAIN, operation: "auditing \(path)", detail: "the store was written too fast to pin one snapshot's meta page")
    }
}

/// One walk of a data file.
struct Walk {
    let file: PageFile
    var report = PageAuditReport()
    /// The two meta pages as read (nil: unreadable).
    let metas: [MetaPage?]
    /// The meta page walked.
    var meta: MetaPage?
    /// Every page claimed so far (by a tree or the free list), to find one claimed twice: one bit per page.
    var claimed = PageSet(count: 0)
    var kinds: [PageAuditReport.PageKind]?
    let recordingKinds: Bool

    static let maxProblems = 50
    static let maxDepth = 32
    /// The most pages past the end of the file a sound store can count (2^26 pages: 256 GiB of 4 KiB pages).
    static let maxUnwrittenPages: UInt64 = 1 << 26

    init(descriptor: Int32, recordingKinds: Bool) throws {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw LMDBError(code: errno, operation: "fstat(data.mdb)") }
        let size = Int(info.st_size)
        // The page size is read from the meta pages themselves; LMDB reads the first with a buffer of a page at most.
        var first = [UInt8](repeating: 0, count: min(max(size, 0), 65_536))
        let read = first.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
        first = Array(first.prefix(max(read, 0)))
        let probe = MetaPage(Bytes(first))
        var pageSize = probe.map(\.pageSize) ?? 4096
        if !(512...65_536).contains(pageSize) || pageSize & (pageSize - 1) != 0 { pageSize = 4096 }
        let file = PageFile(descriptor: descriptor, pageSize: pageSize, fileSize: size)
        self.file = file
        metas = [0, 1].map { number in file.pages(UInt64(number)).flatMap { MetaPage($0) } }
        self.recordingKinds = recordingKinds
        report.pageSize = pageSize
        report.fileSize = size
    }

    /// Whether one of the meta pages is that of `transaction` (it is then the one walked).
    mutating func pins(_ transaction: UInt64) -> Bool {
        guard let index = metas.firstIndex(where: { $0?.transaction == transaction }) else { return false }
        meta = metas[index]
        return true
    }

    mutating func problem(_ page: UInt64?, _ tree: String, _ message: String) {
        guard report.problems.count < Self.maxProblems else { return }
        report.problems.append(.init(page: page, tree: tree, message: message))
    }

    // MARK: Meta pages

    /// Checks both meta pages and picks the one to walk (LMDB's choice: the greater transaction id, the first on a
    /// tie), unless `transaction` pinned one already. Returns false when nothing can be walked.
    mutating func checkMetas(transaction: UInt64?) -> Bool {
        let size = report.fileSize
        let pageSize = file.pageSize
        guard size >= 2 * pageSize else {
            problem(nil, "meta", "data.mdb is \(size) bytes, shorter than its two meta pages")
            return false
        }
        var valid: [MetaPage] = []
        report.recognisedMetaPages = metas.filter { $0?.magic == PageFormat.magic && $0?.version == PageFormat.dataVersion }.count
        for (number, read) in metas.enumerated() {
            guard let meta = read else {
                problem(UInt64(number), "meta", "cannot be read")
                continue
            }
            var fine = true
            func bad(_ message: String) {
                problem(UInt64(number), "meta", message)
                fine = false
            }
            if meta.magic != PageFormat.magic { bad("magic is 0x\(String(meta.magic, radix: 16)), not LMDB's 0xbeefc0de") }
            if meta.version != PageFormat.dataVersion { bad("data version \(meta.version), not \(PageFormat.dataVersion)") }
            if meta.pageNumber != UInt64(number) { bad("says it is page \(meta.pageNumber)") }
            if meta.flags & ~PageFormat.dirty != PageFormat.meta { bad("page flags 0x\(String(meta.flags, radix: 16)), not a meta page's") }
            if meta.pageSize != pageSize { bad("page size \(meta.pageSize), the other meta page's is \(pageSize)") }
            if meta.address != 0 { bad("a fixed map address 0x\(String(meta.address, radix: 16)), which this store never uses") }
            if meta.free.flags & ~PageFormat.environmentFlags != PageFormat.integerKey {
                bad("free list flags 0x\(String(meta.free.flags, radix: 16))")
            }
            if meta.main.flags & ~PageFormat.treeFlags != 0 || meta.main.pad != 0 { bad("main tree flags 0x\(String(meta.main.flags, radix: 16))") }
            // Pages past the end of the file are pages LMDB took and freed again without writing them: a few, never
            // hundreds of gigabytes' worth.
            if meta.lastPage < PageFormat.metaPages - 1 || meta.lastPage > UInt64(size / pageSize) + Self.maxUnwrittenPages {
                bad("last page \(meta.lastPage) is out of range (data.mdb holds \(size / pageSize) pages)")
            } else if meta.mapSize < (meta.lastPage + 1) * UInt64(pageSize) || meta.mapSize > 1 << 47 {
                bad("map size \(meta.mapSize) does not fit its last page \(meta.lastPage)")
            }
            if meta.transaction & 1 != UInt64(number), meta.transaction != 0 {
                bad("transaction \(meta.transaction) is on the wrong meta page (LMDB writes transaction n on page n mod 2)")
            }
            if fine { valid.append(meta) }
        }
        if let a = metas[0], let b = metas[1], a.magic == PageFormat.magic, b.magic == PageFormat.magic {
            let (low, high) = (min(a.transaction, b.transaction), max(a.transaction, b.transaction))
            // Transaction n is written on page n mod 2 over n - 2: the two are consecutive, but in a new file (both 0).
            if high - low != 1, high != 0 {
                problem(
                    nil, "meta",
                    "the meta pages hold transactions \(a.transaction) and \(b.transaction), which are not consecutive: one was altered, and LMDB may read an older state")
            } else if let issue = MetaPage.order(a, b) {
                problem(nil, "meta", issue)
            }
        }
        if meta == nil {
            // LMDB's own choice of meta page (mdb_env_pick_meta).
            guard let a = metas[0], let b = metas[1] else { return false }
            meta = a.transaction < b.transaction ? b : a
        }
        guard let meta, valid.contains(where: { $0.pageNumber == meta.pageNumber }) else { return false }
        _ = transaction
        report.lastPage = meta.lastPage
        report.transaction = meta.transaction
        let pages = Int(meta.lastPage) + 1
        claimed = PageSet(count: pages)
        claimed.insert(0)
        if pages > 1 { claimed.insert(1) }
        if recordingKinds {
            kinds = [PageAuditReport.PageKind](repeating: .unused, count: pages)
            kinds![0] = .meta
            if pages > 1 { kinds![1] = .meta }
        }
        report.counts[.meta] = 2
        if size % pageSize != 0 {
            problem(nil, "meta", "data.mdb is \(size) bytes, not a whole number of \(pageSize)-byte pages: the file was truncated")
        }
        return true
    }

    /// Claims `count` pages from `number` for `tree`: each in range, not claimed before. Returns false (and says why)
    /// when one is not.
    mutating func claim(_ number: UInt64, count: Int = 1, tree: String, as kind: PageAuditReport.PageKind, from parent: UInt64?) -> Bool {
        let last = report.lastPage
        let origin = parent.map { " (named by page \($0))" } ?? ""
        guard number >= PageFormat.metaPages, number <= last, UInt64(count) <= last - number + 1 else {
            problem(parent, tree, "names page \(number)\(count > 1 ? " and the \(count - 1) after it" : ""), outside the pages in use (2–\(last))\(origin)")
            return false
        }
        for page in number..<(number + UInt64(count)) where claimed.contains(Int(page)) {
            problem(page, tree, "is used twice: already \(kinds.map { "a \($0[Int(page)]) page" } ?? "in use")\(origin)")
            return false
        }
        for page in number..<(number + UInt64(count)) {
            claimed.insert(Int(page))
            kinds?[Int(page)] = kind
        }
        report.counts[kind, default: 0] += count
        return true
    }

    // MARK: The walk

    mutating func run(transaction: UInt64?) {
        guard checkMetas(transaction: transaction), let meta else {
            finish()
            return
        }
        _ = walkFreeList(meta.free)
        var main = TreeState(name: "main", record: meta.main, order: KeyOrder(flags: meta.main.flags, duplicates: false), dupOrder: nil)
        main.isMain = true
        walkTree(&main)
        finish()
        // Every page between the meta pages and the last page is in a tree or on the free list (LMDB's audit).
        var leaked: [UInt64] = []
        for page in 2..<claimed.count where !claimed.contains(page) {
            leaked.append(UInt64(page))
            if leaked.count >= 5 { break }
        }
        if let first = leaked.first, report.problems.isEmpty {
            let total = claimed.count - claimed.members
            problem(
                first, "meta",
                "\(total) page\(total == 1 ? "" : "s") (\(leaked.map(String.init).joined(separator: ", "))\(total > leaked.count ? ", …" : "")) in no tree and not on the free list: 2 + tree pages + free pages ≠ last page + 1")
        }
    }

    /// Walks only the free list, for the check at open. Returns the free page numbers.
    mutating func runFreeListOnly(transaction: UInt64) -> Set<UInt64> {
        guard checkMetas(transaction: transaction), let meta else { return [] }
        return walkFreeList(meta.free)
    }

    private mutating func finish() {
        if let kinds { report.kinds = kinds }
    }

    /// The free list: a tree of transaction ids (8 bytes, native order) to lists of page numbers (a count, then the
    /// numbers in descending order, 8 bytes each). Returns every free page number.
    private mutating func walkFreeList(_ record: TreeRecord) -> Set<UInt64> {
        var state = TreeState(name: "free list", record: record, order: .integer, dupOrder: nil)
        state.collectValues = true
        walkTree(&state)
        var free = Set<UInt64>()
        for (key, value) in state.values {
            let transaction = key.count == 8 ? key.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } : 0
            if let meta, transaction > meta.transaction {
                problem(nil, "free list", "an entry of transaction \(transaction), after the last one (\(meta.transaction))")
            }
            let words = value.count / 8
            guard value.count % 8 == 0, words >= 1 else {
                problem(nil, "free list", "the entry of transaction \(transaction) is \(value.count) bytes, not a list of page numbers")
                continue
            }
            let numbers = value.withUnsafeBytes { raw in (0..<words).map { raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self) } }
            guard numbers[0] == UInt64(words - 1) else {
                problem(nil, "free list", "the entry of transaction \(transaction) says \(numbers[0]) pages and holds \(words - 1)")
                continue
            }
            var previous = UInt64.max
            for page in numbers.dropFirst() {
                guard page < previous else {
                    problem(nil, "free list", "the entry of transaction \(transaction) is not in descending order at page \(page)")
                    break
                }
                previous = page
                // A free page may lie past the end of the file: LMDB does not write pages a transaction took and
                // freed again.
                guard claimFree(page, transaction: transaction) else { break }
                free.insert(page)
            }
        }
        return free
    }

    private mutating func claimFree(_ page: UInt64, transaction: UInt64) -> Bool {
        claim(page, tree: "free list", as: .free, from: nil)
    }

    /// Where a tree's walk stands.
    struct TreeState {
        let name: String
        let record: TreeRecord
        let order: KeyOrder
        /// For a `DUPSORT` tree: the order of its values.
        let dupOrder: KeyOrder?
        var isDupFixed = false
        /// A tree of duplicate values (a sub-database): leaves hold values as keys, and `LEAF2` pages when fixed.
        var isDuplicates = false
        var branchPages: UInt64 = 0
        var leafPages: UInt64 = 0
        var overflowPages: UInt64 = 0
        var entries: UInt64 = 0
        /// Keys and values read (the free list's, and the main tree's named databases).
        var collectValues = false
        var values: [([UInt8], [UInt8])] = []
        var named: [(String, TreeRecord)] = []
        /// The main tree, whose leaves name the databases (set only for the tree of the meta page's main record).
        var isMain = false

        init(name: String, record: TreeRecord, order: KeyOrder, dupOrder: KeyOrder?) {
            (self.name, self.record, self.order, self.dupOrder) = (name, record, order, dupOrder)
        }
    }

    /// How keys compare (lmdb.h's comparators for the tree's flags).
    enum KeyOrder {
        /// `mdb_cmp_memn`: bytes, then length.
        case bytes
        /// `mdb_cmp_memnr` (`MDB_REVERSEKEY`, `MDB_REVERSEDUP`): bytes from the end, then length.
        case reverse
        /// `mdb_cmp_int`/`mdb_cmp_long` (`MDB_INTEGERKEY`): unsigned integers of 4 or 8 bytes, native order.
        case integer

        init(flags: UInt16, duplicates: Bool) {
            // mdb_default_cmp's order: reversed before integer.
            if duplicates {
                self = flags & PageFormat.reverseDup != 0 ? .reverse : flags & PageFormat.integerDup != 0 ? .integer : .bytes
            } else {
                self = flags & PageFormat.reverseKey != 0 ? .reverse : flags & PageFormat.integerKey != 0 ? .integer : .bytes
            }
        }

        func compare(_ a: ArraySlice<UInt8>, _ b: ArraySlice<UInt8>) -> Int {
            switch self {
            case .integer:
                guard a.count == b.count, a.count == 4 || a.count == 8 else { return a.count < b.count ? -1 : a.count > b.count ? 1 : 0 }
                let x = a.withUnsafeBytes { a.count == 8 ? $0.loadUnaligned(as: UInt64.self) : UInt64($0.loadUnaligned(as: UInt32.self)) }
                let y = b.withUnsafeBytes { b.count == 8 ? $0.loadUnaligned(as: UInt64.self) : UInt64($0.loadUnaligned(as: UInt32.self)) }
                return x < y ? -1 : x > y ? 1 : 0
            case .bytes:
                for (p, q) in zip(a, b) where p != q { return p < q ? -1 : 1 }
                return a.count < b.count ? -1 : a.count > b.count ? 1 : 0
            case .reverse:
                for (p, q) in zip(a.reversed(), b.reversed()) where p != q { return p < q ? -1 : 1 }
                return a.count < b.count ? -1 : a.count > b.count ? 1 : 0
            }
        }
    }

    /// Walks one tree from its record, then compares what it found with the record.
    mutating func walkTree(_ state: inout TreeState) {
        let record = state.record
        let name = state.name
        if record.root == PageFormat.noPage {
            if record.depth != 0 || record.branchPages != 0 || record.leafPages != 0 || record.overflowPages != 0 || record.entries != 0 {
                problem(nil, name, "an empty tree whose record counts depth \(record.depth), \(record.leafPages) leaf pages, \(record.entries) entries")
            }
            return
        }
        guard (1...Self.maxDepth).contains(Int(record.depth)) else {
            problem(nil, name, "depth \(record.depth) is out of range")
            return
        }
        let before = report.problems.count
        visit(record.root, level: 1, low: nil, high: nil, parent: nil, &state)
        guard report.problems.count == before else { return }
        let found = (state.branchPages, state.leafPages, state.overflowPages, state.entries)
        let recorded = (record.branchPages, record.leafPages, record.overflowPages, record.entries)
        if found != recorded {
            problem(
                record.root, name,
                "its record counts \(recorded.0) branch, \(recorded.1) leaf, \(recorded.2) overflow pages and \(recorded.3) entries; the tree has \(found.0), \(found.1), \(found.2) and \(found.3)"
            )
        }
        if state.isMain {
            report.trees = state.named.map { PageAuditReport.Tree(name: $0.0, flags: UInt32($0.1.flags), entries: $0.1.entries) }
            for (treeName, subRecord) in state.named {
                let duplicates = subRecord.flags & PageFormat.dupSort != 0
                var sub = TreeState(
                    name: treeName, record: subRecord, order: KeyOrder(flags: subRecord.flags, duplicates: false),
                    dupOrder: duplicates ? KeyOrder(flags: subRecord.flags, duplicates: true) : nil)
                sub.isDupFixed = duplicates && subRecord.flags & PageFormat.dupFixed != 0
                guard subRecord.flags & ~PageFormat.treeFlags == 0 else {
                    problem(nil, treeName, "flags 0x\(String(subRecord.flags, radix: 16)) are not a database's")
                    continue
                }
                // LMDB keeps the size of fixed-size values in each key's sub-page or sub-database, never in the record.
                if subRecord.pad != 0 {
                    problem(nil, treeName, "its record gives a value size of \(subRecord.pad), which LMDB never sets")
                }
                walkTree(&sub)
            }
        }
    }

    /// Visits one page of a tree at `level` (the root is 1), whose keys must lie in [`low`, `high`).
    private mutating func visit(
        _ number: UInt64, level: Int, low: ArraySlice<UInt8>?, high: ArraySlice<UInt8>?, parent: UInt64?, _ state: inout TreeState
    ) {
        let name = state.name
        let isLeafLevel = level == Int(state.record.depth)
        let expected: PageAuditReport.PageKind = isLeafLevel ? (state.isDuplicates && state.isDupFixed ? .leaf2 : .leaf) : .branch
        guard claim(number, tree: name, as: expected, from: parent) else { return }
        guard let page = file.pages(number) else {
            problem(number, name, "is past the end of data.mdb (\(report.fileSize) bytes): the file was truncated")
            return
        }
        guard let pgno = page.u64(0), pgno == number else {
            problem(number, name, "its header says page \(page.u64(0) ?? 0)")
            return
        }
        let flags = page.u16(10) ?? 0
        let wanted: UInt16 = isLeafLevel ? (expected == .leaf2 ? PageFormat.leaf | PageFormat.leaf2 : PageFormat.leaf) : PageFormat.branch
        guard flags == wanted else {
            problem(number, name, "flags 0x\(String(flags, radix: 16)) where a \(expected) page (0x\(String(wanted, radix: 16))) belongs, at level \(level) of \(state.record.depth)")
            return
        }
        if isLeafLevel { state.leafPages += 1 } else { state.branchPages += 1 }
        if expected == .leaf2 {
            checkFixedLeaf(page, number: number, size: file.pageSize, low: low, high: high, &state)
            return
        }
        guard let nodes = nodeOffsets(page, number: number, size: file.pageSize, name: name) else { return }
        var previous: ArraySlice<UInt8>? = nil
        var children: [(UInt64, ArraySlice<UInt8>?)] = []
        var packed = 0
        for (index, offset) in nodes.enumerated() {
            guard let lo = page.u16(offset), let hi = page.u16(offset + 2), let nodeFlags = page.u16(offset + 4),
                  let keySize = page.u16(offset + 6), let key = page.slice(offset + 8, Int(keySize))
            else {
                problem(number, name, "node \(index) at offset \(offset) runs past the page")
                return
            }
            let dataSize = Int(lo) | Int(hi) << 16
            if !isLeafLevel {
                // A branch node: the child's page number is lo | hi << 16 | flags << 32; its key (but the first's) is the
                // least key of that child.
                packed += PageFormat.even(PageFormat.nodeHeaderSize + Int(keySize))
                guard PageFormat.nodeHeaderSize + Int(keySize) + offset <= file.pageSize else {
                    problem(number, name, "node \(index) runs past the page")
                    return
                }
                let child = UInt64(lo) | UInt64(hi) << 16 | UInt64(nodeFlags) << 32
                if index == 0 {
                    children.append((child, nil))
                    continue
                }
                guard keySize >= 1, keySize <= PageFormat.maxKeySize || state.isDuplicates else {
                    problem(number, name, "branch key \(index) is \(keySize) bytes")
                    return
                }
                if let issue = order(key, after: previous, low: low, high: high, state.isDuplicates ? state.dupOrder ?? state.order : state.order) {
                    problem(number, name, "branch key \(index) \(issue)")
                    return
                }
                previous = key
                children.append((child, key))
                continue
            }
            // A leaf node.
            let keyOrder = state.isDuplicates ? state.dupOrder ?? state.order : state.order
            if let issue = order(key, after: previous, low: low, high: high, keyOrder) {
                problem(number, name, "key \(index) \(issue)")
                return
            }
            if !state.isDuplicates, keySize == 0 || Int(keySize) > PageFormat.maxKeySize {
                problem(number, name, "key \(index) is \(keySize) bytes")
                return
            }
            previous = key
            let dataOffset = offset + PageFormat.nodeHeaderSize + Int(keySize)
            let stored = nodeFlags & PageFormat.bigData != 0 ? 8 : dataSize
            guard dataOffset + stored <= file.pageSize, let data = page.view(dataOffset, stored) else {
                problem(number, name, "the value of key \(index) (\(dataSize) bytes) runs past the page")
                return
            }
            packed += PageFormat.even(PageFormat.nodeHeaderSize + Int(keySize) + stored)
            guard leafValue(key: key, flags: nodeFlags, size: dataSize, data: data, page: number, index: index, &state) else { return }
        }
        let upper = Int(page.u16(14) ?? 0)
        if packed != file.pageSize - upper {
            problem(number, name, "its nodes take \(packed) bytes, but its free space ends at \(upper) of \(file.pageSize)")
            return
        }
        guard level < Self.maxDepth else { return }
        for (index, (child, key)) in children.enumerated() {
            let childHigh = index + 1 < children.count ? children[index + 1].1 : high
            visit(child, level: level + 1, low: key ?? low, high: childHigh, parent: number, &state)
        }
    }

    /// The node offsets of a node page (`mp_ptrs`), each inside the page above its free space; nil (and a problem)
    /// when the header's bounds are wrong.
    private mutating func nodeOffsets(_ page: Bytes, number: UInt64, size: Int, name: String) -> [Int]? {
        guard let lower = page.u16(12).map(Int.init), let upper = page.u16(14).map(Int.init) else { return nil }
        guard lower >= PageFormat.headerSize, lower <= upper, upper <= size, (lower - PageFormat.headerSize) % 2 == 0 else {
            problem(number, name, "bounds lower \(lower), upper \(upper) do not fit a \(size)-byte page")
            return nil
        }
        let count = (lower - PageFormat.headerSize) / 2
        guard count >= 1 else {
            problem(number, name, "holds no node")
            return nil
        }
        var offsets: [Int] = []
        offsets.reserveCapacity(count)
        for index in 0..<count {
            let offset = Int(page.u16(PageFormat.headerSize + 2 * index) ?? 0)
            guard offset >= upper, offset % 2 == 0, offset + PageFormat.nodeHeaderSize <= size else {
                problem(number, name, "node \(index) is at offset \(offset), outside the page's nodes (\(upper)–\(size))")
                return nil
            }
            offsets.append(offset)
        }
        return offsets
    }

    /// A `LEAF2` page (fixed-size values, packed after the header, no nodes).
    private mutating func checkFixedLeaf(
        _ page: Bytes, number: UInt64, size: Int, low: ArraySlice<UInt8>?, high: ArraySlice<UInt8>?, _ state: inout TreeState
    ) {
        let name = state.name
        guard let keySize = page.u16(8).map(Int.init), let lower = page.u16(12).map(Int.init), let upper = page.u16(14).map(Int.init) else { return }
        guard keySize >= 1, keySize == Int(state.record.pad) else {
            problem(number, name, "a fixed value size of \(keySize), the database's is \(state.record.pad)")
            return
        }
        let count = (lower - PageFormat.headerSize) / 2
        guard lower >= PageFormat.headerSize, (lower - PageFormat.headerSize) % 2 == 0, count >= 1,
              PageFormat.headerSize + count * keySize <= size, upper == size - count * (keySize - 2)
        else {
            problem(number, name, "bounds lower \(lower), upper \(upper) do not fit values of \(keySize) bytes in a \(size)-byte page")
            return
        }
        var previous: ArraySlice<UInt8>? = nil
        for index in 0..<count {
            let key = page.slice(PageFormat.headerSize + index * keySize, keySize)!
            if let issue = order(key, after: previous, low: low, high: high, state.dupOrder ?? state.order) {
                problem(number, name, "value \(index) \(issue)")
                return
            }
            previous = key
        }
        state.entries += UInt64(count)
    }

    /// Why `key` is out of order, or nil: above `previous`, at least `low`, below `high`.
    private func order(_ key: ArraySlice<UInt8>, after previous: ArraySlice<UInt8>?, low: ArraySlice<UInt8>?, high: ArraySlice<UInt8>?, _ keyOrder: KeyOrder) -> String? {
        if let previous, keyOrder.compare(previous, key) >= 0 { return "is not above the key before it" }
        if let low, keyOrder.compare(key, low) < 0 { return "is below the least key its parent page gives this page" }
        if let high, keyOrder.compare(key, high) >= 0 { return "is not below the key of the next page in its parent" }
        return nil
    }

    /// One leaf value: plain, an overflow value, a named database (main tree), or duplicates in a sub-page or a
    /// sub-database. Returns false when the page must not be read further.
    private mutating func leafValue(
        key: ArraySlice<UInt8>, flags: UInt16, size: Int, data: Bytes, page: UInt64, index: Int, _ state: inout TreeState
    ) -> Bool {
        let name = state.name
        let duplicates = state.dupOrder != nil && !state.isDuplicates
        switch flags {
        case 0:
            if state.isDuplicates, size != 0 {
                problem(page, name, "duplicate \(index) carries \(size) bytes of data")
                return false
            }
            state.entries += 1
            if state.collectValues { state.values.append((Array(key), Array(data.slice(0, data.count)!))) }
        case PageFormat.bigData:
            guard !state.isDuplicates, !duplicates else {
                problem(page, name, "key \(index) has an overflow value in a database of sorted duplicates")
                return false
            }
            let pageSize = file.pageSize
            guard let first = data.u64(0), size > 0 else {
                problem(page, name, "key \(index) has an overflow value of \(size) bytes")
                return false
            }
            let count = PageFormat.overflowPages(size, pageSize: pageSize)
            guard claim(first, count: count, tree: name, as: .overflow, from: page) else { return false }
            // Only the free list's values are read whole; of the others, the head page (the rest must be in the file).
            guard file.holds(first, count: count), let head = file.pages(first, count: state.collectValues ? count : 1) else {
                problem(first, name, "an overflow value of \(count) pages is past the end of data.mdb: the file was truncated")
                return false
            }
            // An overflow value overwritten in place by a smaller one keeps its pages: it may have more than it needs.
            guard head.u64(0) == first, head.u16(10) == PageFormat.overflow, let pages = head.u32(12), Int(pages) >= count,
                  pages == UInt32(count) || claim(first + UInt64(count), count: Int(pages) - count, tree: name, as: .overflow, from: page)
            else {
                problem(
                    first, name,
                    "is not the overflow page of a \(size)-byte value (header: page \(head.u64(0) ?? 0), flags 0x\(String(head.u16(10) ?? 0, radix: 16)), \(head.u32(12) ?? 0) pages; \(count) expected)"
                )
                return false
            }
            state.overflowPages += UInt64(head.u32(12)!)
            state.entries += 1
            if state.collectValues { state.values.append((Array(key), Array(head.slice(PageFormat.headerSize, size)!))) }
        case PageFormat.subData:
            guard state.isMain, size == PageFormat.recordSize, let record = TreeRecord(data, at: 0) else {
                problem(page, name, "key \(index) is marked as a database (\(size) bytes) \(state.isMain ? "but is not a database record" : "outside the main tree")")
                return false
            }
            state.entries += 1
            state.named.append((String(decoding: key, as: UTF8.self), record))
        case PageFormat.dupData:
            guard duplicates else {
                problem(page, name, "key \(index) is marked as sorted duplicates in a database without them")
                return false
            }
            guard checkSubpage(data, key: index, page: page, &state) else { return false }
        case PageFormat.dupData | PageFormat.subData:
            guard duplicates, size == PageFormat.recordSize, let record = TreeRecord(data, at: 0) else {
                problem(page, name, "key \(index) is marked as a sub-database of duplicates where none can be")
                return false
            }
            let wantedFlags: UInt16 = state.isDupFixed ? PageFormat.dupFixed | (state.record.flags & PageFormat.integerDup != 0 ? PageFormat.integerKey : 0) : 0
            guard record.flags == wantedFlags, state.isDupFixed ? record.pad >= 1 : record.pad == 0 else {
                problem(page, name, "the sub-database of key \(index) has flags 0x\(String(record.flags, radix: 16)) and value size \(record.pad)")
                return false
            }
            var sub = TreeState(name: name, record: record, order: state.dupOrder!, dupOrder: state.dupOrder)
            sub.isDuplicates = true
            sub.isDupFixed = state.isDupFixed
            let before = report.problems.count
            walkTree(&sub)
            guard report.problems.count == before else { return false }
            // A database's record counts every value, but not the pages of its sub-databases (LMDB's mdb_audit adds
            // those from each sub-database's own record).
            state.entries += sub.entries
        default:
            problem(page, name, "key \(index) has node flags 0x\(String(flags, radix: 16))")
            return false
        }
        return true
    }

    /// Duplicates of one key kept inside its leaf node: a small page of their own (`P_SUBP`), with nodes (values as
    /// keys, no data) or, for fixed-size values, packed values.
    private mutating func checkSubpage(_ data: Bytes, key index: Int, page: UInt64, _ state: inout TreeState) -> Bool {
        let name = state.name
        let size = data.count
        guard size >= PageFormat.headerSize, let flags = data.u16(10), let lower = data.u16(12).map(Int.init),
              let upper = data.u16(14).map(Int.init)
        else {
            problem(page, name, "the duplicates of key \(index) (\(size) bytes) are too short for a sub-page")
            return false
        }
        let wanted = PageFormat.leaf | PageFormat.subpage | (state.isDupFixed ? PageFormat.leaf2 : 0)
        guard flags & ~PageFormat.dirty == wanted else {
            problem(page, name, "the duplicates of key \(index) are a sub-page with flags 0x\(String(flags, radix: 16))")
            return false
        }
        guard lower >= PageFormat.headerSize, lower <= upper, upper <= size, (lower - PageFormat.headerSize) % 2 == 0, lower > PageFormat.headerSize else {
            problem(page, name, "the sub-page of key \(index) has bounds lower \(lower), upper \(upper) in \(size) bytes")
            return false
        }
        let count = (lower - PageFormat.headerSize) / 2
        let dupOrder = state.dupOrder!
        var previous: ArraySlice<UInt8>? = nil
        if state.isDupFixed {
            let valueSize = Int(data.u16(8) ?? 0)
            guard valueSize >= 1, PageFormat.headerSize + count * valueSize <= size,
                  upper == size - count * (valueSize - 2)
            else {
                problem(page, name, "the sub-page of key \(index) holds \(count) values of \(valueSize) bytes in \(size) bytes (bounds \(lower), \(upper))")
                return false
            }
            for value in 0..<count {
                let bytes = data.slice(PageFormat.headerSize + value * valueSize, valueSize)!
                if let previous, dupOrder.compare(previous, bytes) >= 0 {
                    problem(page, name, "the duplicates of key \(index) are out of order at value \(value)")
                    return false
                }
                previous = bytes
            }
        } else {
            var packed = 0
            for value in 0..<count {
                let offset = Int(data.u16(PageFormat.headerSize + 2 * value) ?? 0)
                guard offset >= upper, offset % 2 == 0, let lo = data.u16(offset), let hi = data.u16(offset + 2),
                      let nodeFlags = data.u16(offset + 4), let valueSize = data.u16(offset + 6),
                      let bytes = data.slice(offset + 8, Int(valueSize))
                else {
                    problem(page, name, "the sub-page of key \(index) has a value node outside it")
                    return false
                }
                guard lo == 0, hi == 0, nodeFlags == 0 else {
                    problem(page, name, "the sub-page of key \(index) has a value node with data or flags")
                    return false
                }
                if let previous, dupOrder.compare(previous, bytes) >= 0 {
                    problem(page, name, "the duplicates of key \(index) are out of order at value \(value)")
                    return false
                }
                previous = bytes
                packed += PageFormat.even(PageFormat.nodeHeaderSize + Int(valueSize))
            }
            guard packed == size - upper else {
                problem(page, name, "the sub-page of key \(index) has nodes of \(packed) bytes above bound \(upper) of \(size)")
                return false
            }
        }
        state.entries += UInt64(count)
        return true
    }
}

/// A set of page numbers below `count`, one bit each.
struct PageSet {
    private var words: [UInt64]
    let count: Int
    private(set) var members = 0

    init(count: Int) {
        self.count = count
        words = [UInt64](repeating: 0, count: (count + 63) / 64)
    }

    func contains(_ page: Int) -> Bool { words[page >> 6] & (1 << UInt64(page & 63)) != 0 }

    mutating func insert(_ page: Int) {
        if !contains(page) { members += 1 }
        words[page >> 6] |= 1 << UInt64(page & 63)
    }
}
