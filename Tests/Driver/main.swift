// A second process for the multi-process tests, and the soak run:
//
//   reel-test-driver append STORE COUNT STREAM-PREFIX BATCH [--rate EVENTS-PER-SECOND]
//   reel-test-driver media-append STORE COUNT [--tasks N] [--batch MAX] [--seed S]
//   reel-test-driver media-lines COUNT [--seed S]
//   reel-test-driver check STORE --until FILE
//   reel-test-driver soak STORE [--minutes M] [--interval SECONDS] [--tasks N] [--rebuild-every SECONDS]
//
// `append` appends COUNT events, BATCH per call, from 4 concurrent tasks, to streams STREAM-PREFIX-0…7, with the
// `EventTypeIndex` projection, and prints one line `ack <position> <id> <payload bytes>` per acknowledged event, then
// `done`. Each event's correlation id is `batch-<uuid>-<size>`, shared by the events of one append call, so a crash
// test can check that every batch is stored whole or not at all.
//
// The media commands are in `MediaCommands.swift`, the soak run in `Soak.swift`, `pages` and `state` (what a data file
// holds, for the page-damage tests) in `StoreFile.swift`.
import EventStore
import Foundation

await Driver.main()

struct Driver {
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        switch arguments.first {
        case "append": await engineAppend(Array(arguments.dropFirst()))
        case "media-append": await mediaAppend(Options(Array(arguments.dropFirst())))
        case "media-lines": mediaLines(Options(Array(arguments.dropFirst())))
        case "check": check(Options(Array(arguments.dropFirst())))
        case "soak": await Soak(Options(Array(arguments.dropFirst()))).run()
        case "pages": pages(Array(arguments.dropFirst()))
        case "state": state(Array(arguments.dropFirst()))
        default: fail("usage: reel-test-driver append|media-append|media-lines|check|soak|pages|state … (see Tests/Driver/main.swift)", status: 2)
        }
    }

    static func engineAppend(_ arguments: [String]) async {
        let options = Options(arguments)
        let positional = options.positional
        guard positional.count == 4, let count = Int(positional[1]), let batch = Int(positional[3]), batch > 0 else {
            fail("usage: reel-test-driver append STORE COUNT STREAM-PREFIX BATCH [--rate EVENTS-PER-SECOND]", status: 2)
        }
        let prefix = positional[2]
        // With --rate, one task appends its batches at that pace (events per second), each acknowledged as it returns.
        let rate: Double? = options.named["rate"].flatMap(Double.init)
        do {
            let store = try Store.open(at: positional[0], projections: [EventTypeIndex()])
            let tasks = rate == nil ? 4 : 1
            let started = ContinuousClock.now
            let output = OutputLock()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for task in 0..<tasks {
                    group.addTask {
                        var sent = 0
                        let share = count / tasks + (task < count % tasks ? 1 : 0)
                        while sent < share {
                            let n = min(batch, share - sent)
                            if let rate {
                                let due = started + .seconds(Double(sent) / rate)
                                if due > .now { try await Task.sleep(until: due, clock: .continuous) }
                            }
                            let tag = "batch-\(UUID.timeOrdered().lowercased)-\(n)"
                            let events = (0..<n).map { i in
                                NewEvent(
                                    stream: "\(prefix)-\((task + i) % 8)", type: "driver.appended",
                                    payload: Array("{\"task\":\(task),\"n\":\(sent + i)}".utf8),
                                    metadata: EventMetadata(actor: "driver-\(ProcessInfo.processInfo.processIdentifier)", correlationID: tag)
                                )
                            }
                            let result = try await store.append(events)
                            output.write(zip(result.positions, events).map { "ack \($0) \($1.id.lowercased) \($1.payload.count)\n" }.joined())
                            sent += n
                        }
                    }
                }
                try await group.waitForAll()
            }
            try store.close()
            output.write("done\n")
        } catch {
            fail("reel-test-driver: \(error)", status: 1)
        }
    }
}

/// Writes whole lines to standard output from many tasks.
final class OutputLock: @unchecked Sendable {
    private let lock = NSLock()
    func write(_ text: String) {
        lock.withLock { FileHandle.standardOutput.write(Data(text.utf8)) }
    }
}

/// Prints `message` on standard error and exits.
func fail(_ message: String, status: Int32) -> Never {
    FileHandle.standardError.write(Data((message + "\n").utf8))
    exit(status)
}

/// Positional arguments and `--name value` options.
struct Options {
    var positional: [String] = []
    var named: [String: String] = [:]

    init(_ arguments: [String]) {
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument.hasPrefix("--"), index + 1 < arguments.count {
                named[String(argument.dropFirst(2))] = arguments[index + 1]
                index += 2
            } else {
                positional.append(argument)
                index += 1
            }
        }
    }

    func number<T: LosslessStringConvertible>(_ name: String, _ fallback: T) -> T {
        guard let text = named[name] else { return fallback }
        guard let value = T(text) else { fail("--\(name) \(text) is not a number", status: 2) }
        return value
    }
}
