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
            from = position + 1
        }
        guard subscribers.enter() else {
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
                defer { subscribers.leave() }
                let queue = BoundedQueue<RecordedEvent>(capacity: configuration.subscriberBuffer)
                let progress = WriteProgress()
                let reason: String = await withTaskGroup(of: Void.self) { group in
                    // The log, read at the client's pace.
                    group.addTask {
                        do {
                            for try await event in subscription { guard await queue.push(event) else { return } }
                            queue.finish(Ended(reason: "the store closed"))
                        } catch {
                            queue.finish(Ended(reason: "the subscription failed: \(error)"))
                        }
                    }
                    // The client must take what is written: one that takes nothing for too long is let go.
                    group.addTask {
                        while !Task.isCancelled {
                            try? await Task.sleep(for: .seconds(1))
                            if let started = progress.started, ContinuousClock.now - started > .seconds(configuration.slowSubscriberTimeout) {
                                queue.finish(Ended(reason: "the client took nothing for \(Int(configuration.slowSubscriberTimeout)) s"))
                                return
                            }
                        }
                    }
                    // Shutdown ends every subscription, so that the server can finish.
                    group.addTask {
                        await subscribers.shutdown.wait()
                        if !Task.isCancelled { queue.finish(Ended(reason: "shutdown")) }
                    }
                    let heartbeat = Duration.seconds(configuration.heartbeat)
                    var batch = ""
                    var reason = "the client went away"
                    writing: while true {
                        switch await queue.next(timeout: batch.isEmpty ? heartbeat : .zero) {
                        case let .element(event):
                            batch += "id: \(event.position)\nevent: event\ndata: \(Envelope.render(event))\n\n"
                            if batch.utf8.count < 64 << 10 { continue }
                        case .idle:
                            if batch.isEmpty { batch = ": heartbeat\n\n" }
                        case let .finished(error):
                            reason = (error as? Ended)?.reason ?? "the subscription ended"
                            if !batch.isEmpty { try? await writer.write(ByteBuffer(string: batch)) }
                            break writing
                        }
                        progress.started = .now
                        do {
                            try await writer.write(ByteBuffer(string: batch))
                        } catch {
                            break writing
                        }
                        progress.started = nil
                        batch = ""
                    }
                    queue.close()
                    group.cancelAll()
                    return reason
                }
                logger.info("subscription ended", metadata: ["reason": .string(reason)])
                if reason != "the client went away" {
                    var end = JSONObject()
                    end.set("reason", .string(reason))
                    try? await writer.write(ByteBuffer(string: "event: end\ndata: \(String(decoding: JSONValue.object(end).jsonData, as: UTF8.self))\n\n"))
                }
                try? await writer.finish(nil)
            })
    }
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

    func enter() -> Bool {
        let count: Int? = lock.withLock {
            guard open < limit else { return nil }
            open += 1
            return open
        }
        if let count { gauge.record(count) }
        return count != nil
    }

    func leave() {
        gauge.record(lock.withLock {
            open -= 1
            return open
        })
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
