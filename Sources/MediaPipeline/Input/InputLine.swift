import EventStore
import Foundation

/// One NDJSON input line of `reel append`: `type` and `data` required; `id`, `expected_version` and
/// `metadata` optional (absent or `null` mean "not given"). Unknown fields are refused, so a typo never passes silently.
public enum InputLine {
    /// Why a line cannot be appended, before any rule is checked.
    public struct Invalid: Error, Sendable, Equatable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    static let fields: Set<String> = ["type", "data", "id", "expected_version", "metadata"]
    static let metadataFields: Set<String> = ["actor", "correlation_id", "causation_id"]

    /// Parses one line (without its newline) into an input for ``MediaStore/append(_:)``.
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws -> MediaStore.Input {
        let value: JSONValue
        do {
            value = try JSONReader.read(bytes)
        } catch {
            throw Invalid(message: error.description)
        }
        guard case let .object(line) = value else { throw Invalid(message: "a line must be a JSON object, not \(value.typeName)") }
        if let unknown = line.members.first(where: { !fields.contains($0.key) })?.key {
            throw Invalid(message: "\"\(unknown.prefix(64))\" is not a field of an input line (type, data, id, expected_version, metadata)")
        }
        guard let typeValue = line["type"], typeValue != .null else { throw Invalid(message: "\"type\" is required") }
        guard case let .string(type) = typeValue else { throw Invalid(message: "\"type\" must be a string, not \(typeValue.typeName)") }
        guard let dataValue = line["data"], dataValue != .null else { throw Invalid(message: "\(type.prefix(64)): \"data\" is required") }
        guard case let .object(data) = dataValue else { throw Invalid(message: "\(type.prefix(64)): \"data\" must be an object, not \(dataValue.typeName)") }
        let event: DomainEvent
        do {
            event = try DomainEvent(type: type, data: data)
        } catch let unknown as UnknownEventType {
            throw Invalid(message: Self.unknownTypeMessage(unknown))
        }
        var input = MediaStore.Input(event)
        switch line["id"] {
        case nil, .null?: break
        case let .string(text)?:
            guard let id = UUID(parsing: text) else { throw Invalid(message: "\"id\" is not a UUID: \"\(text.prefix(64))\"") }
            input.id = id
        case let other?: throw Invalid(message: "\"id\" must be a UUID string, not \(other.typeName)")
        }
        switch line["expected_version"] {
        case nil, .null?: break
        case let .number(number)?:
            guard let version = number.integer, version >= 0 else {
                throw Invalid(message: "\"expected_version\" must be a whole number ≥ 0, not \(number.text)")
            }
            input.expectedVersion = .exactly(UInt64(version))
        case let other?: throw Invalid(message: "\"expected_version\" must be a number, not \(other.typeName)")
        }
        switch line["metadata"] {
        case nil, .null?: break
        case let .object(metadata)?:
            if let unknown = metadata.members.first(where: { !metadataFields.contains($0.key) })?.key {
                throw Invalid(message: "metadata.\(unknown.prefix(64)) is not a metadata field (actor, correlation_id, causation_id)")
            }
            func text(_ key: String) throws -> String? {
                switch metadata[key] {
                case nil, .null?: return nil
                case let .string(value)?: return value
                case let other?: throw Invalid(message: "metadata.\(key) must be a string, not \(other.typeName)")
                }
            }
            input.metadata = EventMetadata(actor: try text("actor"), correlationID: try text("correlation_id"), causationID: try text("causation_id"))
        case let other?: throw Invalid(message: "\"metadata\" must be an object, not \(other.typeName)")
        }
        return input
    }

    /// An unknown type, with the nearest known ones when one is close enough to be a typo:
    /// `unknown event type "project.create"; did you mean "project.created"?`.
    static func unknownTypeMessage(_ unknown: UnknownEventType) -> String {
        let nearest = EventDescription.suggestions(for: unknown.type).map { "\"\($0)\"" }
        switch nearest.count {
        case 0: return "\(unknown) (`reel events` lists the \(DomainEvent.types.count) types)"
        case 1: return "\(unknown); did you mean \(nearest[0])?"
        default: return "\(unknown); did you mean \(nearest.dropLast().joined(separator: ", ")) or \(nearest.last!)?"
        }
    }
}
