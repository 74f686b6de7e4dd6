import ArgumentParser
import EventStore
import Foundation
import MediaPipeline

/// `reel backup DIR [--compact]` — a consistent copy of the store as of one snapshot, while appends go on.
struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy the store, as of one snapshot, into a directory that holds no store while appends go on; the copy is a store."
    )

    @OptionGroup var location: StoreLocation
    @Argument(help: "The directory to write the copy into (created if missing; it must not hold a store).") var directory: String
    @Flag(help: "Leave out the store's free pages: a smaller copy, at more CPU.") var compact = false

    func run() async throws {
        let target = (directory as NSString).appendingPathComponent("data.mdb")
        if FileManager.default.fileExists(atPath: target) {
            warn("reel: \(directory) already holds a store (\(target)); a backup never replaces one")
            throw Exit.rejected
        }
        let store = try openStore(location, readOnly: true, existing: true).store
        let started = Date()
        let backup: Store.Backup
        do {
            backup = try store.backup(to: directory, compact: compact)
        } catch {
            warn("reel: cannot back up into \(directory): \(error)")
            throw Exit.rejected
        }
        try store.close()
        var summary = JSONObject()
        summary.set("backup", .string(directory))
        summary.set("position", .number(JSONNumber(Int(backup.position))))
        summary.set("bytes", .number(JSONNumber(backup.bytes)))
        summary.set("compact", .bool(compact))
        summary.set("milliseconds", .number(JSONNumber(Int((Date().timeIntervalSince(started) * 1000).rounded()))))
        printJSON(.object(summary))
    }
}
