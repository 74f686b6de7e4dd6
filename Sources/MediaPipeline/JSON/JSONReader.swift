/// A strict JSON reader (RFC 8259) over UTF-8 bytes: no trailing commas, no comments, no duplicate keys, valid
/// UTF-8 only, nesting limited. Every failure is a ``JSONError`` with the byte offset; nothing traps.
public struct JSONReader {
    /// Deepest nesting of arrays and objects accepted.
    public static let maxDepth = 256

    private let bytes: UnsafeRawBufferPointer
    private var offset = 0
    private var depth = 0

    private init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    /// Reads one JSON value that fills `bytes` (whitespace around it allowed).
    public static func read(_ bytes: UnsafeRawBufferPointer) throws(JSONError) -> JSONValue {
        var reader = JSONReader(bytes)
        reader.skipWhitespace()
        let value = try reader.value()
        reader.skipWhitespace()
        guard reader.offset == bytes.count else { throw reader.error("unexpected text after the JSON value") }
        return value
    }

    /// Reads one JSON value from a string.
    public static func read(_ text: String) throws(JSONError) -> JSONValue {
        var text = text
        let result: Result<JSONValue, JSONError> = text.withUTF8 { buffer in
            do throws(JSONError) { return .success(try read(UnsafeRawBufferPointer(buffer))) } catch { return .failure(error) }
        }
        return try result.get()
    }

    private func error(_ message: String) -> JSONError { JSONError(message: message, offset: offset) }

    private var current: UInt8? { offset < bytes.count ? bytes[offset] : nil }

    private mutating func skipWhitespace() {
        while offset < bytes.count {
            switch bytes[offset] {
            case 0x20, 0x0A, 0x0D, 0x09: offset += 1
            default: return
            }
        }
    }

    private mutating func value() throws(JSONError) -> JSONValue {
        guard let byte = current else { throw error("unexpected end of input, a value was expected") }
        switch byte {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw error("unexpected character '\(Self.describe(byte))'")
        }
    }

    private static func describe(_ byte: UInt8) -> String {
        (0x21...0x7E).contains(byte) ? String(UnicodeScalar(byte)) : "\\x" + String(byte, radix: 16)
    }

    private mutating func literal(_ word: StaticString) throws(JSONError) {
        let count = word.utf8CodeUnitCount
        guard offset + count <= bytes.count else { throw error("invalid literal") }
        for i in 0..<count where bytes[offset + i] != word.utf8Start[i] { throw error("invalid literal") }
        offset += count
    }

    private mutating func enter() throws(JSONError) {
        depth += 1
        guard depth <= Self.maxDepth else { throw error("nested deeper than \(Self.maxDepth) levels") }
    }

    private mutating func object() throws(JSONError) -> JSONValue {
        try enter()
        defer { depth -= 1 }
        offset += 1
        var members: [(key: String, value: JSONValue)] = []
        // The keys of a large object, for the duplicate check (a linear search per key would make a line of many keys
        // take minutes: 80,000 keys, 5 minutes).
        var keys: Set<String>?
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            offset += 1
            return .object(JSONObject(uncheckedMembers: members))
        }
        // Room for an input line's members, or for most events' data, at once rather than by doubling from one.
        members.reserveCapacity(depth == 1 ? 4 : 8)
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw error("an object key (a string) was expected") }
            let keyOffset = offset
            let key = try string()
            let duplicate: Bool
            if members.count < 16 {
                duplicate = members.contains(where: { $0.key == key })
            } else {
                if keys == nil { keys = Set(members.map(\.key)) }
                duplicate = !keys!.insert(key).inserted
            }
            if duplicate {
                throw JSONError(message: "duplicate key \"\(key.prefix(64))\"", offset: keyOffset)
            }
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw error("':' was expected after an object key") }
            offset += 1
            skipWhitespace()
            members.append((key, try value()))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): offset += 1
            case UInt8(ascii: "}"):
                offset += 1
                return .object(JSONObject(uncheckedMembers: members))
            default: throw error("',' or '}' was expected in an object")
            }
        }
    }

    private mutating func array() throws(JSONError) -> JSONValue {
        try enter()
        defer { depth -= 1 }
        offset += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") {
            offset += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try value())
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): offset += 1
            case UInt8(ascii: "]"):
                offset += 1
                return .array(elements)
            default: throw error("',' or ']' was expected in an array")
            }
        }
    }

    /// The longest number read, in characters.
    static let longestNumber = 4_096

    private mutating func number() throws(JSONError) -> JSONNumber {
        let start = offset
        if current == UInt8(ascii: "-") { offset += 1 }
        guard let first = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else { throw error("invalid number") }
        offset += 1
        if first != UInt8(ascii: "0") { skipDigits() }
        if current == UInt8(ascii: ".") {
            offset += 1
            guard skipDigits() > 0 else { throw error("invalid number: digits expected after '.'") }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            offset += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { offset += 1 }
            guard skipDigits() > 0 else { throw error("invalid number: digits expected in the exponent") }
        }
        // Numbers are kept as their text, so any length is exact; the bound only keeps one number from filling a line. It
        // is long enough for any number a client library writes, the full decimal expansion of a double included.
        guard offset - start <= Self.longestNumber else {
            throw JSONError(message: "number longer than \(Self.longestNumber) characters", offset: start)
        }
        return JSONNumber(validated: String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<offset]), as: UTF8.self))
    }

    @discardableResult
    private mutating func skipDigits() -> Int {
        let start = offset
        while let byte = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { offset += 1 }
        return offset - start
    }

    private mutating func string() throws(JSONError) -> String {
        let start = offset
        offset += 1
        // Fast path: no escapes, ASCII or valid UTF-8.
        var plainEnd = offset
        var plain = true
        var ascii = true
        while plainEnd < bytes.count {
            let byte = bytes[plainEnd]
            if byte == UInt8(ascii: "\"") { break }
            if byte == UInt8(ascii: "\\") || byte < 0x20 {
                plain = false
                break
            }
            if byte >= 0x80 { ascii = false }
            plainEnd += 1
        }
        if plain {
            guard plainEnd < bytes.count else { throw JSONError(message: "unterminated string", offset: start) }
            let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<plainEnd])
            // ASCII is valid UTF-8 as it stands (and the common case): only other text needs validating.
            if ascii {
                offset = plainEnd + 1
                return String(decoding: slice, as: UTF8.self)
            }
            guard let text = String(validating: slice, as: UTF8.self) else {
                throw JSONError(message: "invalid UTF-8 in a string", offset: start)
            }
            offset = plainEnd + 1
            return text
        }
        var out: [UInt8] = Array(UnsafeRawBufferPointer(rebasing: bytes[offset..<plainEnd]))
        offset = plainEnd
        while true {
            guard let byte = current else { throw JSONError(message: "unterminated string", offset: start) }
            offset += 1
            switch byte {
            case UInt8(ascii: "\""):
                guard let text = String(validating: out, as: UTF8.self) else {
                    throw JSONError(message: "invalid UTF-8 in a string", offset: start)
                }
                return text
            case UInt8(ascii: "\\"):
                guard let escape = current else { throw JSONError(message: "unterminated string", offset: start) }
                offset += 1
                switch escape {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard current == UInt8(ascii: "\\"), offset + 1 < bytes.count, bytes[offset + 1] == UInt8(ascii: "u") else {
                            throw error("a lone surrogate in a \\u escape")
                        }
                        offset += 2
                        let low = try hex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw error("a lone surrogate in a \\u escape") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        throw error("a lone surrogate in a \\u escape")
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { throw error("invalid \\u escape") }
                    out.append(contentsOf: Array(String(Character(unicode)).utf8))
                default: throw error("invalid escape '\\\(Self.describe(escape))'")
                }
            case 0..<0x20:
                throw JSONError(message: "a control character inside a string must be escaped", offset: offset - 1)
            default:
                out.append(byte)
            }
        }
    }

    private mutating func hex4() throws(JSONError) -> UInt32 {
        guard offset + 4 <= bytes.count else { throw error("a \\u escape needs four hex digits") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[offset]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw error("a \\u escape needs four hex digits")
            }
            value = value << 4 | UInt32(digit)
            offset += 1
        }
        return value
    }
}

/// Why a text is not acceptable JSON, and where.
public struct JSONError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    /// Byte offset in the input where the problem was found.
    public let offset: Int

    public var description: String { "invalid JSON at byte \(offset + 1): \(message)" }
}
