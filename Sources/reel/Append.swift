import ArgumentParser
import EventStore
import Foundation
import MediaPipeline
import Synchronization

/// `reel append [FILE|-] [--all-or-nothing] [--no-sync]` — appends NDJSON input lines.
///
/// Each line is its own batch: lines are parsed as they are read and queued in order into the group-commit writer,
/// which commits many of them per transaction, so a rejected line stops nothing and a killed append leaves a prefix of
/// the accepted lines. Memory stays flat: at most ``window`` lines, and at most ``byteWindow`` bytes of lines (one line
/// at least), are in flight.
struct Append: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Append NDJSON input lines: {\"type\", \"data\", \"id\"?, \"expected_version\"?, \"metadata\"?}.",
        discussion: """
            Each line is one event: {"type": TYPE, "data": {…}}, optionally with "id",
            "expected_version" and "metadata". `reel events` lists the event types;
            `reel events TYPE` gives a type's fields, stream, rules and an example
            line. docs/EVENTS.md has them all.

            A rejected line is reported on stderr as `line N: <reason>`; the others are
            still appended (unless --all-or-nothing), and the command exits 1. It
            prints {"appended","duplicates","rejected","last_position"}.
            """
    )

    @OptionGroup var location: StoreLocation
    @Argument(help: "The input file; `-` or nothing for standard input.") var file: String?
    @Flag(help: "One transaction: nothing is written if any line fails.") var allOrNothing = false
    @Flag(
        help: "Sync each commit's pages but not its meta page, one fdatasync instead of two (bulk loads): a system crash may undo the last commit, never the store's integrity."
    ) var noSync = false

    /// The writer's largest group for this bulk load (``StoreOptions/maxEventsPerGroup``): three times the library's
    /// default. A durable 1M-event append took 6.0–6.4 s instead of 7.2–7.8 s, for a peak heap of about 735 MB instead
    /// of 325 MB; 131,072 took 6.3–6.5 s, 262,144 was slower again.
    static let maxEventsPerGroup = StoreOptions.bulkLoadMaxEventsPerGroup

    /// Lines queued but not yet committed, at most: one and a half of the writer's largest group, so that the next
    /// group is read while one commits (groups then settle at about half the window).
    static let window = maxEventsPerGroup * 3 / 2

    /// Bytes of input lines in flight, at most (a longer line still goes, alone): lines of a few hundred bytes fill
    /// ``window`` first, but a file of megabyte lines would otherwise hold `window` of them. Each line in flight costs
    /// about three times its length (its decoded event, its canonical payload, its record): 1,500 lines of 1 MB peaked at
    /// 2.8 GB of heap before this bound and at 0.7 GB with it (and took 5.3 s instead of 9.8).
    static let byteWindow = 128 << 20

    func run() async throws {
        let descriptor = try openInput()
        defer { if descriptor != 0 { close(descriptor) } }
        let media = try openStore(
            location, readOnly: false, durability: noSync ? .deferred : .synced, maxEventsPerGroup: allOrNothing ? nil : Self.maxEventsPerGroup)
        let tally = Tally(byteWindow: Self.byteWindow)
        // Where the log stood before: the floor of where to look for what an unconfirmed commit may have stored.
        let headBefore = (try? media.store.head()) ?? 0
        var reader = LineReader(descriptor: descriptor, name: file.flatMap { $0 == "-" ? nil : $0 } ?? "standard input")
        if allOrNothing {
            try await appendAtomically(&reader, media, tally)
        } else {
            try await appendStreaming(&reader, media, tally)
        }
        let head = try? media.store.head()
        let closing = Result { try media.close() }
        let summary = tally.summary(head: head)
        print(#"{"appended":\#(summary.appended),"duplicates":\#(summary.duplicates),"rejected":\#(summary.rejected),"last_position":\#(summary.lastPosition)}"#)
        if let failure = tally.storeFailure {
            // Everything acknowledged before the failure is stored; nothing after the failed line's group was written.
            if case .logOfRecord(.outcomeUnknown) = failure.error {
                let from = max(summary.appended + summary.duplicates > 0 ? summary.lastPosition : 0, headBefore) + 1
                warn(
                    "line \(failure.line): not confirmed, and reading stopped there: the lines of its group (from line \(failure.line) on) may or "
                        + "may not be stored, and none after them is; lines without an \"id\" were given new ids, so read the log (`reel read "
                        + "--store \(shellQuoted(location.path)) --postgres URL --from \(from)`) before appending them again")
            } else {
                warn("line \(failure.line): not appended, and reading stopped there: the store failed")
            }
            throw failure.error
        }
        try closing.get()
        if summary.rejected > 0 { throw Exit.rejected }
    }

    private func openInput() throws -> Int32 {
        guard let file, file != "-" else { return 0 }
        return try openInputFile(file, kind: "a file of NDJSON input lines")
    }

    private func parse(_ line: LineReader.Line, _ number: Int, _ tally: Tally) -> MediaStore.Input? {
        switch line {
        case let .tooLong(bytes):
            tally.reject(number, "the line is \(bytes) bytes, longer than \(LineReader.maxLineBytes)")
            return nil
        case let .text(bytes):
            guard bytes.contains(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0D }) else { return nil }  // blank
            do {
                return try InputLine.parse(bytes)
            } catch {
                tally.reject(number, "\(error)")
                return nil
            }
        }
    }

    private final class Resolver { var value = StreamResolver() }
    private struct StopReading: Error {}

    private func appendStreaming(_ reader: inout LineReader, _ media: MediaStore, _ tally: Tally) async throws {
        let resolver = Resolver()
        do {
            try readLines(&reader, media, tally, resolver)
        } catch is StopReading {
        } catch {
            // Reading failed (an I/O error): the lines queued are still answered, and every rejection held for them
            // printed, before the command fails.
            tally.waitForRoom(lines: 1, bytes: 0)
            tally.flush()
            throw error
        }
        tally.waitForRoom(lines: 1, bytes: 0)
    }

    private func readLines(_ reader: inout LineReader, _ media: MediaStore, _ tally: Tally, _ resolver: Resolver) throws {
        // Once a line failed for the store's sake, the lines queued after it are withdrawn: with a log of record that
        // was unavailable for a moment, they would otherwise land after a gap in the input.
        let withdrawal = tally.withdrawal
        try reader.forEach { number, line in
            guard let input = parse(line, number, tally) else { return }
            let prepared: ([NewEvent], [String: ExpectedVersion])
            do {
                prepared = try media.prepare([input], resolver: &resolver.value)
            } catch {
                tally.reject(number, "\(error)")
                return
            }
            let size: Int
            if case let .text(bytes) = line { size = bytes.count } else { size = 0 }
            tally.waitForRoom(lines: Self.window, bytes: size)
            // The store failed (a full disk): the lines after this one would fail the same way. Stop reading.
            if tally.storeFailure != nil { throw StopReading() }
            tally.started(number, bytes: size)
            media.store.enqueue(prepared.0, expected: prepared.1, withdrawal: withdrawal) { outcome in
                tally.finished(number, outcome, bytes: size)
            }
        }
    }

    private func appendAtomically(_ reader: inout LineReader, _ media: MediaStore, _ tally: Tally) async throws {
        var inputs: [(line: Int, input: MediaStore.Input)] = []
        try reader.forEach { number, line in
            if let input = parse(line, number, tally) { inputs.append((number, input)) }
        }
        guard tally.summary(head: nil).rejected == 0 else { return }
        switch try await media.appendAtomically(inputs) {
        case let .refused(lines, atCommit):
            for (number, reason) in lines { tally.reject(number, atCommit ? "\(reason) (nothing was written: --all-or-nothing)" : "\(reason)") }
        case let .appended(results, repeated):
            for (number, result) in results { tally.finished(number, .success(result)) }
            for _ in repeated { tally.repeatedLine() }
        }
    }
}

/// Counts outcomes and lines in flight; prints each rejection on stderr naming its line, in line order.
final class Tally: Sendable {
    private struct State {
        var appended = 0
        var duplicates = 0
        var rejected = 0
        var lastPosition: UInt64 = 0
        /// The first line the store itself failed (a full disk), and how.
        var storeFailure: (line: Int, error: EventStoreError)?
        /// The lines queued and not answered yet, in the order queued (ascending), from `oldest` on.
        var queued: [Int] = []
        var oldest = 0
        /// Rejections found while reading a line after lines still in flight: held until those are answered, so that
        /// stderr lists rejections in line order (the writer answers lines in the order queued).
        var held: [(line: Int, message: String)] = []

        /// The first line still waiting for the writer, if any.
        var firstQueued: Int? { oldest < queued.count ? queued[oldest] : nil }

        /// Prints the held rejections of lines before the first one in flight (all of them when none is).
        mutating func release() {
            let bound = firstQueued ?? .max
            guard let first = held.first, first.line < bound else { return }
            let ready = held.prefix { $0.line < bound }
            for (line, message) in ready { warn("line \(line): \(message)") }
            held.removeFirst(ready.count)
        }
    }

    var storeFailure: (line: Int, error: EventStoreError)? { state.withLock { $0.storeFailure } }

    /// Whether a line failed for the store's sake: read by the writer for every line it takes, without a lock.
    private let failed = Atomic<Bool>(false)

    /// For ``Store/enqueue(_:expected:withdrawal:completion:)``: the store's failure, once a line met one.
    var withdrawal: @Sendable () -> (any Error)? {
        { [self] in failed.load(ordering: .acquiring) ? storeFailure?.error : nil }
    }

    private let state = Locked(State())
    /// Guards `inFlight`, `inFlightBytes`, `waitingBelow` and `waitingBytes`.
    private let room = NSCondition()
    /// Bytes of lines in flight, at most (one line at least).
    private let byteWindow: Int
    /// Lines queued but not answered yet, and their bytes.
    nonisolated(unsafe) private var inFlight = 0
    nonisolated(unsafe) private var inFlightBytes = 0
    /// What the reader waits for (see `hasRoom`); `waitingBelow` is 0 when it is not waiting.
    nonisolated(unsafe) private var waitingBelow = 0
    nonisolated(unsafe) private var waitingBytes = 0

    init(byteWindow: Int = .max) { self.byteWindow = byteWindow }

    func reject(_ line: Int, _ message: String) {
        state.withLock { state in
            state.rejected += 1
            if let first = state.firstQueued, first < line {
                state.held.append((line, message))  // lines are read in order: `held` stays sorted
            } else {
                warn("line \(line): \(message)")
            }
        }
    }

    /// Line `line` (of `bytes` bytes) was queued for the writer.
    func started(_ line: Int, bytes: Int) {
        state.withLock { $0.queued.append(line) }
        room.lock()
        inFlight += 1
        inFlightBytes += bytes
        room.unlock()
    }

    /// A line that repeats an earlier line of the same atomic input: a duplicate, as it would be line by line.
    func repeatedLine() { state.withLock { $0.duplicates += 1 } }

    func finished(_ line: Int, _ outcome: Result<AppendResult, any Error>, bytes: Int = 0) {
        switch outcome {
        case let .success(result):
            state.withLock { state in
                if result.isDuplicate { state.duplicates += 1 } else { state.appended += 1 }
                state.lastPosition = max(state.lastPosition, result.lastPosition)
            }
        case let .failure(error as EventStoreError) where error.meansStoreUnusable:
            // The store, not the line, failed: reported once, as the command's error.
            state.withLock { state in
                if state.storeFailure == nil || line < state.storeFailure!.line { state.storeFailure = (line, error) }
            }
            failed.store(true, ordering: .releasing)
        case let .failure(error):
            reject(line, "\(error)")
        }
        state.withLock { state in
            guard let index = state.queued[state.oldest...].firstIndex(of: line) else { return }
            if index == state.oldest {
                state.oldest += 1
            } else {
                state.queued.remove(at: index)  // answered out of order: not expected of the one writer, but harmless
            }
            if state.oldest > 4_096, state.oldest * 2 > state.queued.count {
                state.queued.removeFirst(state.oldest)
                state.oldest = 0
            }
            state.release()
        }
        room.lock()
        inFlight -= 1
        inFlightBytes -= bytes
        // Wake the reader only when there is room for it (not once per answered line: the writer answers a whole
        // group at a time, and each wake-up would cost a context switch).
        if waitingBelow > 0, hasRoom(lines: waitingBelow, bytes: waitingBytes) { room.signal() }
        room.unlock()
    }

    /// Whether fewer than `lines` lines are in flight and a line of `bytes` more fits in the byte window (or nothing is
    /// in flight, so that a line longer than the window still goes). Called with `room` locked.
    private func hasRoom(lines: Int, bytes: Int) -> Bool {
        inFlight < lines && (inFlightBytes == 0 || inFlightBytes + bytes <= byteWindow)
    }

    /// Blocks until fewer than `lines` lines are in flight and a line of `bytes` fits in the byte window (the writer
    /// thread answers on its own, so this cannot deadlock; it only holds the reading thread back).
    func waitForRoom(lines: Int, bytes: Int) {
        room.lock()
        (waitingBelow, waitingBytes) = (lines, bytes)
        while !hasRoom(lines: lines, bytes: bytes) { room.wait() }
        (waitingBelow, waitingBytes) = (0, 0)
        room.unlock()
    }

    /// Prints the rejections still held (once no line is in flight, all of them).
    func flush() { state.withLock { $0.release() } }

    func summary(head: UInt64?) -> (appended: Int, duplicates: Int, rejected: Int, lastPosition: UInt64) {
        state.withLock { state in
            state.release()
            return (state.appended, state.duplicates, state.rejected, state.lastPosition == 0 ? head ?? 0 : state.lastPosition)
        }
    }
}
