import ArgumentParser
import EventStore
import Foundation
import MediaPipeline

/// `reel query NAME …` — one query of the catalogue (``QueryDescription``) as one JSON object on stdout; `--markdown`
/// prints docs/QUERIES.md.
struct Query: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a projection as JSON.",
        discussion: "The queries:\n" + QueryDescription.all.map { "  reel query \($0.usage)" }.joined(separator: "\n")
            + "\n\ndocs/QUERIES.md, which `reel query --markdown` prints, gives each one's output and order."
    )

    static let names = QueryDescription.all.map(\.name)

    @OptionGroup var location: StoreLocation
    @Argument(help: "The query: \(Query.names.joined(separator: ", ")).") var name: String?
    @Option(help: "A project's id.") var project: String?
    @Option(help: "A frame's id.") var frame: String?
    @Option(help: "A shot's id.") var shot: String?
    @Option(help: "A story's id.") var story: String?
    @Option(help: "A user's id.") var user: String?
    @Option(help: "A job's id.") var job: String?
    @Option(help: "A session's id.") var session: String?
    @Option(help: "A job status: pending, processing, completed or failed.") var status: String?
    @Option(parsing: .unconditional, help: "At most this many jobs.") var limit: Int?
    @Flag(help: "Print Markdown: docs/QUERIES.md, or NAME's section of it.") var markdown = false

    /// The value given for each option a query may take, by the option's name.
    private var given: [String: String] {
        var options: [String: String] = [:]
        for (option, value) in [
            ("project", project), ("frame", frame), ("shot", shot), ("story", story), ("user", user), ("job", job), ("session", session),
            ("status", status), ("limit", limit.map(String.init)),
        ] {
            if let value { options[option] = value }
        }
        return options
    }

    func validate() throws {
        guard let name else {
            if markdown { return }
            throw ValidationError("give a query NAME, one of: \(Query.names.joined(separator: ", "))")
        }
        guard let query = QueryDescription.named(name) else {
            let nearest = QueryDescription.suggestions(for: name).map { "\"\($0)\"" }
            throw ValidationError(
                "unknown query \"\(name.prefix(100))\"" + (nearest.isEmpty ? "" : "; did you mean \(nearest.joined(separator: " or "))?")
                    + " (one of: \(Query.names.joined(separator: ", ")))")
        }
        if markdown { return }
        do {
            try query.check(given)
        } catch {
            throw ValidationError(error.description)
        }
    }

    func run() async throws {
        if markdown {
            print(name.flatMap(QueryDescription.named)?.markdownSection() ?? QueryDescription.markdown(), terminator: "")
            return
        }
        let media = try openStore(location, readOnly: true)
        try printResult(answer(media))
    }

    /// Prints a result as one JSON object.
    func printResult(_ result: any QueryResult) throws {
        printJSON(result.json)
    }

    /// Answers the query on `media`; an unknown id is exit 1 with the reason on stderr.
    func answer(_ media: some MediaQueries) throws -> any QueryResult {
        do {
            return try answering(media)
        } catch let error as UnknownEntity {
            warn("reel: \(error)")
            throw Exit.rejected
        }
    }

    private func answering(_ media: some MediaQueries) throws -> any QueryResult {
        try QueryDescription.named(name!)!.answer(given, on: media)
    }
}
