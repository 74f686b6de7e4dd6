import ArgumentParser
import EventStore
import Foundation
import MediaPipeline

/// `reel rebuild [--projection NAME]` — blue/green rebuild of projections while the store stays open for reads and
/// appends (other processes may keep appending); progress on stderr when it is a terminal.
struct Rebuild: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Rebuild projections from the log and swap them in atomically.")

    @OptionGroup var location: StoreLocation
    @Option(help: "Only this projection (media, event-types).") var projection: String?

    func run() async throws {
        let media = try openStore(location, readOnly: false, existing: true)
        let progress = isatty(2) == 1
        let started = Date()
        let rebuilt: [String]
        do {
            rebuilt = try media.store.rebuild(projection: projection) { name, done, head in
                guard progress else { return }
                _ = writeFully(2, Array("\r\(name): \(done) of \(head) events\u{1B}[K".utf8))
            }
        } catch EventStoreError.unknownProjection(let name) {
            throw ValidationError("no projection named \(name); one of: \(MediaStore.projections.map(\.name).joined(separator: ", "))")
        }
        if progress { _ = writeFully(2, Array("\r\u{1B}[K".utf8)) }
        let head = try media.store.head()
        try media.close()
        let seconds = Date().timeIntervalSince(started)
        var summary = JSONObject()
        summary.set("rebuilt", .array(rebuilt.map { .string($0) }))
        summary.set("position", .number(JSONNumber(Int(head))))
        summary.set("milliseconds", .number(JSONNumber(Int((seconds * 1000).rounded()))))
        printJSON(.object(summary))
    }
}
