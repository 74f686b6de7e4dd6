/// Writes JSON without insignificant whitespace.
///
/// The canonical form, which Reel stores as an event's `data` and hashes: object members sorted by key (byte-wise
/// over UTF-8), no whitespace, strings escaped as `\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t` and `\u00XX` for the other
/// control characters, everything else (including non-ASCII) as UTF-8; numbers as their text.
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    /// The canonical bytes of a value.
    public static func canonical(_ value: JSONValue) -> [UInt8] {
        var writer = JSONWriter()
        writer.write(value, sortKeys: true)
        return writer.bytes
    }

    public mutating func write(_ value: JSONValue, sortKeys: Bool) {
        switch value {
        case .null: raw("null")
        case let .bool(flag): raw(flag ? "true" : "false")
        case let .number(number): bytes.append(contentsOf: number.text.utf8)
        case let .string(text): string(text)
        case let .array(elements):
            bytes.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                write(element, sortKeys: sortKeys)
            }
            bytes.append(UInt8(ascii: "]"))
        case let .object(object):
            bytes.append(UInt8(ascii: "{"))
            let members = object.members
            if sortKeys, !Self.isSorted(members) {
                // Sorted through a permutation of indexes in temporary (usually stack) memory, not a copy of the
                // members: a copy is an allocation per event.
                withUnsafeTemporaryAllocation(of: Int.self, capacity: members.count) { buffer in
                    var order = buffer
                    for index in order.indices { order.initializeElement(at: index, to: index) }
                    order.sort { members[$0].key.utf8.lexicographicallyPrecedes(members[$1].key.utf8) }
                    for (rank, index) in order.enumerated() { write(member: members[index], first: rank == 0, sortKeys: sortKeys) }
                }
            } else {
                for (index, member) in members.enumerated() { write(member: member, first: index == 0, sortKeys: sortKeys) }
            }
            bytes.append(UInt8(ascii: "}"))
        }
    }

    private mutating func write(member: (key: String, value: JSONValue), first: Bool, sortKeys: Bool) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        string(member.key)
        bytes.append(UInt8(ascii: ":"))
        write(member.value, sortKeys: sortKeys)
    }

    public mutating func raw(_ text: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    public mutating func raw(_ text: String) { bytes.append(contentsOf: text.utf8) }

    /// Whether the members are in canonical order already (the event writers put them so): then they need no sort.
    static func isSorted(_ members: [(key: String, value: JSONValue)]) -> Bool {
        guard members.count > 1 else { return true }
        for index in 1..<members.count where !members[index - 1].key.utf8.lexicographicallyPrecedes(members[index].key.utf8) {
            return false
        }
        return true
    }

    public mutating func string(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        // Most text needs no escape: copy it whole.
        var text = text
        let plain = text.withUTF8 { utf8 -> Bool in
            guard !utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else { return false }
            bytes.append(contentsOf: utf8)
            return true
        }
        if plain {
            bytes.append(UInt8(ascii: "\""))
            return
        }
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): raw("\\\"")
            case UInt8(ascii: "\\"): raw("\\\\")
            case 0x08: raw("\\b")
            case 0x0C: raw("\\f")
            case 0x0A: raw("\\n")
            case 0x0D: raw("\\r")
            case 0x09: raw("\\t")
            case 0..<0x20:
                raw("\\u00")
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                bytes.append(hex[Int(byte >> 4)])
                bytes.append(hex[Int(byte & 0xF)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
