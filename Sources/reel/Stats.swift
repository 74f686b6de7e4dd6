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
        let store = try openStore(location, readOnly: true).store
        let stats = try store.statistics()
        // The per-type counts come from the event-type index: a read-only open of a store that has not folded this
        // build's version of it yet cannot serve them, and says why (the rest still prints).
        let types: [(type: String, count: Int)]?
        let typesUnavailable: EventStoreError?
        do {
            types = try store.read { try EventTypeIndex.counts(in: $0) }.map { ($0.type, $0.count) }
            typesUnavailable = nil
        } catch let error as EventStoreError {
            switch error {
            case .projectionOutdated, .projectionNotBuilt, .projectionBehind: (types, typesUnavailable) = (nil, error)
            default: throw error
            }
        }
        if json {
            var o = JSONObject()
            o.set("events", .number(JSONNumber(Int(stats.events))))
            o.set("streams", .number(JSONNumber(stats.streams)))
            o.set("file_bytes", .number(JSONNumber(stats.fileBytes)))
            o.set("used_bytes", .number(JSONNumber(stats.usedBytes)))
            if let types {
                var byType = JSONObject()
                for (type, count) in types { byType.set(type, .number(JSONNumber(count))) }
                o.set("types", .object(byType))
            } else {
                o.set("types", .null)
            }
            o.set("projections", .array(stats.projections.map { p in
                var j = JSONObject()
                j.set("name", .string(p.name))
                j.set("version", .number(JSONNumber(Int(p.version))))
                j.set("checkpoint", .number(JSONNumber(Int(p.checkpoint))))
                j.set("bytes", .number(JSONNumber(p.bytes)))
                j.set("entries", .number(JSONNumber(p.entries)))
                return .object(j)
            }))
            if !store.unservedProjections.isEmpty {
                var unserved = JSONObject()
                for (name, reason) in store.unservedProjections.sorted(by: { $0.key < $1.key }) { unserved.set(name, .string("\(reason)")) }
                o.set("unserved_projections", .object(unserved))
            }
            printJSON(.object(o))
            return
        }
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
