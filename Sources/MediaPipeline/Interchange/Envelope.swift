import EventStore
import Foundation

/// The output envelope, one NDJSON line per stored event — what `reel read` and `reel export` print and
/// `reel import` reads back:
///
///     {"position":42,"stream":"job-…","version":3,"id":"…","type":"image.generated",
///      "recorded_at":"2026-11-22T01:02:03.456Z","data":{…},"metadata":{…},"hash":"<64 hex>"}
///
/// `data` is the stored payload verbatim (canonical JSON), so an export carries the exact bytes the hash covers.
public enum Envelope {
    /// The envelope of a stored event, without a newline.
    public static func render(_ event: RecordedEvent) -> String {
        var w = JSONWriter(capacity: event.payload.count + 320)
        w.raw("{\"position\":")
        w.raw(String(event.position))
        w.raw(",\"stream\":")
        w.string(event.stream)
        w.raw(",\"version\":")
        w.raw(String(event.version))
        w.raw(",\"id\":\"")
        w.raw(event.id.lowercased)
        w.raw("\",\"type\":")
        w.string(event.type)
        w.raw(",\"recorded_at\":\"")
        w.raw(Timestamp.iso8601(event.recordedAtMilliseconds))
        w.raw("\",\"data\":")
        if !event.payload.contains(where: { $0 == 0x0A || $0 == 0x0D }), (try? event.payload.withUnsafeBytes({ try JSONReader.read($0) })) != nil {
            w.raw(String(decoding: event.payload, as: UTF8.self))
        } else {
            // A payload written through the engine directly that is not JSON, or JSON with a line break in its
            // whitespace, prints as hex rather than breaking the line (the domain always stores canonical JSON).
            w.string(hex(event.payload))
        }
        w.raw(",\"metadata\":{")
        var separator = ""
        for (key, value) in [("actor", event.metadata.actor), ("correlation_id", event.metadata.correlationID), ("causation_id", event.metadata.causationID)] {
            guard let value else { continue }
            w.raw(separator)
            w.string(key)
            w.raw(":")
            w.string(value)
            separator = ","
        }
        w.raw("},\"hash\":\"")
        w.raw(hex(event.hash))
        w.raw("\"}")
        return String(decoding: w.bytes, as: UTF8.self)
    }

    /// Lower-case hex digits of `bytes`.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits: StaticString = "0123456789abcdef"
        return String(unsafeUninitializedCapacity: bytes.count * 2) { out in
            for (i, byte) in bytes.enumerated() {
                out[2 * i] = digits.utf8Start[Int(byte >> 4)]
                out[2 * i + 1] = digits.utf8Start[Int(byte & 0x0F)]
            }
            return bytes.count * 2
        }
    }

    /// Why an envelope line cannot be imported.
    public struct Invalid: Error, Sendable, Equatable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    static let fields: Set<String> = ["position", "stream", "version", "id", "type", "recorded_at", "data", "metadata", "hash"]

    /// Parses one envelope line strictly: every field present with its type; `data` re-encoded canonically (for an
    /// export this is the stored byte string).
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws -> ExportedEvent {
        let value: JSONValue
        do { value = try JSONReader.read(bytes) } catch { throw Invalid(message: error.description) }
        guard case let .object(line) = value else { throw Invalid(message: "an envelope must be a JSON object") }
        if let unknown = line.keys.first(where: { !fields.contains($0) }) {
            throw Invalid(message: "\"\(unknown.prefix(64))\" is not an envelope field")
        }
        func number(_ key: String) throws -> UInt64 {
            guard case let .number(n)? = line[key], let value = UInt64(n.text) else { throw Invalid(message: "\"\(key)\" must be a whole number ≥ 0") }
            return value
        }
        func text(_ key: String) throws -> String {
            guard case let .string(s)? = line[key] else { throw Invalid(message: "\"\(key)\" must be a string") }
            return s
        }
        guard let id = UUID(parsing: try text("id")) else { throw Invalid(message: "\"id\" is not a UUID") }
        guard let recordedAt = Timestamp.parse(try text("recorded_at")) else {
            throw Invalid(message: "\"recorded_at\" must be ISO-8601 UTC with milliseconds, like 2026-11-22T01:02:03.456Z")
        }
        guard let data = line["data"] else { throw Invalid(message: "\"data\" is required") }
        var metadata = EventMetadata()
        switch line["metadata"] {
        case let .object(m)?:
            for (key, value) in m.members {
                guard case let .string(s) = value else { throw Invalid(message: "metadata.\(key.prefix(64)) must be a string") }
                switch key {
                case "actor": metadata.actor = s
                case "correlation_id": metadata.correlationID = s
                case "causation_id": metadata.causationID = s
                default: throw Invalid(message: "metadata.\(key.prefix(64)) is not a metadata field")
                }
            }
        default: throw Invalid(message: "\"metadata\" must be an object")
        }
        let hashText = try text("hash")
        guard hashText.utf8.count == 64, let hash = hexBytes(hashText) else { throw Invalid(message: "\"hash\" must be 64 hex digits") }
        return ExportedEvent(
            position: try number("position"), stream: try text("stream"), version: try number("version"), id: id,
            type: try text("type"), recordedAtMilliseconds: recordedAt, payload: JSONWriter.canonical(data),
            metadata: metadata, hash: hash
        )
    }

    // MARK: The end line

    /// The closing line of an export, after its last envelope (docs/FORMAT.md, "Export format"):
    ///
    ///     {"end":{"events":N,"last_position":P,"last_hash":"<64 hex>"}}
    ///
    /// An export without it, or whose end line disagrees with the envelopes before it, was cut short or altered.
    public struct End: Sendable, Hashable {
        /// How many envelopes the export holds.
        public let events: UInt64
        /// The last envelope's position (0 when there is none).
        public let lastPosition: UInt64
        /// The last envelope's hash (32 zero bytes when there is none).
        public let lastHash: [UInt8]

        public init(events: UInt64, lastPosition: UInt64, lastHash: [UInt8]) {
            (self.events, self.lastPosition, self.lastHash) = (events, lastPosition, lastHash)
        }
    }

    /// The end line, without a newline.
    public static func render(_ end: End) -> String {
        #"{"end":{"events":\#(end.events),"last_position":\#(end.lastPosition),"last_hash":"\#(hex(end.lastHash))"}}"#
    }

    /// Whether a line is an end line rather than an envelope: a JSON object whose first member is `"end"` (whitespace
    /// allowed). Only the line's start is looked at; ``parseEnd(_:)`` checks the rest.
    public static func isEnd(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var index = 0
        func skipSpace() { while index < bytes.count, [0x20, 0x09, 0x0D].contains(bytes[index]) { index += 1 } }
        skipSpace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "{") else { return false }
        index += 1
        skipSpace()
        let key = Array(#""end""#.utf8)
        return bytes.count - index >= key.count && bytes[index..<index + key.count].elementsEqual(key)
    }

    /// Parses an end line strictly: one member `end`, an object of exactly `events`, `last_position` (whole numbers)
    /// and `last_hash` (64 lower-case hex digits).
    public static func parseEnd(_ bytes: UnsafeRawBufferPointer) throws -> End {
        let value: JSONValue
        do { value = try JSONReader.read(bytes) } catch { throw Invalid(message: "the end line: \(error.description)") }
        guard case let .object(line) = value, line.keys == ["end"], case let .object(end)? = line["end"],
            Set(end.keys) == ["events", "last_position", "last_hash"], end.keys.count == 3
        else {
            throw Invalid(message: #"the end line must be {"end":{"events":N,"last_position":P,"last_hash":"<64 hex>"}}"#)
        }
        func number(_ key: String) throws -> UInt64 {
            guard case let .number(n)? = end[key], let value = UInt64(n.text) else { throw Invalid(message: "the end line's \(key) must be a whole number ≥ 0") }
            return value
        }
        guard case let .string(hashText)? = end["last_hash"], hashText.utf8.count == 64, let hash = hexBytes(hashText) else {
            throw Invalid(message: "the end line's last_hash must be 64 lower-case hex digits")
        }
        return End(events: try number("events"), lastPosition: try number("last_position"), lastHash: hash)
    }

    static func hexBytes(_ text: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        var high: UInt8?
        for c in text.utf8 {
            let v: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): v = c - UInt8(ascii: "a") + 10
            default: return nil
            }
            if let h = high {
                bytes.append(h << 4 | v)
                high = nil
            } else {
                high = v
            }
        }
        return high == nil ? bytes : nil
    }
}

extension Timestamp {
    /// Parses `YYYY-MM-DDTHH:MM:SS.mmmZ` (the form Reel writes; the fraction may have 1…9 digits or be absent, and the
    /// zone may also be `+00:00`). Returns milliseconds since the Unix epoch.
    public static func parse(_ text: String) -> Int64? {
        let bytes = Array(text.utf8)
        func digits(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= bytes.count else { return nil }
            var value = 0
            for i in range {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) else { return nil }
                value = value * 10 + Int(bytes[i] - UInt8(ascii: "0"))
            }
            return value
        }
        guard bytes.count >= 20, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"), bytes[10] == UInt8(ascii: "T"),
              bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
              let year = digits(0..<4), let month = digits(5..<7), let day = digits(8..<10),
              let hour = digits(11..<13), let minute = digits(14..<16), let second = digits(17..<19),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        var index = 19
        var millis = 0
        if bytes[index] == UInt8(ascii: ".") {
            index += 1
            let start = index
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
            let count = index - start
            guard (1...9).contains(count), let fraction = digits(start..<min(start + 3, index)) else { return nil }
            millis = fraction * [100, 10, 1][min(count, 3) - 1]
        }
        let zone = String(decoding: bytes[index...], as: UTF8.self)
        guard zone == "Z" || zone == "+00:00" else { return nil }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        let seconds = timegm(&parts)
        guard Timestamp.iso8601(Int64(seconds) * 1000).prefix(10) == text.prefix(10) else { return nil }  // no 31 February
        return Int64(seconds) * 1000 + Int64(millis)
    }
}
