import ArgumentParser
import EventStore
import Foundation
import MediaPipeline

/// `reel stats` — events, streams, bytes on disk, per-type counts, projection checkpoints and sizes.
struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show counts and sizes of the store.")

    @OptionGroup var location: StoreLocation
    @Flag(help: "Print one JSON object instead of a table.") var json = false

    func run() async throws {
        let media = try openStore(location, readOnly: true)
        let store = media.store
        if json {
            printJSON(try media.statisticsJSON())
            return
        }
        let (stats, types, typesUnavailable) = try media.statisticsAndTypes()
        func size(_ bytes: Int) -> String { ByteCountFormatter.string(fromByteCount: Int64(bytes), countStyle: .binary) }
        print("events       \(stats.events)")
        print("streams      \(stats.streams)")
        print("data.mdb     \(size(stats.fileBytes)) on disk, \(size(stats.usedBytes)) in use, log \(size(stats.logBytes)), map \(size(stats.mapBytes))")
        if stats.events > 0 { print("per event    \(stats.usedBytes / Int(stats.events)) bytes, indexes and projections included") }
        print("\nevents by type:")
        if let typesUnavailable { print("  not available: \(typesUnavailable)") }
        for (type, count) in (types ?? []).sorted(by: { $0.count > $1.count }) { print("  \(type.padding(toLength: 26, withPad: " ", startingAt: 0)) \(count)") }
        print("\nprojections:")
        for p in stats.projections {
            print("  \(p.name.padding(toLength: 14, withPad: " ", startingAt: 0)) v\(p.version)  checkpoint \(p.checkpoint)  \(p.entries) entries  \(size(p.bytes))")
        }
        for (name, reason) in store.unservedProjections.sorted(by: { $0.key < $1.key }) {
            print("  \(name.padding(toLength: 14, withPad: " ", startingAt: 0)) not served: \(reason)")
        }
    }
}
