
/// Wakes in-process subscribers when the writer commits.
final class CommitNotifier: Sendable {
    private struct State {
        var head: UInt64
        var closed = false
        var nextWaiter = 0
        var waiters: [Int: (after: UInt64, continuation: CheckedContinuation<Void, Never>)] = [:]
    }

    private let state: Locked<State>

    init(head: UInt64) { state = Locked(State(head: head)) }

    /// Called by the writer after each commit.
    func publish(_ head: UInt64) {
        let ready = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.head = max(state.head, head)
            let due = state.waiters.filter { $0.value.after < state.head }
            for key in due.keys { state.waiters[key] = nil }
            return due.values.map(\.continuation)
        }
        for continuation in ready { continuation.resume() }
    }

    func close() {
        let all = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.closed = true
            defer { state.waiters.removeAll() }
            return state.waiters.values.map(\.continuation)
        }
        for continuation in all { continuation.resume() }
    }

    var isClosed: Bool { state.withLock { $0.closed } }

    /// Returns once a commit beyond `position` is known, the store closes, or the task is cancelled.
    func wait(beyond position: UInt64) async {
        let id = state.withLock { state -> Int in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.closed || state.head > position || Task.isCancelled { return true }
                    state.waiters[id] = (position, continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.continuation.resume()
        }
    }
}
