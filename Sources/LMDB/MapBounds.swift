import CLMDB
import Glibc

/// Where an environment's map lies in this process's memory.
///
/// LMDB lends keys and values as pointers with sizes read from the page that holds them. LMDB keeps no checksums, so
/// a damaged page can give a size that reaches past the end of the map (a read would fault, or read memory that is
/// not the store's). Every key and value the wrapper lends is checked against these bounds first: in a read
/// transaction each lies inside the map; in a write transaction one may also lie in a page this transaction copied
/// to the heap (a dirty page), which cannot be bounded here and is left alone.
@usableFromInline
struct MapBounds: Sendable {
    @usableFromInline let start: UInt
    @usableFromInline let end: UInt

    /// Whether the map was found (else the bounds are the whole address space).
    var isKnown: Bool { !(start == 0 && end == .max) }

    /// The map of the environment `env`: lmdb.h does not give its address (`me_mapaddr` is the fixed address a file
    /// asks for, 0 here), so it is the mapping of `data.mdb` in `/proc/self/maps`. Unknown, the bounds are the whole
    /// address space and check nothing.
    init(_ env: OpaquePointer) {
        var descriptor: Int32 = -1
        var file = stat()
        guard mdb_env_get_fd(env, &descriptor) == 0, fstat(descriptor, &file) == 0,
              let mapping = Self.mapping(device: UInt64(file.st_dev), inode: UInt64(file.st_ino))
        else {
            (start, end) = (0, .max)
            return
        }
        (start, end) = (mapping.start, mapping.end)
    }

    /// The lowest start and the highest end of the mappings of one file.
    private static func mapping(device: UInt64, inode: UInt64) -> (start: UInt, end: UInt)? {
        guard let maps = fopen("/proc/self/maps", "r") else { return nil }
        defer { fclose(maps) }
        var line = [CChar](repeating: 0, count: 4096)
        var found: (start: UInt, end: UInt)?
        // "7f12…-7f12… r--s 00000000 08:01 1234   /path/data.mdb"; the device is major:minor in hex.
        let major = UInt64((device >> 8) & 0xfff) | UInt64((device >> 32) & ~0xfff)
        let minor = UInt64(device & 0xff) | UInt64((device >> 12) & ~0xff)
        while fgets(&line, Int32(line.count), maps) != nil {
            let text = line.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            let fields = text.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 5, UInt64(fields[4]) == inode else { continue }
            let numbers = fields[3].split(separator: ":")
            guard numbers.count == 2, UInt64(numbers[0], radix: 16) == major, UInt64(numbers[1], radix: 16) == minor else { continue }
            let bounds = fields[0].split(separator: "-")
            guard bounds.count == 2, let low = UInt(bounds[0], radix: 16), let high = UInt(bounds[1], radix: 16) else { continue }
            found = (min(found?.start ?? low, low), max(found?.end ?? high, high))
        }
        return found
    }

    /// Whether `value` may be lent: inside the map, or (in a write transaction) wholly outside it.
    @inlinable @inline(__always)
    func lends(_ value: MDB_val, readOnly: Bool) -> Bool {
        let address = UInt(bitPattern: value.mv_data)
        if address >= start && address < end {
            return value.mv_size <= end - address
        }
        return !readOnly || value.mv_size == 0
    }

    /// The error for a value that is not lent.
    @usableFromInline
    func outside(_ value: MDB_val, _ operation: String) -> LMDBError {
        LMDBError(
            code: MDB_CORRUPTED, operation: operation,
            detail:
                "LMDB read a \(value.mv_size)-byte key or value that runs outside the store's map: the data file is damaged; restore it from a backup or an export"
        )
    }
}
