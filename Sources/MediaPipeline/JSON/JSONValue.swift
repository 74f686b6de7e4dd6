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
