import EventStore
import Foundation
import HTTPTypes
import Hummingbird
import MediaPipeline

/// `GET /v1/queries/{name}`, `/v1/stats`, `/v1/audit/verify`, `/v1/audit/history` and `/health`: what the commands of
/// the same names print.
struct ReadRoutes {
    let media: MediaStore

    func add(to router: Router<ReelRequestContext>) {
        router.get("/v1/queries/:name") { request, context in try query(request, context) }
        router.get("/v1/stats") { _, context in
            try context.require(.read)
            return Response.json(try media.statisticsJSON())
        }
        router.get("/v1/audit/verify") { request, context in try await verify(request, context) }
        router.get("/v1/audit/history") { request, context in try history(request, context) }
        router.get("/health") { _, _ in try health() }
    }

    /// Every query of `reel query`, its options as query parameters (`?project=ID`), its JSON exactly as the command
    /// prints it; an id the store has never seen is `404`.
    private func query(_ request: Request, _ context: ReelRequestContext) throws -> Response {
        try context.require(.read)
        let name = context.parameters.get("name") ?? ""
        guard let query = QueryDescription.named(name) else {
            throw APIError(.notFound, "unknown query \"\(name.prefix(100))\" (one of: \(QueryDescription.all.map(\.name).joined(separator: ", ")))")
        }
        var arguments: [String: String] = [:]
        for (key, value) in request.uri.queryParameters { arguments[String(key)] = String(value) }
        do {
            return Response.json(try query.answer(arguments, on: media).json)
        } catch let error as QueryArgumentError {
            throw APIError(.badRequest, error.description)
        } catch let error as UnknownEntity {
            throw APIError(.notFound, "\(error)")
        } catch let error as EventStoreError {
            throw APIError(.serviceUnavailable, "\(error)")
        }
    }

    /// `reel audit verify [--log-only]`: `{"ok": true}`, or `{"ok": false, "problems": [...]}`, each problem as the
    /// command prints it. A refold of every projection takes seconds on a large store: it needs the `admin` scope.
    private func verify(_ request: Request, _ context: ReelRequestContext) async throws -> Response {
        try context.require(.admin)
        let logOnly = try EventRoutes.flag(request.uri.queryParameters["log_only"], "log_only")
        let media = media
        let problems: [IntegrityProblem]
        do {
            problems = try await Task.detached { try media.audit(logOnly: logOnly) }.value
        } catch let error as EventStoreError {
            // The store, or a node's log of record, could not be read through.
            throw APIError(.serviceUnavailable, "\(error)")
        }
        var object = JSONObject()
        object.set("ok", .bool(problems.isEmpty))
        object.set("problems", .array(problems.map { .string("\($0)") }))
        return Response.json(.object(object))
    }

    /// `reel audit history --frame/--job/--id ID --json`: the envelopes of every event that touched the entity, NDJSON.
    private func history(_ request: Request, _ context: ReelRequestContext) throws -> Response {
        try context.require(.read)
        let parameters = request.uri.queryParameters
        let given = [("frame", parameters["frame"]), ("job", parameters["job"]), ("id", parameters["id"])].compactMap { name, value in
            value.map { (name, String($0)) }
        }
        guard given.count == 1, let (kind, text) = given.first else { throw APIError(.badRequest, "give one of frame, job, id") }
        guard let id = UUID(parsing: text) else { throw APIError(.badRequest, "\(kind) \"\(text.prefix(100))\" is not a UUID") }
        let events: [RecordedEvent]
        do {
            switch kind {
            case "frame": events = try media.history(frame: id)
            case "job": events = try media.history(job: id)
            default: events = try media.history(id: id)
            }
        } catch let error as UnknownEntity {
            throw APIError(.notFound, "\(error)")
        }
        return Response.bytes(events.map { Envelope.render($0) + "\n" }.joined().utf8, contentType: "application/x-ndjson")
    }

    /// Ready when the store is open and every projection has folded the whole log.
    private func health() throws -> Response {
        var object = JSONObject()
        do {
            let head = try media.store.head()
            let behind = try media.store.statistics().projections.filter { $0.checkpoint < head }.map(\.name)
            object.set("status", .string(behind.isEmpty ? "ready" : "catching up"))
            object.set("head", .number(JSONNumber(Int(head))))
            if !behind.isEmpty { object.set("behind", .array(behind.map { .string($0) })) }
            return Response.json(.object(object), status: behind.isEmpty ? .ok : .serviceUnavailable)
        } catch {
            object.set("status", .string("unavailable"))
            object.set("error", .string("\(error)"))
            return Response.json(.object(object), status: .serviceUnavailable)
        }
    }
}
