import Foundation

/// Arguments a query does not take, lacks, or cannot read: what `reel query` reports as a usage error and the service
/// as `400`.
public struct QueryArgumentError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension QueryDescription {
    /// Checks `arguments` (each option's name, without dashes, and its value): no option the query does not take,
    /// every required one given, each value of its kind.
    public func check(_ arguments: [String: String]) throws(QueryArgumentError) {
        for option in arguments.keys.sorted() where !self.arguments.contains(where: { $0.option == option }) {
            throw QueryArgumentError("\(name) does not take --\(option); it takes \(self.arguments.map(\.usage).joined(separator: " "))")
        }
        for argument in self.arguments {
            guard let value = arguments[argument.option] else {
                if argument.isRequired { throw QueryArgumentError("\(name) needs --\(argument.option) \(argument.valueName)") }
                continue
            }
            switch argument.kind {
            case .id:
                guard UUID(parsing: value) != nil else { throw QueryArgumentError("--\(argument.option) \"\(value)\" is not a UUID") }
            case .status:
                guard JobStatus(rawValue: value) != nil else {
                    throw QueryArgumentError("--\(argument.option) \"\(value)\" is not a job status: pending, processing, completed or failed")
                }
            case .count:
                guard let count = Int(value), count >= 0 else { throw QueryArgumentError("--\(argument.option) \(value) must not be negative") }
            }
        }
    }

    /// Answers the query on `media` with `arguments` (checked first).
    ///
    /// - Throws: ``QueryArgumentError``, ``UnknownEntity`` for an id the store has never seen, or the store's error.
    public func answer(_ arguments: [String: String], on media: some MediaQueries) throws -> any QueryResult {
        try check(arguments)
        func id(_ option: String) -> UUID { UUID(parsing: arguments[option]!)! }
        switch name {
        case "images-by-scene": return try media.imagesByScene(project: id("project"))
        case "jobs-by-frame": return try media.jobsByFrame(frame: id("frame"))
        case "frames-by-shot": return try media.framesByShot(shot: id("shot"))
        case "story": return try media.story(id("story"))
        case "bundle": return try media.bundle(story: id("story"))
        case "sessions": return try media.sessions(user: id("user"))
        case "job": return try media.job(id("job"))
        case "session-images": return try media.sessionImages(session: id("session"))
        case "reference-images": return try media.referenceImages(user: id("user"))
        case "jobs": return try media.jobs(status: JobStatus(rawValue: arguments["status"]!)!, limit: arguments["limit"].flatMap { Int($0) } ?? .max)
        case let other: preconditionFailure("the catalogue's query \(other) has no answer")
        }
    }
}
