import ArgumentParser
import EventStore
import Foundation
import MediaPipeline

/// `reel replay --to P | --at TIME [query NAME …]` — the projections as they stood at a position or a time, folded in
/// scratch environments without writing to the live store (``MediaStore/projections(at:)``).
struct Replay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the store as it stood at a position or a time (time travel), without touching it.",
        discussion: "With `query NAME …` it prints what `reel query NAME …` would have printed then."
    )

    @OptionGroup var location: StoreLocation
    @Option(parsing: .unconditional, help: ArgumentHelp("The last position to include (0: none).", valueName: "position")) var to: UInt64?
    @Option(help: "An ISO-8601 UTC time: include every event recorded at or before it.") var at: String?
    @Argument(parsing: .captureForPassthrough, help: "Optionally `query NAME --option ID`.") var query: [String] = []

    func validate() throws {
        // `--help` among the query's words (which pass through unparsed): this command's help, then the query's.
        if query.contains(where: { $0 == "--help" || $0 == "-h" }) {
            throw CleanExit.message(
                Reel.helpMessage(for: Replay.self) + "\nThe query after the cut takes what `reel query` takes:\n\n"
                    + Reel.helpMessage(for: Query.self))
        }
        guard (to == nil) != (at == nil) else { throw ValidationError("give one of --to P or --at TIME") }
        if let at, Timestamp.parse(at) == nil { throw ValidationError("--at \(at) is not an ISO-8601 UTC time like 2026-11-22T01:02:03.456Z") }
        if !query.isEmpty, query.first != "query" {
            throw ValidationError("after the cut, only `query NAME …` may follow, not \"\(query[0].prefix(100))\"")
        }
        // The query's own words, checked before the replay: a usage error of the query is one of this command.
        if !query.isEmpty {
            do {
                _ = try Query.parse(queryArguments().arguments)
            } catch {
                throw ValidationError("query: " + Query.message(for: error))
            }
        }
    }

    /// The query's own arguments, and a `--store` and a `--postgres` given among them (they belong to the replay: the
    /// query runs on the replayed store).
    private func queryArguments() -> (arguments: [String], store: String?, postgres: String?) {
        var arguments = Array(query.dropFirst())
        func take(_ option: String) -> String? {
            if let index = arguments.firstIndex(of: option), index + 1 < arguments.count {
                defer { arguments.removeSubrange(index...index + 1) }
                return arguments[index + 1]
            } else if let index = arguments.firstIndex(where: { $0.hasPrefix(option + "=") }) {
                defer { arguments.remove(at: index) }
                return String(arguments[index].dropFirst(option.count + 1))
            }
            return nil
        }
        let store = take("--store")
        let postgres = take("--postgres")
        return (arguments, store, postgres)
    }

    func run() async throws {
        let (arguments, trailingStore, trailingPostgres) = queryArguments()
        var location = location
        if let trailingStore { location.store = trailingStore }
        if let trailingPostgres { location.postgres = trailingPostgres }
        // The query was checked by `validate()`, before the replay, so a usage error costs nothing.
        let parsed = query.isEmpty ? nil : try Query.parse(arguments + ["--store", location.path])
        let media = try openStore(location, readOnly: true)
        let position = try to ?? media.position(at: Timestamp.parse(at!)!)
        let head = try media.store.head()
        guard position <= head else {
            warn("reel: --to \(position) is beyond the head of the log (\(head))")
            throw Exit.rejected
        }
        let replayed = try media.projections(at: position)
        defer { replayed.discard() }
        if let parsed {
            try parsed.printResult(parsed.answer(replayed))
            return
        }
        let event = try media.store.read { try $0.event(at: position) }
        var o = JSONObject()
        o.set("position", .number(JSONNumber(Int(position))))
        o.set("recorded_at", event.map { .string(Timestamp.iso8601($0.recordedAtMilliseconds)) } ?? .null)
        o.set("events", .number(JSONNumber(Int(position))))
        o.set("streams", .number(JSONNumber(replayed.projections.streams)))
        var byType = JSONObject()
        for (type, count) in try replayed.eventTypes() { byType.set(type, .number(JSONNumber(count))) }
        o.set("types", .object(byType))
        printJSON(.object(o))
    }
}
