import Foundation

/// A JSON value, as read from input or built for output.
///
/// Objects keep their members in input order and never hold a key twice (the reader rejects duplicates). Numbers keep
/// their text, so a value written back out is the number that came in.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case number(JSONNumber)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    /// The JSON type's name, for error messages.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

/// A JSON number: its text as written, validated by the reader.
public struct JSONNumber: Sendable, Hashable, CustomStringConvertible {
    public let text: String

    public init(_ value: Int) { text = String(value) }

    /// A number the reader validated.
    init(validated text: String) { self.text = text }

    /// The value as an integer, when the text is an integer that fits in `Int` (no fraction or exponent).
    public var integer: Int? { Int(text) }

    public var description: String { text }
}

/// A JSON object: members in order, keys unique.
public struct JSONObject: Sendable, Hashable {
    public private(set) var members: [(key: String, value: JSONValue)]

    public init() { members = [] }

    /// An empty object with room for `capacity` members.
    init(reservingCapacity capacity: Int) {
        members = []
        members.reserveCapacity(capacity)
    }

    init(uncheckedMembers members: [(key: String, value: JSONValue)]) { self.members = members }

    public subscript(key: String) -> JSONValue? {
        for member in members where member.key == key { return member.value }
        return nil
    }

    /// Sets `key`, replacing an existing member in place or appending a new one.
    public mutating func set(_ key: String, _ value: JSONValue) {
        if let index = members.firstIndex(where: { $0.key == key }) {
            members[index].value = value
        } else {
            members.append((key, value))
        }
    }

    public var keys: [String] { members.map(\.key) }

    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        lhs.members.count == rhs.members.count && zip(lhs.members, rhs.members).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(members.count)
        for member in members {
            hasher.combine(member.key)
            hasher.combine(member.value)
        }
    }
}

// MARK: Encoding

extension JSONValue: Encodable {
    /// Encodes the value as the JSON it stands for, so a result that holds one can be returned by any `Encoder`-based
    /// API (a web framework's JSON response, `JSONEncoder`): `null`, booleans, strings and arrays as themselves, an
    /// object as a keyed container with its members in order, a number as described at ``JSONNumber/encode(to:)``.
    ///
    /// The encoder decides the text: `JSONEncoder` orders an object's keys as it likes (or sorts them, with
    /// `.sortedKeys`) and writes `/` as `\/` unless told `.withoutEscapingSlashes`. For the exact text Reel prints,
    /// use ``jsonData``.
    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .null:
            var container = encoder.singleValueContainer()
            try container.encodeNil()
        case let .bool(flag):
            var container = encoder.singleValueContainer()
            try container.encode(flag)
        case let .number(number):
            try number.encode(to: encoder)
        case let .string(text):
            var container = encoder.singleValueContainer()
            try container.encode(text)
        case let .array(elements):
            var container = encoder.unkeyedContainer()
            for element in elements { try container.encode(element) }
        case let .object(object):
            try object.encode(to: encoder)
        }
    }
}

extension JSONNumber: Encodable {
    /// Encodes an integer that fits 64 bits (`Int64` or `UInt64`) as that integer, and any other number as the
    /// `Double` nearest to it: `JSONEncoder` then writes `1.50` as `1.5` and `1E3` as `1000`, and refuses a number
    /// beyond `Double`'s range (`1e999`) unless its `nonConformingFloatEncodingStrategy` allows infinities. The text
    /// itself is kept by ``JSONValue/jsonData``.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let integer = Int64(text), String(integer) == text {
            try container.encode(integer)
        } else if let integer = UInt64(text), String(integer) == text {
            try container.encode(integer)
        } else if let value = Double(text) {
            try container.encode(value)
        } else {
            let context = EncodingError.Context(codingPath: encoder.codingPath, debugDescription: "not a JSON number: \(text)")
            throw EncodingError.invalidValue(text, context)
        }
    }
}

extension JSONObject: Encodable {
    /// Encodes the members, in order, into a keyed container.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: MemberKey.self)
        for member in members { try container.encode(member.value, forKey: MemberKey(member.key)) }
    }

    /// An object member's key, as a coding key.
    private struct MemberKey: CodingKey {
        let stringValue: String
        var intValue: Int? { nil }
        init(_ key: String) { stringValue = key }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}

extension JSONValue {
    /// The value as JSON text in UTF-8: object members in their order, no whitespace, strings escaped as in canonical
    /// JSON (see ``JSONWriter``), numbers as their text. For a query result this is exactly the line `reel query`
    /// prints, without the line feed that ends it.
    public var jsonData: Data {
        var writer = JSONWriter()
        writer.write(self, sortKeys: false)
        return Data(writer.bytes)
    }
}
