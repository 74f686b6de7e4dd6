import Foundation

/// Why an input's `data` does not fit its event type: names the type, the field and what was wrong.
public struct InvalidData: Error, Sendable, Equatable, CustomStringConvertible {
    public let type: String
    public let field: String
    public let reason: String

    public var description: String { "\(type): data.\(field) \(reason)" }
}

/// Reads the fields of one event's `data` object, strictly: required fields must be there with the right JSON type,
/// optional ones may be absent or `null`, and unknown fields are refused.
struct DataReader {
    let type: String
    let object: JSONObject
    /// Which of the first 64 members were asked for so far (bit i: member i), and how many members in all: more
    /// members than that means an unknown field. Bits rather than a list of keys: no allocation per event. No event
    /// type has 64 fields, so an object of more members has an unknown one among its first 64.
    private var asked: UInt64 = 0
    private var present = 0

    init(type: String, object: JSONObject) {
        self.type = type
        self.object = object
    }

    private func invalid(_ field: String, _ reason: String) -> InvalidData { InvalidData(type: type, field: field, reason: reason) }

    private mutating func value(_ key: String) -> JSONValue? {
        guard let index = object.members.firstIndex(where: { $0.key == key }) else { return nil }
        if index < 64 { asked |= 1 << UInt64(index) }
        present += 1
        let value = object.members[index].value
        return value == .null ? nil : value
    }

    mutating func optionalString(_ key: String) throws -> String? {
        guard let value = value(key) else { return nil }
        guard case let .string(text) = value else { throw invalid(key, "must be a string, not \(value.typeName)") }
        return text
    }

    mutating func string(_ key: String) throws -> String {
        guard let text = try optionalString(key) else { throw invalid(key, "is required") }
        return text
    }

    /// A required string that must not be empty.
    mutating func nonEmpty(_ key: String) throws -> String {
        let text = try string(key)
        guard !text.isEmpty else { throw invalid(key, "must not be empty") }
        return text
    }

    mutating func optionalUUID(_ key: String) throws -> UUID? {
        guard let value = value(key) else { return nil }
        guard case let .string(text) = value else { throw invalid(key, "must be a UUID string, not \(value.typeName)") }
        guard let id = UUID(parsing: text) else { throw invalid(key, "is not a UUID: \"\(text.prefix(64))\"") }
        return id
    }

    mutating func uuid(_ key: String) throws -> UUID {
        guard let id = try optionalUUID(key) else { throw invalid(key, "is required") }
        return id
    }

    mutating func optionalInt(_ key: String) throws -> Int? {
        guard let value = value(key) else { return nil }
        guard case let .number(number) = value else { throw invalid(key, "must be an integer, not \(value.typeName)") }
        guard let integer = number.integer else { throw invalid(key, "must be an integer that fits in 64 bits, not \(number.text.prefix(64))") }
        return integer
    }

    mutating func int(_ key: String) throws -> Int {
        guard let value = try optionalInt(key) else { throw invalid(key, "is required") }
        return value
    }

    mutating func optionalBool(_ key: String) throws -> Bool? {
        guard let value = value(key) else { return nil }
        guard case let .bool(flag) = value else { throw invalid(key, "must be true or false, not \(value.typeName)") }
        return flag
    }

    mutating func optionalObject(_ key: String) throws -> JSONObject? {
        guard let value = value(key) else { return nil }
        guard case let .object(object) = value else { throw invalid(key, "must be an object, not \(value.typeName)") }
        return object
    }

    mutating func object(_ key: String) throws -> JSONObject {
        guard let object = try optionalObject(key) else { throw invalid(key, "is required") }
        return object
    }

    mutating func optionalUUIDs(_ key: String) throws -> [UUID]? {
        guard let value = value(key) else { return nil }
        guard case let .array(elements) = value else { throw invalid(key, "must be an array of UUIDs, not \(value.typeName)") }
        return try elements.enumerated().map { index, element in
            guard case let .string(text) = element, let id = UUID(parsing: text) else {
                throw invalid("\(key)[\(index)]", "is not a UUID")
            }
            return id
        }
    }

    mutating func ints(_ key: String) throws -> [Int] {
        guard let value = value(key) else { throw invalid(key, "is required") }
        guard case let .array(elements) = value else { throw invalid(key, "must be an array of integers, not \(value.typeName)") }
        return try elements.enumerated().map { index, element in
            guard case let .number(number) = element, let integer = number.integer else {
                throw invalid("\(key)[\(index)]", "is not an integer")
            }
            return integer
        }
    }

    /// Refuses fields the event type does not have.
    func finish() throws {
        guard object.members.count != present else { return }
        for (index, member) in object.members.enumerated() where index >= 64 || asked & (1 << UInt64(index)) == 0 {
            throw invalid(String(member.key.prefix(64)), "is not a field of \(type)")
        }
    }
}

/// Builds an event's `data` object; absent optionals are left out.
struct DataWriter {
    var object = JSONObject(reservingCapacity: 8)  // most events' fields, without growing by doubling from one

    mutating func put(_ key: String, _ value: String?) { if let value { object.set(key, .string(value)) } }
    mutating func put(_ key: String, _ value: UUID?) { if let value { object.set(key, .string(value.lowercased)) } }
    mutating func put(_ key: String, _ value: Int?) { if let value { object.set(key, .number(JSONNumber(value))) } }
    mutating func put(_ key: String, _ value: Bool?) { if let value { object.set(key, .bool(value)) } }
    mutating func put(_ key: String, _ value: JSONObject?) { if let value { object.set(key, .object(value)) } }
    mutating func put(_ key: String, _ value: [UUID]?) {
        if let value { object.set(key, .array(value.map { .string($0.lowercased) })) }
    }
    mutating func put(_ key: String, _ value: [Int]) { object.set(key, .array(value.map { .number(JSONNumber($0)) })) }
}
