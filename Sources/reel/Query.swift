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
        let given = given
        for option in given.keys.sorted() where !query.arguments.contains(where: { $0.option == option }) {
            throw ValidationError("\(name) does not take --\(option); it takes \(query.arguments.map(\.usage).joined(separator: " "))")
        }
        for argument in query.arguments {
            guard let value = given[argument.option] else {
                if argument.isRequired { throw ValidationError("\(name) needs --\(argument.option) \(argument.valueName)") }
                continue
            }
            switch argument.kind {
            case .id:
                guard UUID(parsing: value) != nil else { throw ValidationError("--\(argument.option) \"\(value)\" is not a UUID") }
            case .status:
                guard JobStatus(rawValue: value) != nil else {
                    throw ValidationError("--\(argument.option) \"\(value)\" is not a job status: pending, processing, completed or failed")
                }
            case .count:
                guard let count = Int(value), count >= 0 else { throw ValidationError("--\(argument.option) \(value) must not be negative") }
            }
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

    /// The id given with `--option` (checked by ``validate()``).
    private func id(_ value: String?) -> UUID { UUID(parsing: value!)! }

    private func answering(_ media: some MediaQueries) throws -> any QueryResult {
        switch name! {
        case "images-by-scene": return try media.imagesByScene(project: id(project))
        case "jobs-by-frame": return try media.jobsByFrame(frame: id(frame))
        case "frames-by-shot": return try media.framesByShot(shot: id(shot))
        case "story": return try media.story(id(story))
        case "bundle": return try media.bundle(story: id(story))
        case "sessions": return try media.sessions(user: id(user))
        case "job": return try media.job(id(job))
        case "session-images": return try media.sessionImages(session: id(session))
        case "reference-images": return try media.referenceImages(user: id(user))
        case "jobs": return try media.jobs(status: JobStatus(rawValue: status!)!, limit: limit ?? .max)
        case let other: preconditionFailure("the catalogue's query \(other) has no answer here")
        }
    }
}
