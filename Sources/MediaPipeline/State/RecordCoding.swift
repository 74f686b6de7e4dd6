import EventStore
import Foundation

/// Binary encoding of the domain's entity records: a version byte, then fields in a fixed order.
///
/// The projection's databases are derived data (rebuilt from the log when ``MediaProjection/version`` changes), so a
/// layout change bumps the projection version rather than needing old-layout decoders.
protocol EntityRecord {
    init(from reader: inout RecordReader) throws
    func encode(into writer: inout RecordWriter)
}

extension EntityRecord {
    var bytes: [UInt8] {
        var writer = RecordWriter()
        encode(into: &writer)
        return writer.inner.bytes
    }

    init(bytes: UnsafeRawBufferPointer) throws {
        var reader = RecordReader(inner: ByteReader(bytes))
        try self.init(from: &reader)
    }
}

/// A stored record could not be decoded: the projection's data is damaged.
struct DamagedRecord: Error, CustomStringConvertible {
    let what: String
    var description: String { "a stored \(what) record is damaged; run `reel verify`" }
}

struct RecordWriter {
    var inner = ByteWriter(capacity: 128)

    mutating func uuid(_ value: UUID) { inner.uuid(value) }
    mutating func uuid(_ value: UUID?) {
        inner.u8(value == nil ? 0 : 1)
        if let value { inner.uuid(value) }
    }
    mutating func string(_ value: String) { inner.string(value) }
    mutating func string(_ value: String?) {
        inner.u8(value == nil ? 0 : 1)
        if let value { inner.string(value) }
    }
    mutating func int(_ value: Int) { inner.u64(UInt64(bitPattern: Int64(value))) }
    mutating func u64(_ value: UInt64) { inner.u64(value) }
    mutating func bool(_ value: Bool) { inner.u8(value ? 1 : 0) }
    mutating func u8(_ value: UInt8) { inner.u8(value) }
    mutating func bytes(_ value: [UInt8]?) {
        inner.u8(value == nil ? 0 : 1)
        if let value { inner.blob(value) }
    }
    mutating func uuids(_ values: [UUID]) {
        inner.u32(UInt32(values.count))
        for value in values { inner.uuid(value) }
    }
    mutating func strings(_ values: [String]) {
        inner.u32(UInt32(values.count))
        for value in values { inner.string(value) }
    }
}

struct RecordReader {
    var inner: ByteReader
    let what: String

    init(inner: ByteReader, what: String = "entity") {
        self.inner = inner
        self.what = what
    }

    init(_ bytes: UnsafeRawBufferPointer, what: String = "entity") { self.init(inner: ByteReader(bytes), what: what) }

    private func damaged() -> DamagedRecord { DamagedRecord(what: what) }

    mutating func uuid() throws -> UUID {
        do { return try inner.uuid() } catch { throw damaged() }
    }
    mutating func optionalUUID() throws -> UUID? {
        try flag() ? try uuid() : nil
    }
    mutating func string() throws -> String {
        do {
            guard let text = try inner.string() else { throw damaged() }
            return text
        } catch { throw damaged() }
    }
    /// Passes over a string without making it.
    mutating func skipString() throws {
        do { _ = try inner.blob() } catch { throw damaged() }
    }
    mutating func optionalString() throws -> String? {
        try flag() ? try string() : nil
    }
    mutating func int() throws -> Int {
        do { return Int(Int64(bitPattern: try inner.u64())) } catch { throw damaged() }
    }
    mutating func u64() throws -> UInt64 {
        do { return try inner.u64() } catch { throw damaged() }
    }
    mutating func u8() throws -> UInt8 {
        do { return try inner.u8() } catch { throw damaged() }
    }
    mutating func bool() throws -> Bool { try u8() != 0 }
    mutating func flag() throws -> Bool {
        switch try u8() {
        case 0: return false
        case 1: return true
        default: throw damaged()
        }
    }
    mutating func bytes() throws -> [UInt8]? {
        guard try flag() else { return nil }
        do { return Array(try inner.blob()) } catch { throw damaged() }
    }
    /// What ``optionalString()`` reads, appended to `buffer` instead of made a string of its own: its range there. Not
    /// checked to be UTF-8 here: whoever makes the buffer a text checks it whole (`SnapshotQueries.text(of:pieceEnds:)`).
    mutating func optionalString(appendingTo buffer: inout [UInt8]) throws -> Range<Int>? {
        try bytes(appendingTo: &buffer)
    }
    /// What ``bytes()`` reads, appended to `buffer` instead of copied into an array of its own: its range there.
    mutating func bytes(appendingTo buffer: inout [UInt8]) throws -> Range<Int>? {
        guard try flag() else { return nil }
        return try string(appendingTo: &buffer)
    }
    /// What ``string()`` reads, appended to `buffer` (unchecked, as in ``optionalString(appendingTo:)``): its range there.
    mutating func string(appendingTo buffer: inout [UInt8]) throws -> Range<Int> {
        do {
            let blob = try inner.blob()
            buffer.append(contentsOf: blob)
            return buffer.count - blob.count..<buffer.count
        } catch { throw damaged() }
    }
    /// A list's length, checked against the bytes left: each element takes at least `minimum` bytes.
    private mutating func count(each minimum: Int) throws -> Int {
        let count: UInt32
        do { count = try inner.u32() } catch { throw damaged() }
        guard Int(count) * minimum <= inner.remaining else { throw damaged() }
        return Int(count)
    }
    mutating func uuids() throws -> [UUID] {
        try (0..<count(each: 16)).map { _ in try uuid() }
    }
    mutating func strings() throws -> [String] {
        try (0..<count(each: 4)).map { _ in try string() }  // each at least its length
    }
    /// What ``strings()`` reads, appended to `buffer` one after the other (unchecked, as in
    /// ``optionalString(appendingTo:)``), with where each ends appended to `ends`.
    mutating func strings(appendingTo buffer: inout [UInt8], ends: inout [Int]) throws {
        for _ in 0..<(try count(each: 4)) { ends.append(try string(appendingTo: &buffer).upperBound) }
    }
    mutating func skipStrings() throws {
        for _ in 0..<(try count(each: 4)) { try skipString() }
    }
}

/// Where a query decodes the variable-length fields of many records, so that its result slices two buffers rather than
/// holding an array or a string per field: raw bytes (JSON contents and payloads), and text (checked whole to be
/// UTF-8, with no piece ending inside a character, before it becomes one string whose offsets are the pieces').
struct Arena {
    var bytes: [UInt8] = []
    var text: [UInt8] = []
}
