import CLMDB
import Foundation

/// An error returned by LMDB, with the operation that failed and a message saying what to do about it.
///
/// Every failing `mdb_*` call in this module becomes an `LMDBError`; nothing traps on an LMDB return code.
public struct LMDBError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The broad class of the failure, for callers that react to some of them.
    public enum Kind: Sendable, Equatable {
        /// The map is full (`MDB_MAP_FULL`). ``Environment/write(_:)`` grows the map and retries by itself.
        case mapFull
        /// Another process grew the map (`MDB_MAP_RESIZED`). Handled by the environment by itself.
        case mapResized
        /// All reader slots are taken (`MDB_READERS_FULL`).
        case readersFull
        /// A key already exists where the operation demanded a new one (`MDB_KEYEXIST`).
        case keyExists
        /// A key or value is longer than LMDB allows (`MDB_BAD_VALSIZE`; keys are at most 511 bytes).
        case badValueSize
        /// The file is not an LMDB environment, or of an incompatible LMDB version.
        case invalidFile
        /// The operation does not fit the database's flags (`MDB_INCOMPATIBLE`): a named database opened with other
        /// flags than it was made with, or a multiple-value put into a database without `duplicateFixed`.
        case incompatible
        /// The data file is damaged (`MDB_CORRUPTED`, `MDB_PAGE_NOTFOUND`, `MDB_PANIC`).
        case corrupted
        /// A transaction cannot continue after an earlier failure (`MDB_BAD_TXN`).
        case badTransaction
        /// Too many named databases (`MDB_DBS_FULL`).
        case databasesFull
        /// The named database does not exist and was not to be created.
        case notFound
        /// An operating-system error (`errno`), such as `ENOENT`, `EACCES` or `ENOSPC`.
        case system(Int32)
        /// Any other LMDB code.
        case other
    }

    /// The raw return code (an LMDB code or an `errno` value).
    public let code: Int32
    /// The call that failed, e.g. `"mdb_put(log)"`.
    public let operation: String
    /// What was found when the failure was looked into, and what to do, said in place of LMDB's words and
    /// ``remedy`` (which for some codes mislead: a short write on a full disk is `EIO`, a truncated file
    /// `MDB_CORRUPTED` "Located page was wrong type").
    public let detail: String?

    public init(code: Int32, operation: String, detail: String? = nil) {
        self.code = code
        self.operation = operation
        self.detail = detail
    }

    public var kind: Kind {
        switch code {
        case MDB_MAP_FULL: .mapFull
        case MDB_MAP_RESIZED: .mapResized
        case MDB_READERS_FULL: .readersFull
        case MDB_KEYEXIST: .keyExists
        case MDB_BAD_VALSIZE: .badValueSize
        case MDB_INVALID, MDB_VERSION_MISMATCH: .invalidFile
        case MDB_INCOMPATIBLE: .incompatible
        case MDB_CORRUPTED, MDB_PAGE_NOTFOUND, MDB_PANIC: .corrupted
        case MDB_BAD_TXN: .badTransaction
        case MDB_DBS_FULL: .databasesFull
        case MDB_NOTFOUND: .notFound
        case let errno where errno > 0: .system(errno)
        default: .other
        }
    }

    /// What LMDB says about the code, from `mdb_strerror`.
    public var lmdbMessage: String { String(cString: mdb_strerror(code)) }

    /// What the operator or the caller can do about it.
    public var remedy: String {
        switch kind {
        case .mapFull: "the map is full; it is grown automatically, so seeing this means growth failed (is the disk full?)"
        case .mapResized: "another process grew the map; reopening the transaction adopts the new size"
        case .readersFull: "every reader slot is taken; close idle read transactions or processes, or raise maxReaders"
        case .keyExists: "the key already exists"
        case .badValueSize: "a key is longer than 511 bytes or empty; shorten it"
        case .invalidFile: "this is not an LMDB store, or one written by an incompatible LMDB version"
        case .incompatible:
            "the database was made with other flags than this operation needs: a store of another format, or a program error"
        case .corrupted where code == MDB_PANIC:
            "an earlier write of this process failed (a full disk or an I/O error); reopen the store: every acknowledged commit is intact"
        case .corrupted: "the data file is damaged; restore it from a backup or an export"
        case .badTransaction: "the transaction failed earlier and must be aborted"
        case .databasesFull: "too many named databases; raise maxDatabases when opening"
        case .notFound: "the named database does not exist in this store"
        case .system(2): "the file or directory does not exist"
        case .system(13): "permission denied; check the store directory's owner and mode"
        case .system(28):
            "free space on that disk and retry: every acknowledged commit is intact, and the store takes writes again once there is room"
        case .system(30): "the file system is read-only"
        case .system(12): "out of memory or address space for the map"
        case .system: "the operating system refused the operation"
        case .other: "unexpected LMDB error"
        }
    }

    public var description: String {
        guard let detail else { return "\(operation) failed: \(lmdbMessage) (code \(code)); \(remedy)" }
        return "\(operation) failed: \(detail) (\(lmdbMessage), code \(code))"
    }
}

extension LMDBError: LocalizedError {
    /// The ``description``, so that `localizedDescription` reads the same.
    public var errorDescription: String? { description }
}

/// Turns an LMDB return code into a thrown ``LMDBError``.
@inline(__always)
func check(_ code: Int32, _ operation: @autoclosure () -> String) throws(LMDBError) {
    if code != 0 { throw LMDBError(code: code, operation: operation()) }
}
