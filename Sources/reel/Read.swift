import ArgumentParser
import EventStore
import Foundation
import MediaPipeline

/// `reel read` — prints stored events as NDJSON envelopes.
struct Read: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print events as NDJSON envelopes.")

    @OptionGroup var location: StoreLocation
    @Option(parsing: .unconditional, help: ArgumentHelp("The first position to print.", valueName: "position")) var from: UInt64 = 1
    @Option(help: "Only this stream.") var stream: String?
    @Option(help: "Only this event type (`reel events` lists them).") var type: String?
    @Option(parsing: .unconditional, help: "At most this many events.") var limit: Int?

    func validate() throws {
        if let limit, limit < 0 { throw ValidationError("--limit \(limit) must not be negative") }
    }

    func run() async throws {
        let store = try openStore(location, readOnly: true).store
        let printed = try printEvents(store)
        // Filters that match nothing are not an error, but say so: an empty output alone looks like a typo's.
        if printed == 0, limit != 0 { warn("reel: nothing to print: \(try nothingMatched(store))") }
    }

    /// Why a read printed nothing: which filter matched no event.
    private func nothingMatched(_ store: Store) throws -> String {
        let head = try store.head()
        if head == 0 { return "the store holds no events" }
        if from > head { return "--from \(from) is past the head of the log (position \(head))" }
        var filters: [String] = []
        if let type {
            if !DomainEvent.types.contains(type) {
                let nearest = EventDescription.suggestions(for: type).map { "\"\($0)\"" }
                return "no event of type \"\(type)\": not an event type of the catalogue"
                    + (nearest.isEmpty ? "" : "; did you mean \(nearest.joined(separator: " or "))?")
            }
            filters.append("of type \"\(type)\"")
        }
        if let stream {
            let version = try store.read { try $0.version(of: stream) }
            if version == 0 { return "stream \"\(stream)\" has no events" }
            filters.append("in stream \"\(stream)\"")
        }
        if from > 1 { filters.append("at or after position \(from)") }
        return "no event " + filters.joined(separator: " ") + " (the log holds positions 1…\(head))"
    }

    /// Prints the events that match; how many it printed.
    private func printEvents(_ store: Store) throws -> Int {
        var printed = 0
        var remaining = limit ?? .max
        // The cursor: a position in the log or the type index, or a version within the stream.
        var next = stream == nil ? from : 1
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
            for event in events.prefix(remaining) { text += Envelope.render(event) + "\n" }
            writeOutput(Array(text.utf8))
            printed += min(remaining, events.count)
            remaining -= min(remaining, events.count)
        }
        return printed
    }
}
