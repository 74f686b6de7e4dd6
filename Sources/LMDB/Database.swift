import CLMDB

/// A handle to a named database inside an ``Environment``.
///
/// Handles are opened once and then valid for the life of the environment, in every transaction and on every
/// thread. They are plain values: copying one does not open anything.
public struct Database: Sendable, Hashable, CustomStringConvertible {
    @usableFromInline let dbi: MDB_dbi
    /// The name given when it was opened (`nil` for the unnamed main database).
    public let name: String?

    init(dbi: MDB_dbi, name: String?) {
        self.dbi = dbi
        self.name = name
    }

    public var description: String { name ?? "<main>" }
}

/// How a database stores its keys and values.
public struct DatabaseFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Create the database if it does not exist (write transactions only).
    public static let create = DatabaseFlags(rawValue: UInt32(MDB_CREATE))
    /// Several sorted values per key.
    public static let duplicateSort = DatabaseFlags(rawValue: UInt32(MDB_DUPSORT))
    /// With `duplicateSort`: all values of a key have one fixed size.
    public static let duplicateFixed = DatabaseFlags(rawValue: UInt32(MDB_DUPFIXED))
}

/// Options of a single put.
public struct PutFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Do not replace an existing key: the put reports `false` instead.
    public static let noOverwrite = PutFlags(rawValue: UInt32(MDB_NOOVERWRITE))
    /// In a `duplicateSort` database, do not add a value the key already has: the put reports `false`.
    public static let noDuplicateData = PutFlags(rawValue: UInt32(MDB_NODUPDATA))
    /// The key is greater than every key in the database: a fast append. A key that is not greater is an error
    /// (``LMDBError/Kind/keyExists``), which makes it a free check that keys only go up.
    public static let append = PutFlags(rawValue: UInt32(MDB_APPEND))
    /// In a `duplicateSort` database, the value is greater than every value the key has: a fast append to the key's
    /// values. A value that is not greater is an error (``LMDBError/Kind/keyExists``).
    public static let appendDuplicate = PutFlags(rawValue: UInt32(MDB_APPENDDUP))
    /// Through a cursor only: replace the value of the entry the cursor is on, whose key must be the one given; no
    /// search of the tree.
    public static let current = PutFlags(rawValue: UInt32(MDB_CURRENT))
}

/// Page counts of a database, from `mdb_stat`.
public struct DatabaseStatistics: Sendable, Hashable {
    public let entries: Int
    public let depth: Int
    public let pages: Int
    public let pageSize: Int
    /// Bytes the database's pages take in the data file.
    public var bytes: Int { pages * pageSize }
}

/// Size facts of an environment, from `mdb_env_info`.
public struct EnvironmentInfo: Sendable, Hashable {
    /// The current map size of this process, in bytes.
    public let mapSize: Int
    /// The last page number in use.
    public let lastPage: Int
    /// The id of the last committed transaction.
    public let lastTransaction: Int
    public let maxReaders: Int
    public let readersInUse: Int
}
