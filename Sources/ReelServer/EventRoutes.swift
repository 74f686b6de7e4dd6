import EventStore
import Foundation
import HTTPTypes
import Hummingbird
import MediaPipeline
import Metrics

/// `POST /v1/events` (NDJSON input lines, as `reel append` takes them) and `GET /v1/events` (envelopes, as `reel read`
/// prints them).
struct EventRoutes {
    let media: MediaStore
    let configuration: ServerConfiguration

    func add(to router: Router<ReelRequestContext>) {
        router.post("/v1/events") { request, context in try await append(request, context) }
        router.get("/v1/events") { request, context in try read(request, context) }
    }

    // MARK: Appending

    /// Why a line was not appended, and the status a one-line or all-or-nothing body answers with.
    struct Rejection {
        let line: Int
        let reason: String
        let status: HTTPResponse.Status
    }

    /// The status of a line's failure: `409` a conflict with what is stored (an expected version, an id of other
    /// content), `422` a broken rule, `400` input that cannot be read.
    static func status(of error: any Error) -> HTTPResponse.Status {
        switch error {
        case let error as EventStoreError:
            switch error {
            case .wrongExpectedVersion, .idempotencyConflict, .partialDuplicate: return .conflict
            case .invalidBatch: return .badRequest
            default: return .serviceUnavailable
            }
        case is DomainRejection: return .unprocessableContent
        default: return .badRequest
        }
    }

    private func append(_ request: Request, _ context: ReelRequestContext) async throws -> Response {
        try context.require(.append)
        let body = try await Self.collect(request, limit: configuration.bodyLimit, seconds: configuration.requestTimeout)
        let allOrNothing = try Self.flag(request.uri.queryParameters["all_or_nothing"], "all_or_nothing")
        var rejections: [Rejection] = []
        var inputs: [(line: Int, input: MediaStore.Input)] = []
        var lineCount = 0
        body.withUnsafeReadableBytes { bytes in
            var start = 0
            var number = 0
            while start < bytes.count {
                let end = bytes[start...].firstIndex(of: 0x0A) ?? bytes.count
                number += 1
                var line = UnsafeRawBufferPointer(rebasing: bytes[start..<end])
                if line.last == 0x0D { line = UnsafeRawBufferPointer(rebasing: line.dropLast()) }
                start = end + 1
                guard line.contains(where: { $0 != 0x20 && $0 != 0x09 }) else { continue }
                lineCount += 1
                guard line.count <= configuration.lineLimit else {
                    rejections.append(Rejection(line: number, reason: "the line is \(line.count) bytes, longer than \(configuration.lineLimit)", status: .badRequest))
                    continue
                }
                do {
                    inputs.append((number, try InputLine.parse(line)))
                } catch {
                    rejections.append(Rejection(line: number, reason: "\(error)", status: .badRequest))
                }
            }
        }
        guard lineCount > 0 else { throw APIError(.badRequest, "the body holds no input line") }
        if allOrNothing { return try await appendAtomically(inputs, rejections: rejections, lines: lineCount) }

        // Lines stand alone, as in `reel append`: each its own batch, queued in order into the group-commit writer.
        let waiting = Outcomes(count: inputs.count)
        var resolver = StreamResolver()
        for (index, (number, input)) in inputs.enumerated() {
            let prepared: ([NewEvent], [String: ExpectedVersion])
            do {
                prepared = try media.prepare([input], resolver: &resolver)
            } catch {
                waiting.answer(index, number, .failure(error))
                continue
            }
            media.store.enqueue(prepared.0, expected: prepared.1) { outcome in waiting.answer(index, number, outcome) }
        }
        let outcomes = await waiting.all()
        var appended = 0
        var duplicates = 0
        var last: UInt64 = 0
        var storeFailure: (line: Int, error: EventStoreError)?
        for (number, outcome) in outcomes {
            switch outcome {
            case let .success(result):
                if result.isDuplicate { duplicates += 1 } else { appended += 1 }
                last = max(last, result.lastPosition)
            case let .failure(error as EventStoreError) where error.isStoreFailure:
                if storeFailure == nil { storeFailure = (number, error) }
            case let .failure(error):
                rejections.append(Rejection(line: number, reason: "\(error)", status: Self.status(of: error)))
            }
        }
        rejections.sort { $0.line < $1.line }
        Metrics.Counter(label: "reel_appends_total").increment(by: Int64(appended))
        for rejection in rejections { Self.countRejection(rejection) }
        let summary = Self.summary(appended: appended, duplicates: duplicates, rejections: rejections, last: last, head: try? media.store.head())
        // The store failed (a full disk): the lines before the first that failed so are in it, as the summary says;
        // that line and those after it may not be. `503`, with the summary, so that a client retries only what is not.
        if let storeFailure {
            throw APIError(.serviceUnavailable, "line \(storeFailure.line) and the lines after it were not all appended: \(storeFailure.error)", extra: summary)
        }
        if lineCount == 1, let rejection = rejections.first {
            throw APIError(rejection.status, "line \(rejection.line): \(rejection.reason)", extra: summary)
        }
        return Response.json(.object(summary))
    }

    private func appendAtomically(_ inputs: [(line: Int, input: MediaStore.Input)], rejections: [Rejection], lines: Int) async throws -> Response {
        if let first = rejections.first {
            Self.countRejection(first)
            let summary = Self.summary(appended: 0, duplicates: 0, rejections: rejections, last: 0, head: try? media.store.head())
            throw APIError(first.status, "line \(first.line): \(first.reason) (nothing was written: all_or_nothing)", extra: summary)
        }
        switch try await media.appendAtomically(inputs) {
        case let .refused(lines, _):
            let rejections = lines.map { Rejection(line: $0.line, reason: "\($0.reason)", status: Self.status(of: $0.reason)) }
            for rejection in rejections { Self.countRejection(rejection) }
            let summary = Self.summary(appended: 0, duplicates: 0, rejections: rejections, last: 0, head: try? media.store.head())
            throw APIError(rejections[0].status, "line \(rejections[0].line): \(rejections[0].reason) (nothing was written: all_or_nothing)", extra: summary)
        case let .appended(results, repeated):
            let appended = results.filter { !$0.result.isDuplicate }.count
            Metrics.Counter(label: "reel_appends_total").increment(by: Int64(appended))
            let last = results.map(\.result.lastPosition).max() ?? 0
            return Response.json(
                .object(Self.summary(appended: appended, duplicates: results.count - appended + repeated.count, rejections: [], last: last, head: nil)))
        }
    }

    /// The whole body, at most `limit` bytes (`413` beyond), arriving within `seconds` (`408` when a part of it comes
    /// later than that; a connection on which nothing arrives for that long is closed by the server's idle timeout). No
    /// task or timer per request: the deadline is checked as each part arrives.
    static func collect(_ request: Request, limit: Int, seconds: Double) async throws -> ByteBuffer {
        let deadline = ContinuousClock.now + .seconds(seconds)
        var buffer = ByteBuffer()
        for try await part in request.body {
            guard buffer.readableBytes + part.readableBytes <= limit else {
                throw APIError(.contentTooLarge, "the body is longer than \(limit) bytes")
            }
            var part = part
            buffer.writeBuffer(&part)
            if ContinuousClock.now > deadline { throw APIError(.requestTimeout, "the body did not arrive within \(seconds) s") }
        }
        return buffer
    }

    static func countRejection(_ rejection: Rejection) {
        let reason = switch rejection.status {
        case .conflict: "conflict"
        case .unprocessableContent: "rule"
        default: "malformed"
        }
        Metrics.Counter(label: "reel_rejections_total", dimensions: [("reason", reason)]).increment()
    }

    /// What `reel append` prints, and each rejected line's number, reason and status.
    static func summary(appended: Int, duplicates: Int, rejections: [Rejection], last: UInt64, head: UInt64?) -> JSONObject {
        var object = JSONObject()
        object.set("appended", .number(JSONNumber(appended)))
        object.set("duplicates", .number(JSONNumber(duplicates)))
        object.set("rejected", .number(JSONNumber(rejections.count)))
        object.set("last_position", .number(JSONNumber(Int(last == 0 ? head ?? 0 : last))))
        object.set(
            "rejections",
            .array(
                rejections.map { rejection in
                    var entry = JSONObject()
                    entry.set("line", .number(JSONNumber(rejection.line)))
                    entry.set("status", .number(JSONNumber(Int(rejection.status.code))))
                    entry.set("reason", .string(rejection.reason))
                    return .object(entry)
                }))
        return object
    }

    // MARK: Reading

    /// Envelopes as NDJSON, streamed a page at a time (a large read is never built in memory first).
    private func read(_ request: Request, _ context: ReelRequestContext) throws -> Response {
        try context.require(.read)
        let parameters = request.uri.queryParameters
        let from = try Self.number(parameters["from"], "from") ?? 1
        let limit = try Self.number(parameters["limit"], "limit") ?? UInt64(Int.max)
        let stream = parameters["stream"].map(String.init)
        let type = parameters["type"].map(String.init)
        let store = media.store
        return Response(
            status: .ok, headers: [.contentType: "application/x-ndjson"],
            body: ResponseBody { writer in
                // The log from `from` on; a stream from its first version, its events before `from` left out.
                var next = stream == nil ? max(from, 1) : 1
                var remaining = limit
                while remaining > 0 {
                    let page: [RecordedEvent]
                    if let stream {
                        page = try store.stream(stream, from: next, limit: 1_024)
                    } else {
                        page = try store.events(from: next, limit: 1_024)
                    }
                    guard let last = page.last else { break }
                    next = (stream == nil ? last.position : last.version) + 1
                    var text = ""
                    for event in page where event.position >= from && (type == nil || event.type == type) {
                        guard remaining > 0 else { break }
                        text += Envelope.render(event) + "\n"
                        remaining -= 1
                    }
                    if !text.isEmpty { try await writer.write(ByteBuffer(string: text)) }
                }
                try await writer.finish(nil)
            })
    }

    /// A true-or-false query parameter (`true`, `1`, `false`, `0`), false when absent; any other value is `400`, so that
    /// a misspelt flag is never taken silently for false.
    static func flag(_ value: Substring?, _ name: String) throws -> Bool {
        switch value {
        case nil, "false"?, "0"?: return false
        case "true"?, "1"?: return true
        case let value?: throw APIError(.badRequest, "\(name) \"\(value.prefix(100))\" is not true, false, 1 or 0")
        }
    }

    /// A non-negative integer query parameter, or nil when absent.
    static func number(_ value: Substring?, _ name: String) throws -> UInt64? {
        guard let value else { return nil }
        guard let number = UInt64(value) else { throw APIError(.badRequest, "\(name) \"\(value.prefix(100))\" is not a non-negative integer") }
        return number
    }
}

/// The outcomes of a body's lines, answered by the writer thread in any order; `all()` returns them in line order once
/// every one is in.
final class Outcomes: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [(Int, Result<AppendResult, any Error>)?]
    private var remaining: Int
    private var continuation: CheckedContinuation<Void, Never>?

    init(count: Int) {
        results = Array(repeating: nil, count: count)
        remaining = count
    }

    func answer(_ index: Int, _ line: Int, _ outcome: Result<AppendResult, any Error>) {
        let resume: CheckedContinuation<Void, Never>? = lock.withLock {
            results[index] = (line, outcome)
            remaining -= 1
            guard remaining == 0 else { return nil }
            defer { continuation = nil }
            return continuation
        }
        resume?.resume()
    }

    func all() async -> [(Int, Result<AppendResult, any Error>)] {
        await withCheckedContinuation { continuation in
            let done = lock.withLock {
                if remaining == 0 { return true }
                self.continuation = continuation
                return false
            }
            if done { continuation.resume() }
        }
        return lock.withLock { results.map { $0! } }
    }
}
