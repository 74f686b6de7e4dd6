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
            remaining -= min(remaining, events.count)
        }
    }
}
