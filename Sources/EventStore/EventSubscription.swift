/// The events of a store from a position on: first those already stored, then new ones as they are committed.
///
/// Delivery follows this process's commits at once, and other processes' as soon as the kernel reports their writes to
/// `data.mdb` (an inotify watch; where there is none, within about a second).
/// Iteration ends (returns `nil`) when the store is closed or the iterating task is cancelled.
public struct EventSubscription: AsyncSequence, Sendable {
    public typealias Element = RecordedEvent

    let store: Store
    let start: UInt64

    /// How many events one read transaction fetches while catching up.
    static let page = 512

    public func makeAsyncIterator() -> Iterator { Iterator(store: store, next: start) }

    public struct Iterator: AsyncIteratorProtocol {
        let store: Store
        var next: UInt64
        var buffer: [RecordedEvent] = []
        var index = 0

        init(store: Store, next: UInt64) {
            self.store = store
            self.next = next
        }

        public mutating func next() async throws -> RecordedEvent? {
            while true {
                if index < buffer.count {
                    defer { index += 1 }
                    return buffer[index]
                }
                if Task.isCancelled { return nil }
                do {
                    buffer = try store.events(from: next, limit: EventSubscription.page)
                } catch EventStoreError.closed {
                    // Closed while this subscriber was behind, or just after it was woken by the close: it ends, as
                    // it does when the close finds it waiting.
                    return nil
                }
                index = 0
                if let last = buffer.last {
                    next = last.position + 1
                    continue
                }
                if store.notifier.isClosed { return nil }
                let notifier = store.notifier
                let after = next - 1
                store.watcher.start()
                // Wake on a commit (this process's, or another's through the watch), or after a second in any case.
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await notifier.wait(beyond: after) }
                    let fallback = store.options.subscriptionFallback
                    group.addTask { try? await Task.sleep(for: fallback) }
                    await group.next()
                    group.cancelAll()
                }
            }
        }
    }
}
