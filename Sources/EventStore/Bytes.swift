import Foundation

/// Appends fixed-width big-endian integers and length-prefixed bytes to a buffer.
package struct ByteWriter {
    package var bytes: [UInt8]

    @inlinable package init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    @inlinable package mutating func u8(_ value: UInt8) { bytes.append(value) }

    @inlinable package mutating func u32(_ value: UInt32) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    @inlinable package mutating func u64(_ value: UInt64) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    @inlinable package mutating func raw(_ value: some Collection<UInt8>) { bytes.append(contentsOf: value) }

    @inlinable package mutating func uuid(_ value: UUID) {
        withUnsafeBytes(of: value.uuid) { bytes.append(contentsOf: $0) }
    }

    /// A u32 length, then the bytes.
    @inlinable package mutating func blob(_ value: some Collection<UInt8>) {
        u32(UInt32(value.count))
        bytes.append(contentsOf: value)
    }

    @inlinable package mutating func string(_ value: String) {
        var value = value
        value.withUTF8 { blob($0) }
    }

    /// A present flag (0/1), then the string as ``string(_:)`` writes it — or a zero length when absent.
    @inlinable package mutating func optionalString(_ value: String?) {
        if let value {
            u8(1)
            string(value)
        } else {
            u8(0)
            u32(0)
        }
    }
}

/// Reads what ``ByteWriter`` wrote; every read checks the bounds and throws instead of trapping.
package struct ByteReader {
    package struct OutOfBounds: Error {}

    package let base: UnsafeRawBufferPointer
    package var offset = 0

    @inlinable package init(_ base: UnsafeRawBufferPointer) { self.base = base }

    @inlinable package var remaining: Int { base.count - offset }

    @inlinable package mutating func take(_ count: Int) throws(OutOfBounds) -> UnsafeRawBufferPointer {
        guard count >= 0, count <= remaining else { throw OutOfBounds() }
        defer { offset += count }
        return UnsafeRawBufferPointer(rebasing: base[offset..<offset + count])
    }

    @inlinable package mutating func u8() throws(OutOfBounds) -> UInt8 { try take(1)[0] }

    @inlinable package mutating func u32() throws(OutOfBounds) -> UInt32 {
        let b = try take(4)
        return b.reduce(0) { $0 << 8 | UInt32($1) }
    }

    @inlinable package mutating func u64() throws(OutOfBounds) -> UInt64 {
        let b = try take(8)
        return b.reduce(0) { $0 << 8 | UInt64($1) }
    }

    @inlinable package mutating func uuid() throws(OutOfBounds) -> UUID {
        let b = try take(16)
        return UUID(uuid: (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]))
    }

    @inlinable package mutating func blob() throws(OutOfBounds) -> UnsafeRawBufferPointer {
        let count = try u32()
        return try take(Int(count))
    }

    /// A blob as text; `nil` when it is not UTF-8. ASCII, the usual case, is checked by a plain loop: the standard
    /// library's validator instantiates generic metadata on every call.
    @inlinable package mutating func string() throws(OutOfBounds) -> String? {
        let bytes = try blob()
        if bytes.allSatisfy({ $0 < 0x80 }) { return String(decoding: bytes, as: UTF8.self) }
        return String(validating: bytes, as: UTF8.self)
    }
}

/// 8-byte big-endian key helpers: big-endian keys sort numerically under LMDB's default comparator.
package enum BigEndian {
    @inlinable package static func bytes(_ value: UInt64) -> [UInt8] {
        withUnsafeBytes(of: value.bigEndian) { Array($0) }
    }

    @inlinable package static func u64(_ bytes: UnsafeRawBufferPointer, at offset: Int = 0) -> UInt64? {
        guard bytes.count >= offset + 8 else { return nil }
        var value: UInt64 = 0
        for i in offset..<offset + 8 { value = value << 8 | UInt64(bytes[i]) }
        return value
    }

    @inlinable package static func withBytes<R>(_ value: UInt64, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes(of: value.bigEndian, body)
    }

    /// Two 8-byte big-endian numbers side by side: `a ‖ b`.
    @inlinable package static func withBytes<R>(_ a: UInt64, _ b: UInt64, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes(of: (a.bigEndian, b.bigEndian), body)
    }
}

extension UUID {
    @inlinable package func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes(of: uuid, body)
    }

    /// Byte-wise order, as LMDB sorts keys.
    package func isGreater(than other: UUID) -> Bool {
        let (a, b) = (halves, other.halves)
        return a.high != b.high ? a.high > b.high : a.low > b.low
    }

    /// The 16 bytes as two big-endian integers: ordered as the bytes are.
    private var halves: (high: UInt64, low: UInt64) {
        withUnsafeBytes(of: uuid) { ($0.loadUnaligned(as: UInt64.self).bigEndian, $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self).bigEndian) }
    }

    /// Whether `utf8` is this id's canonical lower-case text, compared without building it.
    package func isLowercasedText(_ utf8: UnsafeBufferPointer<UInt8>) -> Bool {
        guard utf8.count == 36 else { return false }
        let digits: StaticString = "0123456789abcdef"
        return withUnsafeBytes(of: uuid) { bytes in
            var o = 0
            for (i, byte) in bytes.enumerated() {
                if i == 4 || i == 6 || i == 8 || i == 10 {
                    guard utf8[o] == UInt8(ascii: "-") else { return false }
                    o += 1
                }
                guard utf8[o] == digits.utf8Start[Int(byte >> 4)], utf8[o + 1] == digits.utf8Start[Int(byte & 0x0F)] else { return false }
                o += 2
            }
            return true
        }
    }

    /// Canonical lower-case text (`8-4-4-4-12` hex), without Foundation's formatted printing.
    public var lowercased: String { lowercased(after: "") }

    /// `prefix` followed by the canonical lower-case text, built in one allocation (stream names: `job-<uuid>`).
    package func lowercased(after prefix: String) -> String {
        let digits: StaticString = "0123456789abcdef"
        var prefix = prefix
        return prefix.withUTF8 { prefix in
            withUnsafeBytes(of: uuid) { bytes in
                String(unsafeUninitializedCapacity: prefix.count + 36) { out in
                    var o = prefix.count
                    if o > 0 { UnsafeMutableRawBufferPointer(out).copyMemory(from: UnsafeRawBufferPointer(prefix)) }
                    for (i, byte) in bytes.enumerated() {
                        if i == 4 || i == 6 || i == 8 || i == 10 {
                            out[o] = UInt8(ascii: "-")
                            o += 1
                        }
                        out[o] = digits.utf8Start[Int(byte >> 4)]
                        out[o + 1] = digits.utf8Start[Int(byte & 0x0F)]
                        o += 2
                    }
                    return o
                }
            }
        }
    }

    /// Parses canonical UUID text (`8-4-4-4-12` hex digits, either case) without Foundation's formatted scanning.
    public init?(parsing text: String) {
        var text = text
        let parsed: uuid_t? = text.withUTF8 { utf8 in
            guard utf8.count == 36 else { return nil }
            var bytes: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            let valid = withUnsafeMutableBytes(of: &bytes) { out -> Bool in
                var b = 0
                var i = 0
                while i < 36 {
                    if i == 8 || i == 13 || i == 18 || i == 23 {
                        guard utf8[i] == UInt8(ascii: "-") else { return false }
                        i += 1
                        continue
                    }
                    guard let high = Self.hexValue(utf8[i]), let low = Self.hexValue(utf8[i + 1]) else { return false }
                    out[b] = high << 4 | low
                    b += 1
                    i += 2
                }
                return true
            }
            return valid ? bytes : nil
        }
        guard let parsed else { return nil }
        self.init(uuid: parsed)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
