import EventStore
import Foundation
import MediaPipeline

extension Driver {
    /// `media-append STORE COUNT [--tasks N] [--batch MAX] [--seed S] [--rate EVENTS-PER-SECOND]`: appends COUNT domain events through
    /// `MediaStore` from N tasks (4), each its own production, in atomic batches of 1…MAX events (6); prints
    /// `ack <position> <id> <type>` per acknowledged event as soon as its append returns, then `done`. Any rejection is a
    /// failure (exit 1): every event of a production is valid.
    static func mediaAppend(_ options: Options) async {
        guard options.positional.count == 2, let count = Int(options.positional[1]) else {
            fail("usage: reel-test-driver media-append STORE COUNT [--tasks N] [--batch MAX] [--seed S]", status: 2)
        }
        let tasks: Int = options.number("tasks", 4)
        let batch: Int = max(1, options.number("batch", 6))
        let seed: UInt64 = options.number("seed", UInt64.random(in: 1...UInt64.max))
        // With --rate (events per second, over all tasks) each batch holds exactly --batch events, appended on schedule.
        let rate: Double? = options.named["rate"].flatMap(Double.init)
        let started = ContinuousClock.now
        let actor = "media-driver-\(ProcessInfo.processInfo.processIdentifier)"
        do {
            let media = try MediaStore.open(at: options.positional[0])
            let output = OutputLock()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for task in 0..<tasks {
                    group.addTask {
                        var production = MediaProduction(seed: seed &+ UInt64(task) &* 0x9E37_79B9)
                        var sizes = Xorshift(seed: seed ^ UInt64(task + 1))
                        var sent = 0
                        let share = count / tasks + (task < count % tasks ? 1 : 0)
                        while sent < share {
                            let n = rate == nil ? min(1 + Int(sizes.next() % UInt64(batch)), share - sent) : min(batch, share - sent)
                            if let rate {
                                let due = started + .seconds(Double(sent * tasks) / rate)
                                if due > .now { try await Task.sleep(until: due, clock: .continuous) }
                            }
                            let inputs = production.next(n).map { MediaStore.Input($0, metadata: EventMetadata(actor: actor)) }
                            let result = try await media.append(inputs)
                            output.write(zip(result.positions, inputs).map { "ack \($0) \($1.id.lowercased) \($1.event.type)\n" }.joined())
                            sent += n
                        }
                    }
                }
                try await group.waitForAll()
            }
            try media.close()
            output.write("done\n")
        } catch {
            fail("reel-test-driver media-append: \(error)", status: 1)
        }
    }

    /// `media-lines COUNT [--seed S]`: prints COUNT NDJSON input lines of one production, ids given, valid in order.
    static func mediaLines(_ options: Options) {
        guard options.positional.count == 1, let count = Int(options.positional[0]) else {
            fail("usage: reel-test-driver media-lines COUNT [--seed S]", status: 2)
        }
        var production = MediaProduction(seed: options.number("seed", UInt64.random(in: 1...UInt64.max)))
        var text = ""
        for _ in 0..<count {
            text += MediaStore.Input(production.next(), metadata: EventMetadata(actor: "reel-append")).inputLine
            text += "\n"
        }
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    /// `check STORE --until FILE`: a reader in its own process. Until FILE exists (and once more after), it checks
    /// the store in a read-only open, again and again: the log in one snapshot (`Store.verify`: positions, hash
    /// chain, versions, indexes, every projection's checkpoint equal to that snapshot's head), and every projection's
    /// tables in one snapshot against a fold of the log up to that snapshot's head (`Store.verifyProjections`).
    /// Prints `check <n> head <h> ok` or each problem, then `checked <n> snapshots, heads <first>…<last>, <p>
    /// problems`; exit 1 on any problem.
    static func check(_ options: Options) {
        guard options.positional.count == 1, let until = options.named["until"] else {
            fail("usage: reel-test-driver check STORE --until FILE", status: 2)
        }
        var storeOptions = StoreOptions()
        storeOptions.readOnly = true
        var media: MediaStore?
        // The store may not exist yet when the reader starts.
        let giveUp = Date().addingTimeInterval(60)
        while media == nil {
            do {
                media = try MediaStore.open(at: options.positional[0], options: storeOptions)
            } catch {
                if Date() > giveUp { fail("reel-test-driver check: \(error)", status: 3) }
                Thread.sleep(forTimeInterval: 0.02)
            }
        }
        let store = media!.store
        var (checks, problems) = (0, 0)
        var heads: [UInt64] = []
        var last = false
        while !last {
            last = FileManager.default.fileExists(atPath: until)
            do {
                let log = try store.verify()
                let head = try store.head()
                let folded = try store.verifyProjections()
                checks += 1
                heads.append(head)
                for problem in log + folded { print("problem at check \(checks): \(problem)") }
                problems += log.count + folded.count
                if log.isEmpty && folded.isEmpty { print("check \(checks) head \(head) ok") }
            } catch {
                print("problem at check \(checks + 1): \(error)")
                problems += 1
            }
        }
        print("checked \(checks) snapshots, heads \(heads.first ?? 0)…\(heads.last ?? 0), \(problems) problems")
        try? media?.close()
        exit(problems == 0 ? 0 : 1)
    }
}
