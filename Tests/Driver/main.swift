// A second process for the engine's multi-process tests: appends events to a store while the test appends too.
//
//   reel-test-driver append STORE COUNT STREAM-PREFIX BATCH
//
// Appends COUNT events, BATCH per call, from 4 concurrent tasks, to streams STREAM-PREFIX-0…7, with the
// `EventTypeIndex` projection, and prints one line `ack <position> <id>` per acknowledged event, then `done`.
// Each event's correlation id is `batch-<uuid>-<size>`, shared by the events of one append call, so a crash test can
// check that every batch is stored whole or not at all.
import EventStore
import Foundation

@main
struct Driver {
    static func main() async {
        let arguments = CommandLine.arguments
        guard arguments.count == 6, arguments[1] == "append", let count = Int(arguments[3]), let batch = Int(arguments[5]), batch > 0 else {
            FileHandle.standardError.write(Data("usage: reel-test-driver append STORE COUNT STREAM-PREFIX BATCH\n".utf8))
            exit(2)
        }
        let prefix = arguments[4]
        do {
            let store = try Store.open(at: arguments[2], projections: [EventTypeIndex()])
            let tasks = 4
            let output = OutputLock()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for task in 0..<tasks {
                    group.addTask {
                        var sent = 0
                        let share = count / tasks + (task < count % tasks ? 1 : 0)
                        while sent < share {
                            let n = min(batch, share - sent)
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
            FileHandle.standardError.write(Data("reel-test-driver: \(error)\n".utf8))
            exit(1)
        }
    }
}

final class OutputLock: @unchecked Sendable {
    private let lock = NSLock()
    func write(_ text: String) {
        lock.withLock { FileHandle.standardOutput.write(Data(text.utf8)) }
    }
}
