import Glibc

/// LMDB 0.9's data file format, as `mdb.c` lays it out on a 64-bit machine: what ``PageAudit`` reads. lmdb.h exposes
/// no pages, so this is the one place that knows them. Every read here is bounds-checked against the bytes read from
/// the file: a damaged page can make a check fail, never make it read outside its buffer.
///
/// A page starts with a 16-byte header (`MDB_page`): the page number (8 bytes), `mp_pad` (2, the key size of a
/// `LEAF2` page), `mp_flags` (2), then `mp_lower` and `mp_upper` (2 each; the page count of an overflow page, 4).
/// Node pages (branch, leaf) follow it with an array of 2-byte node offsets, and keep their nodes packed at the end
/// of the page. A node (`MDB_node`) has a 2+2-byte data size (a branch's child page number, with `mn_flags` as its high
/// 16 bits), 2-byte flags, a 2-byte key size, the key, then (in a leaf) the data.
enum PageFormat {
    static let headerSize = 16
    static let nodeHeaderSize = 8
    static let metaPages: UInt64 = 2
    /// `P_INVALID`: the root of an empty tree.
    static let noPage = UInt64.max
    /// `MDB_MAGIC` and `MDB_DATA_VERSION`.
    static let magic: UInt32 = 0xBEEF_C0DE
    static let dataVersion: UInt32 = 1
    /// Size of a tree's record (`MDB_db`) in a meta page or a node.
    static let recordSize = 48
    /// Longest key (`MDB_MAXKEYSIZE`).
    static let maxKeySize = 511

    // Page flags (`mp_flags`).
    static let branch: UInt16 = 0x01
    static let leaf: UInt16 = 0x02
    static let overflow: UInt16 = 0x04
    static let meta: UInt16 = 0x08
    static let dirty: UInt16 = 0x10
    static let leaf2: UInt16 = 0x20
    static let subpage: UInt16 = 0x40

    // Node flags (`mn_flags`).
    static let bigData: UInt16 = 0x01
    static let subData: UInt16 = 0x02
    static let dupData: UInt16 = 0x04

    // Tree flags (`md_flags`), the persistent ones.
    static let reverseKey: UInt16 = 0x02
    static let dupSort: UInt16 = 0x04
    static let integerKey: UInt16 = 0x08
    static let dupFixed: UInt16 = 0x10
    static let integerDup: UInt16 = 0x20
    static let reverseDup: UInt16 = 0x40
    static let treeFlags: UInt16 = 0x7E
    /// Environment flags LMDB keeps in the free tree's `md_flags` (`MDB_FIXEDMAP`, `MDB_NOSUBDIR`) besides
    /// `MDB_INTEGERKEY`.
    static let environmentFlags: UInt16 = 0x4001

    /// `EVEN(n)`.
    static func even(_ n: Int) -> Int { (n + 1) & ~1 }

    /// `OVPAGES(size, psize)`: pages an overflow value of `size` bytes takes.
    static func overflowPages(_ size: Int, pageSize: Int) -> Int { (headerSize - 1 + size) / pageSize + 1 }
}

/// Bytes read from the file, with reads that fail (return `nil`) instead of running past the end.
struct Bytes {
    let storage: [UInt8]
    /// Where this view starts in `storage`, and how long it is (a sub-page is a view inside its leaf page).
    let start: Int
    let count: Int

    init(_ storage: [UInt8]) {
        self.storage = storage
        start = 0
        count = storage.count
    }

    init(_ storage: [UInt8], start: Int, count: Int) {
        self.storage = storage
        self.start = start
        self.count = count
    }

    func u16(_ offset: Int) -> UInt16? {
        guard offset >= 0, offset + 2 <= count else { return nil }
        return storage.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: start + offset, as: UInt16.self) }
    }

    func u32(_ offset: Int) -> UInt32? {
        guard offset >= 0, offset + 4 <= count else { return nil }
        return storage.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: start + offset, as: UInt32.self) }
    }

    func u64(_ offset: Int) -> UInt64? {
        guard offset >= 0, offset + 8 <= count else { return nil }
        return storage.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: start + offset, as: UInt64.self) }
    }

    func slice(_ offset: Int, _ length: Int) -> ArraySlice<UInt8>? {
        guard offset >= 0, length >= 0, offset + length <= count else { return nil }
        return storage[(start + offset)..<(start + offset + length)]
    }

    func view(_ offset: Int, _ length: Int) -> Bytes? {
        guard offset >= 0, length >= 0, offset + length <= count else { return nil }
        return Bytes(storage, start: start + offset, count: length)
    }
}

/// A tree's record (`MDB_db`): in a meta page for the free and main trees, in a main-tree node for a named database,
/// in a leaf node for the values of one key of a `DUPSORT` database that outgrew its sub-page.
struct TreeRecord: Equatable {
    var pad: UInt32
    var flags: UInt16
    var depth: UInt16
    var branchPages: UInt64
    var leafPages: UInt64
    var overflowPages: UInt64
    var entries: UInt64
    var root: UInt64

    init?(_ bytes: Bytes, at offset: Int) {
        guard let pad = bytes.u32(offset), let flags = bytes.u16(offset + 4), let depth = bytes.u16(offset + 6),
              let branch = bytes.u64(offset + 8), let leaf = bytes.u64(offset + 16), let overflow = bytes.u64(offset + 24),
              let entries = bytes.u64(offset + 32), let root = bytes.u64(offset + 40)
        else { return nil }
        (self.pad, self.flags, self.depth, branchPages, leafPages, overflowPages, self.entries, self.root) =
            (pad, flags, depth, branch, leaf, overflow, entries, root)
    }
}

/// A meta page (`MDB_meta`, after the page header): magic, version, fixed map address, map size, the free and main
/// trees' records, the last page number in use, the transaction id.
struct MetaPage {
    var pageNumber: UInt64
    var flags: UInt16
    var magic: UInt32
    var version: UInt32
    var address: UInt64
    var mapSize: UInt64
    var free: TreeRecord
    var main: TreeRecord
    var lastPage: UInt64
    var transaction: UInt64
    /// `mm_psize`, kept in the free tree's `md_pad`.
    var pageSize: Int { Int(free.pad) }

    init?(_ page: Bytes) {
        let h = PageFormat.headerSize
        guard let number = page.u64(0), let flags = page.u16(10), let magic = page.u32(h), let version = page.u32(h + 4),
              let address = page.u64(h + 8), let mapSize = page.u64(h + 16), let free = TreeRecord(page, at: h + 24),
              let main = TreeRecord(page, at: h + 72), let last = page.u64(h + 120), let txn = page.u64(h + 128)
        else { return nil }
        (pageNumber, self.flags, self.magic, self.version, self.address, self.mapSize) = (number, flags, magic, version, address, mapSize)
        (self.free, self.main, lastPage, transaction) = (free, main, last, txn)
    }

    /// Why two meta pages cannot be two states of one file in order, or nil: a file only grows, so the one LMDB takes
    /// for the newer (the greater transaction id) counts at least as many pages as the other. A transaction id altered
    /// to look newer than it is breaks this whenever the commit it hides had grown the file.
    static func order(_ a: MetaPage, _ b: MetaPage) -> String? {
        let (newer, older) = a.transaction < b.transaction ? (b, a) : (a, b)
        guard newer.lastPage < older.lastPage, newer.transaction != older.transaction else { return nil }
        return "meta page \(newer.pageNumber) (transaction \(newer.transaction)) ends at page \(newer.lastPage), before the older meta page \(older.pageNumber) (transaction \(older.transaction), page \(older.lastPage)): a transaction id was altered, and LMDB reads an older state"
    }

    /// The offset of the byte past the meta in its page.
    static let end = PageFormat.headerSize + 136
}

/// Reads pages of a data file with `pread`: a page past the end of the file is a short read, never a `SIGBUS`.
struct PageFile {
    let descriptor: Int32
    let pageSize: Int
    let fileSize: Int

    /// `count` pages from `number`, or `nil` when they are not all in the file.
    func pages(_ number: UInt64, count: Int = 1) -> Bytes? {
        guard count >= 1, number < UInt64(Int.max / pageSize) else { return nil }
        let offset = Int(number) * pageSize
        let length = count * pageSize
        guard offset + length <= fileSize else { return nil }
        var buffer = [UInt8](repeating: 0, count: length)
        var done = 0
        while done < length {
            let n = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + done, length - done, off_t(offset + done)) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { return nil }
            done += n
        }
        return Bytes(buffer)
    }

    /// Whether page `number` lies wholly inside the file.
    func holds(_ number: UInt64, count: Int = 1) -> Bool {
        number < UInt64(Int.max / pageSize) && (Int(number) + count) * pageSize <= fileSize
    }
}
