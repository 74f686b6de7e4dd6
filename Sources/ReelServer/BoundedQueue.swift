import Foundation

/// A queue of at most `capacity` elements between one producer and one consumer: the producer waits while it is full
/// (so a subscription that reads the log faster than its client takes it holds no more than `capacity` events), the
/// consumer waits while it is empty, for at most a given time.
final class BoundedQueue<Element: Sendable>: @unchecked Sendable {
    enum Next {
        case element(Element)
        /// Nothing came within the time given.
        case idle
        /// The producer finished (with an error, if it failed); nothing more will come.
        case finished((any Error)?)
    }

    private let capacity: Int
    private let lock = NSLock()
    private var elements: [Element] = []
    private var head = 0
    private var finished: ((any Error)?)?
    private var consumer: (id: Int, continuation: CheckedContinuation<Next, Never>)?
    private var producer: CheckedContinuation<Void, Never>?
    private var waits = 0
    private var expired = 0

    init(capacity: Int) { self.capacity = max(1, capacity) }

    private var count: Int { elements.count - head }

    /// Adds an element, waiting while the queue is full. Returns false once the consumer has gone (``close()``).
    func push(_ element: Element) async -> Bool {
        while true {
            let outcome: (resume: CheckedContinuation<Next, Never>?, wait: Bool, closed: Bool) = lock.withLock {
                if finished != nil { return (nil, false, true) }
                if let consumer {
                    self.consumer = nil
                    return (consumer.continuation, false, false)
                }
                if count < capacity {
                    elements.append(element)
                    return (nil, false, false)
                }
                return (nil, true, false)
            }
            if outcome.closed { return false }
            if let resume = outcome.resume {
                resume.resume(returning: .element(element))
                return true
            }
            if !outcome.wait { return true }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = lock.withLock {
                    if finished != nil || count < capacity { return true }
                    producer = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
    }

    /// Ends the queue: the consumer takes what is left, then ``Next/finished(_:)``.
    func finish(_ error: (any Error)? = nil) {
        let (consumer, producer): (CheckedContinuation<Next, Never>?, CheckedContinuation<Void, Never>?) = lock.withLock {
            if finished == nil { finished = .some(error) }
            defer { self.producer = nil }
            guard count == 0, let waiting = self.consumer else { return (nil, self.producer) }
            self.consumer = nil
            return (waiting.continuation, self.producer)
        }
        consumer?.resume(returning: .finished(error))
        producer?.resume()
    }

    /// The consumer's side is closing: a waiting producer is let go, later pushes return false.
    func close() { finish(nil) }

    /// The next element, or ``Next/idle`` when none came within `timeout`.
    func next(timeout: Duration) async -> Next {
        let (ready, id): (Next?, Int) = lock.withLock {
            if count > 0 {
                let element = elements[head]
                head += 1
                if head > 1_024, head * 2 > elements.count {
                    elements.removeFirst(head)
                    head = 0
                }
                let producer = self.producer
                self.producer = nil
                producer?.resume()
                return (.element(element), 0)
            }
            if let finished { return (.finished(finished), 0) }
            waits += 1
            return (nil, waits)
        }
        if let ready { return ready }
        return await withTaskGroup(of: Void.self) { group -> Next in
            // The timer may fire before the consumer is registered: it then marks the wait expired.
            group.addTask { [self] in
                try? await Task.sleep(for: timeout)
                let waiting: CheckedContinuation<Next, Never>? = lock.withLock {
                    guard let consumer, consumer.id == id else {
                        if !Task.isCancelled { expired = id }
                        return nil
                    }
                    self.consumer = nil
                    return consumer.continuation
                }
                waiting?.resume(returning: .idle)
            }
            let result = await withCheckedContinuation { (continuation: CheckedContinuation<Next, Never>) in
                let early: Next? = lock.withLock {
                    if count > 0 || finished != nil || expired == id { return .idle }
                    consumer = (id, continuation)
                    return nil
                }
                if let early { continuation.resume(returning: early) }
            }
            group.cancelAll()
            if case .idle = result, lock.withLock({ count > 0 || finished != nil }) { return await next(timeout: timeout) }
            return result
        }
    }
}
