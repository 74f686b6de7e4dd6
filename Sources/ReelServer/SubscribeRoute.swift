import EventStore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import MediaPipeline
import Metrics
import ServiceLifecycle

/// `GET /v1/subscribe?from=P`: Server-Sent Events — every envelope from position P on (or, after a reconnect, from the
/// position after `Last-Event-ID`), then each new one as it is committed, by this process or another. Each event's id
/// is its position. An idle subscription gets a heartbeat comment every ``ServerConfiguration/heartbeat`` seconds.
///
/// A subscription reads the log at its client's pace: at most ``ServerConfiguration/subscriberBuffer`` events wait for
/// the client. A client that takes nothing for ``ServerConfiguration/slowSubscriberTimeout`` seconds is disconnected,
/// with the reason in the log and, if the connection still takes it, an `end` event; so is every subscription when the
/// service shuts down (reason `shutdown`).
struct SubscribeRoute {
    let media: MediaStore
    let configuration: ServerConfiguration
    let subscribers: Subscribers
    let logger: Logger

    func add(to router: Router<ReelRequestContext>) {
        router.get("/v1/subscribe") { request, context in try subscribe(request, context) }
    }

    private func subscribe(_ request: Request, _ context: ReelRequestContext) throws -> Response {
        try context.require(.read)
        var from = try EventRoutes.number(request.uri.queryParameters["from"], "from") ?? 1
        if let last = request.headers[.init("Last-Event-ID")!] {
            guard let position = UInt64(last.trimmingCharacters(in: .whitespaces)) else {
                throw APIError(.badRequest, "Last-Event-ID \"\(last.prefix(100))\" is not a position")
            }
            from = position == .max ? position : position + 1
        }
        // The slot is released when the answer is done with — written, or dropped unwritten (a client gone before its
        // head was sent).
        guard let slot = subscribers.enter() else {
            throw APIError(.serviceUnavailable, "\(configuration.maxSubscribers) subscriptions are open already, the most this service takes")
        }
        let (store, configuration, subscribers) = (media.store, configuration, subscribers)
        var requestLogger = logger
        requestLogger[metadataKey: "request_id"] = .string(context.requestID)
        let logger = requestLogger
        let subscription = store.subscribe(from: max(from, 1))
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache", .init("X-Accel-Buffering")!: "no"],
            body: ResponseBody { writer in
                defer { withExtendedLifetime(slot) {} }
                let queue = BoundedQueue<RecordedEvent>(capacity: configuration.subscriberBuffer)
                let progress = WriteProgress()
                // The writes run in a task of their own, so that a client that takes nothing — the write waits for it
                // — can be let go: that task is cancelled, and the answer ends with an error, which closes the
                // connection (no more is written to it).
                let connection = WriterBox(writer)
                let outcome: (reason: String, closeConnection: Bool) = await withTaskGroup(of: (String, Bool)?.self) { group in
                    // The log, read at the client's pace.
                    group.addTask {
                        do {
                            for try await event in subscription { guard await queue.push(event) else { return nil } }
                            queue.finish(Ended(reason: "the store closed"))
                        } catch {
                            queue.finish(Ended(reason: "the subscription failed: \(error)"))
                        }
                        return nil
                    }
                    // A write the client has not taken for too long.
                    group.addTask {
                        while !Task.isCancelled {
                            try? await Task.sleep(for: .seconds(1))
                            if let started = progress.started, ContinuousClock.now - started > .seconds(configuration.slowSubscriberTimeout) {
                                return ("the client took nothing for \(Int(configuration.slowSubscriberTimeout)) s", true)
                            }
                        }
                        return nil
                    }
                    // Shutdown: the writer says so to the client; one that does not take even that is let go.
                    group.addTask {
                        await subscribers.shutdown.wait()
                        if Task.isCancelled { return nil }
                        queue.finish(Ended(reason: "shutdown"))
                        try? await Task.sleep(for: .seconds(min(configuration.slowSubscriberTimeout, 5)))
                        return Task.isCancelled ? nil : ("shutdown", true)
                    }
                    group.addTask {
                        var writer = connection.writer
                        let heartbeat = Duration.seconds(configuration.heartbeat)
                        var batch = ""
                        while !Task.isCancelled {
                            var ended: String?
                            switch await queue.next(timeout: batch.isEmpty ? heartbeat : .zero) {
                            case let .element(event):
                                batch += "id: \(event.position)\nevent: event\ndata: \(Envelope.render(event))\n\n"
                                if batch.utf8.count < 64 << 10 { continue }
                            case .idle:
                                if batch.isEmpty { batch = ": heartbeat\n\n" }
                            case let .finished(error):
                                let reason = (error as? Ended)?.reason ?? "the subscription ended"
                                var end = JSONObject()
                                end.set("reason", .string(reason))
                                batch += "event: end\ndata: \(String(decoding: JSONValue.object(end).jsonData, as: UTF8.self))\n\n"
                                ended = reason
                            }
                            progress.started = .now
                            do {
                                try await writer.write(ByteBuffer(string: batch))
                            } catch {
                                return ("the client went away", true)
                            }
                            progress.started = nil
                            batch = ""
                            if let ended { return (ended, false) }
                        }
                        return nil
                    }
                    var outcome = ("the client went away", true)
                    for await ended in group {
                        if let ended {
                            outcome = ended
                            break
                        }
                    }
                    queue.close()
                    group.cancelAll()
                    return outcome
                }
                logger.info("subscription ended", metadata: ["reason": .string(outcome.reason)])
                if outcome.closeConnection { throw Ended(reason: outcome.reason) }
                try await writer.finish(nil)
            })
    }
}

/// The answer's writer, handed to the task that writes: one task writes at a time (the writing task, then, once it has
/// ended, the answer's own), as Hummingbird requires.
final class WriterBox: @unchecked Sendable {
    let writer: any ResponseBodyWriter
    init(_ writer: any ResponseBodyWriter) { self.writer = writer }
}

/// Why a subscription ended, handed from whoever ended it to the writing loop.
struct Ended: Error {
    let reason: String
}

/// When the last write to a subscriber started (nil while none is waiting).
final class WriteProgress: @unchecked Sendable {
    private let lock = NSLock()
    private var value: ContinuousClock.Instant?
    var started: ContinuousClock.Instant? {
        get { lock.withLock { value } }
        set { lock.withLock { value = newValue } }
    }
}

/// The open subscriptions: counted (at most the configured number, and the `reel_subscribers` gauge), and ended
/// together when the service shuts down.
final class Subscribers: @unchecked Sendable {
    private let lock = NSLock()
    private var open = 0
    private let limit: Int
    private let gauge = Gauge(label: "reel_subscribers")
    let shutdown = Signal()

    init(limit: Int) { self.limit = limit }

    /// A place for one more subscription, held until the returned slot is gone; nil when all are taken.
    func enter() -> Slot? {
        let count: Int? = lock.withLock {
            guard open < limit else { return nil }
            open += 1
            return open
        }
        guard let count else { return nil }
        gauge.record(count)
        return Slot(self)
    }

    fileprivate func leave() {
        gauge.record(lock.withLock {
            open -= 1
            return open
        })
    }

    /// One subscription's place: released when the last reference goes, whether its answer was written or dropped.
    final class Slot: Sendable {
        private let subscribers: Subscribers
        fileprivate init(_ subscribers: Subscribers) { self.subscribers = subscribers }
        deinit { subscribers.leave() }
    }
}

/// A one-time signal many tasks can wait for.
final class Signal: @unchecked Sendable {
    private let lock = NSLock()
    private var raised = false
    private var next = 0
    private var waiters: [Int: CheckedContinuation<Void, Never>] = [:]

    func raise() {
        let waiting: [CheckedContinuation<Void, Never>] = lock.withLock {
            raised = true
            defer { waiters = [:] }
            return Array(waiters.values)
        }
        for waiter in waiting { waiter.resume() }
    }

    /// Returns once raised (at once if it was), or when the waiting task is cancelled.
    func wait() async {
        let id: Int = lock.withLock {
            next += 1
            return next
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = lock.withLock {
                    if raised || Task.isCancelled { return true }
                    waiters[id] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            lock.withLock { waiters.removeValue(forKey: id) }?.resume()
        }
    }
}
