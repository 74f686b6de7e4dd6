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
        case running(stop: Int32, exited: DispatchSemaphore)
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
            let (reading, writing) = (pipe[0], pipe[1])
            let exited = DispatchSemaphore(value: 0)
            // The thread owns the watch and the pipe's reading end until it exits; `stop()` closes the writing end once
            // the thread has read its byte, so a write never meets a closed pipe (no SIGPIPE).
            let thread = Thread {
                Self.run(watch: watch, stop: reading, head: head, publish: publish)
                close(watch)
                close(reading)
                exited.signal()
            }
            thread.name = "reel.commit-watcher"
            thread.start()
            state = .running(stop: writing, exited: exited)
            return true
        }
    }

    /// Stops the watch (it cannot start again) and waits for its thread to end.
    func stop() {
        let running: (Int32, DispatchSemaphore)? = lock.withLock {
            defer { state = .stopped }
            if case let .running(stop, exited) = state { return (stop, exited) }
            return nil
        }
        guard let (writing, exited) = running else { return }
        var byte: UInt8 = 1
        _ = write(writing, &byte, 1)
        exited.wait()
        close(writing)
    }

    deinit { stop() }

    /// Until the stop byte arrives: wake on each batch of writes to the file, read the head, publish it when it moved.
    /// The head is read once as the watch starts too, for a commit made before the watch existed. A failed read (the
    /// store closing, a reader slot not free) is let be: the next write, or the subscribers' timer, tries again.
    private static func run(watch: Int32, stop: Int32, head: () -> UInt64?, publish: (UInt64) -> Void) {
        var descriptors = [pollfd(fd: watch, events: Int16(POLLIN), revents: 0), pollfd(fd: stop, events: Int16(POLLIN), revents: 0)]
        var buffer = [UInt8](repeating: 0, count: 4096)
        var last: UInt64 = 0
        if let position = head() {
            last = position
            publish(position)
        }
        while true {
            let ready = poll(&descriptors, 2, -1)
            if ready < 0 {
                if errno == EINTR { continue }
                // Nothing to wait on: wait for the stop byte alone.
                var byte: UInt8 = 0
                while read(stop, &byte, 1) < 0, errno == EINTR || errno == EAGAIN { usleep(100_000) }
                return
            }
            if descriptors[1].revents != 0 { return }
            guard descriptors[0].revents & Int16(POLLIN) != 0 else { continue }
            // Everything queued so far, then one read of the head for all of it.
            while buffer.withUnsafeMutableBytes({ read(watch, $0.baseAddress, $0.count) }) > 0 {}
            guard let position = head() else { continue }
            if position != last {
                last = position
                publish(position)
            }
        }
    }
}
