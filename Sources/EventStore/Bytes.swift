import Foundation

/// Appends fixed-width big-endian integers and length-prefixed bytes to a buffer.
struct ByteWriter {
    var bytes: [UInt8]

    init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    mutating func u8(_ value: UInt8) { bytes.append(value) }

    mutating func u16(_ value: UInt16) {
        bytes.append(UInt8(truncatingIfNeeded: value >> 8))
        bytes.append(UInt8(truncatingIfNeeded: value))
    }

    mutating func u32(_ value: UInt32) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func u64(_ value: UInt64) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func raw(_ value: some Collection<UInt8>) { bytes.append(contentsOf: value) }

    mutating func uuid(_ value: UUID) {
        withUnsafeBytes(of: value.uuid) { bytes.append(contentsOf: $0) }
    }

    /// A u32 length, then the bytes.
    mutating func blob(_ value: some Collection<UInt8>) {
        u32(UInt32(value.count))
        bytes.append(contentsOf: value)
    }

    mutating func string(_ value: String) {
        var value = value
        value.withUTF8 { blob($0) }
    }
}

/// Reads what ``ByteWriter`` wrote; every read checks the bounds and throws instead of trapping.
struct ByteReader {
    struct OutOfBounds: Error {}

    let base: UnsafeRawBufferPointer
    var offset = 0

    init(_ base: UnsafeRawBufferPointer) { self.base = base }

    var remaining: Int { base.count - offset }

    mutating func take(_ count: Int) throws(OutOfBounds) -> UnsafeRawBufferPointer {
        guard count >= 0, count <= remaining else { throw OutOfBounds() }
        defer { offset += count }
        return UnsafeRawBufferPointer(rebasing: base[offset..<offset + count])
    }

    mutating func u8() throws(OutOfBounds) -> UInt8 { try take(1)[0] }

    mutating func u32() throws(OutOfBounds) -> UInt32 {
        let b = try take(4)
        return b.reduce(0) { $0 << 8 | UInt32($1) }
    }

    mutating func u64() throws(OutOfBounds) -> UInt64 {
        let b = try take(8)
        return b.reduce(0) { $0 << 8 | UInt64($1) }
    }

    mutating func uuid() throws(OutOfBounds) -> UUID {
        let b = try take(16)
        return UUID(uuid: (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]))
    }

    mutating func blob() throws(OutOfBounds) -> UnsafeRawBufferPointer {
        let count = try u32()
        return try take(Int(count))
    }

    mutating func string() throws(OutOfBounds) -> String? {
        String(validating: try blob(), as: UTF8.self)
    }
}

/// 8-byte big-endian key helpers: big-endian keys sort numerically under LMDB's default comparator.
enum BigEndian {
    static func bytes(_ value: UInt64) -> [UInt8] {
        withUnsafeBytes(of: value.bigEndian) { Array($0) }
    }

    static func u64(_ bytes: UnsafeRawBufferPointer, at offset: Int = 0) -> UInt64? {
        guard bytes.count >= offset + 8 else { return nil }
        var value: UInt64 = 0
        for i in offset..<offset + 8 { value = value << 8 | UInt64(bytes[i]) }
        return value
    }

    static func withBytes<R>(_ value: UInt64, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes(of: value.bigEndian, body)
    }

    /// Two 8-byte big-endian numbers side by side: `a ‖ b`.
    static func withBytes<R>(_ a: UInt64, _ b: UInt64, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes(of: (a.bigEndian, b.bigEndian), body)
    }
}

extension UUID {
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes(of: uuid, body)
    }

    /// Canonical lower-case text.
    var lowercased: String { uuidString.lowercased() }
}
