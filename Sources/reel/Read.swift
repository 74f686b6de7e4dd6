import ArgumentParser
import EventStore
import Foundation
import MediaPipeline

/// `reel read` — prints stored events as NDJSON envelopes.
struct Read: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print events as NDJSON envelopes.")

    @OptionGroup var location: StoreLocation
    @Option(help: "The first position to print.") var from: UInt64 = 1
    @Option(help: "Only this stream.") var stream: String?
    @Option(help: "Only this event type.") var type: String?
    @Option(help: "At most this many events.") var limit: Int?

    func validate() throws {
        if let limit, limit < 0 { throw ValidationError("--limit must not be negative") }
    }

    func run() async throws {
        let store = try openStore(location, readOnly: true).store
        var remaining = limit ?? .max
        // The cursor: a position in the log or the type index, or a version within the stream.
        var next = stream == nil ? from : 1
        let output = FileHandle.standardOutput
        while remaining > 0 {
            let (events, last): ([RecordedEvent], UInt64?) = try store.read { snapshot in
                if let stream {
                    // Filter after reading, so a page whose events are all filtered out still moves the cursor on.
                    let page = try snapshot.stream(stream, from: next, limit: 1_000)
                    return (page.filter { $0.position >= from && (type == nil || $0.type == type) }, page.last?.version)
                }
                if let type {
                    let positions = try EventTypeIndex.positions(ofType: type, from: next, limit: min(remaining, 1_000), in: snapshot)
                    return (try positions.compactMap { try snapshot.event(at: $0) }, positions.last)
                }
                let page = try snapshot.events(from: next, limit: min(remaining, 1_000))
                return (page, page.last?.position)
            }
            guard let last else { break }
            next = last + 1
            var text = ""
            for event in events.prefix(remaining) { text += Envelope.json(event) + "\n" }
            output.write(Data(text.utf8))
            remaining -= min(remaining, events.count)
        }
    }
}

/// The output envelope of SPEC §2.
enum Envelope {
    static func json(_ event: RecordedEvent) -> String {
        // The domain stores canonical JSON; a payload that is not JSON (written through the engine directly) prints as
        // a hex string rather than breaking the line.
        let data = (try? event.payload.withUnsafeBytes { try JSONReader.read($0) }) != nil
            ? String(decoding: event.payload, as: UTF8.self)
            : quote(event.payload.map { String(format: "%02x", $0) }.joined())
        var metadata: [String] = []
        if let actor = event.metadata.actor { metadata.append("\"actor\":\(quote(actor))") }
        if let correlation = event.metadata.correlationID { metadata.append("\"correlation_id\":\(quote(correlation))") }
        if let causation = event.metadata.causationID { metadata.append("\"causation_id\":\(quote(causation))") }
        return "{\"position\":\(event.position),\"stream\":\(quote(event.stream)),\"version\":\(event.version),"
            + "\"id\":\"\(event.id.lowercased)\",\"type\":\(quote(event.type)),"
            + "\"recorded_at\":\"\(timestamp(event.recordedAtMilliseconds))\",\"data\":\(data),"
            + "\"metadata\":{\(metadata.joined(separator: ","))},\"hash\":\"\(event.hash.map { String(format: "%02x", $0) }.joined())\"}"
    }

    /// ISO-8601 UTC with milliseconds.
    static func timestamp(_ milliseconds: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
    }

    static func quote(_ text: String) -> String {
        if !text.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            return "\"" + text + "\""
        }
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let c where c.value < 0x20: out += String(format: "\\u%04x", c.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
