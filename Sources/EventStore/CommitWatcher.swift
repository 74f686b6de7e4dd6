import Foundation
import Glibc

/// Wakes this process's subscribers when *another* process commits to the store.
///
/// LMDB writes a commit's pages, and its meta page last, with `pwrite` to `data.mdb`; the kernel reports each write to
/// an inotify watch on the file (`IN_MODIFY`). So a watch costs the writer nothing — no call of its own per commit —
/// and a reader learns of a commit within a scheduling delay. On each wake the watcher drains what the kernel queued,
/// reads the head in a short read transaction, and publishes it; a wake before the meta page was written finds the old
/// head, and the meta page's own write wakes it again.
///
/// One thread per store, started by the first subscriber that has to wait, stopped when the store closes. Where inotify
/// is unavailable the subscribers' one-second timer remains (``EventSubscription``).
final class CommitWatcher: @unchecked Sendable {
    private let path: String
    private let head: @Sendable () -> UInt64?
    private let publish: @Sendable (UInt64) -> Void
    private let lock = NSLock()
    private var state: State = .idle

    private enum State {
        case idle
        case running(stop: Int32, thread: Thread)
        case stopped
    }

    /// - Parameters:
    ///   - dataFile: The store's `data.mdb`.
    ///   - head: Reads the current head (nil once the store is closed).
    ///   - publish: Hands a head to the subscribers.
    init(dataFile: String, head: @escaping @Sendable () -> UInt64?, publish: @escaping @Sendable (UInt64) -> Void) {
        path = dataFile
        self.head = head
        self.publish = publish
    }

    /// Starts the watch unless it runs or was stopped. Returns whether a watch is running.
    @discardableResult
    func start() -> Bool {
        lock.withLock {
            switch state {
            case .running: return true
            case .stopped: return false
            case .idle: break
            }
            let watch = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
            guard watch >= 0 else {
                state = .stopped
                return false
            }
            guard inotify_add_watch(watch, path, UInt32(IN_MODIFY)) >= 0 else {
                close(watch)
                state = .stopped
                return false
            }
            var pipe: [Int32] = [-1, -1]
            guard Glibc.pipe(&pipe) == 0 else {
                close(watch)
                state = .stopped
                return false
            }
            for end in pipe { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
            let (head, publish) = (self.head, self.publish)
            let reading = pipe[0]
            let thread = Thread {
                Self.run(watch: watch, stop: reading, head: head, publish: publish)
                close(watch)
                close(reading)
            }
            thread.name = "reel.commit-watcher"
            thread.start()
            state = .running(stop: pipe[1], thread: thread)
            return true
        }
    }

    /// Stops the watch (it cannot start again).
    func stop() {
        let writing: Int32? = lock.withLock {
            defer { state = .stopped }
            if case let .running(stop, _) = state { return stop }
            return nil
        }
        if let writing {
            var byte: UInt8 = 1
            _ = write(writing, &byte, 1)
            close(writing)
        }
    }

    deinit { stop() }

    private static func run(watch: Int32, stop: Int32, head: () -> UInt64?, publish: (UInt64) -> Void) {
        var descriptors = [pollfd(fd: watch, events: Int16(POLLIN), revents: 0), pollfd(fd: stop, events: Int16(POLLIN), revents: 0)]
        var buffer = [UInt8](repeating: 0, count: 4096)
        var last: UInt64 = 0
        while true {
            let ready = poll(&descriptors, 2, -1)
            if ready < 0 {
                if errno == EINTR { continue }
                return
            }
            if descriptors[1].revents != 0 { return }
            guard descriptors[0].revents & Int16(POLLIN) != 0 else { continue }
            // Everything queued so far, then one read of the head for all of it.
            while buffer.withUnsafeMutableBytes({ read(watch, $0.baseAddress, $0.count) }) > 0 {}
            guard let position = head() else { return }
            if position != last {
                last = position
                publish(position)
            }
        }
    }
}
