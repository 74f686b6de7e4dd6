import ArgumentParser
import EventStore
import Foundation
import MediaPipeline

/// `reel query NAME …` — one projection of SPEC §4 as one JSON object on stdout.
struct Query: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a projection as JSON.",
        discussion: """
            images-by-scene --project ID    jobs-by-frame --frame ID    frames-by-shot --shot ID
            story --story ID                bundle --story ID           sessions --user ID
            job --job ID                    session-images --session ID reference-images --user ID
            jobs --status pending|processing|completed|failed [--limit N]
            """
    )

    static let names = [
        "images-by-scene", "jobs-by-frame", "frames-by-shot", "story", "bundle", "sessions", "job", "session-images",
        "reference-images", "jobs",
    ]

    @OptionGroup var location: StoreLocation
    @Argument(help: "The query: \(Query.names.joined(separator: ", ")).") var name: String
    @Option var project: String?
    @Option var frame: String?
    @Option var shot: String?
    @Option var story: String?
    @Option var user: String?
    @Option var job: String?
    @Option var session: String?
    @Option var status: String?
    @Option var limit: Int?

    func validate() throws {
        guard Query.names.contains(name) else {
            throw ValidationError("unknown query \"\(name)\"; one of: \(Query.names.joined(separator: ", "))")
        }
    }

    /// A required id option, as a UUID (a malformed or missing one is a usage error, exit 2).
    private func id(_ value: String?, _ option: String) throws -> UUID {
        guard let value else { throw ValidationError("\(name) needs --\(option) ID") }
        guard let id = UUID(parsing: value) else { throw ValidationError("--\(option) \(value) is not a UUID") }
        return id
    }

    func run() async throws {
        let media = try openStore(location, readOnly: true)
        try print(answer(media))
    }

    /// Prints a result as one JSON object.
    func print(_ result: any QueryResult) throws {
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
        switch name {
        case "images-by-scene": return try media.imagesByScene(project: id(project, "project"))
        case "jobs-by-frame": return try media.jobsByFrame(frame: id(frame, "frame"))
        case "frames-by-shot": return try media.framesByShot(shot: id(shot, "shot"))
        case "story": return try media.story(id(story, "story"))
        case "bundle": return try media.bundle(story: id(story, "story"))
        case "sessions": return try media.sessions(user: id(user, "user"))
        case "job": return try media.job(id(job, "job"))
        case "session-images": return try media.sessionImages(session: id(session, "session"))
        case "reference-images": return try media.referenceImages(user: id(user, "user"))
        default:
            guard let status, let parsed = JobStatus(rawValue: status) else {
                throw ValidationError("jobs needs --status pending|processing|completed|failed")
            }
            if let limit, limit < 0 { throw ValidationError("--limit must not be negative") }
            return try media.jobs(status: parsed, limit: limit ?? .max)
        }
    }
}
