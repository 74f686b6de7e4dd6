import Foundation
import Testing

/// `reel import` that is killed, fails, or is given an export that was cut short or altered: it never leaves
/// something that passes for a store, and importing again starts over.
@Suite("Interrupted and refused imports")
struct ImportInterruptionTests {
    /// Events in the export the kill test imports: enough for the import to take a few seconds in a debug build.
    static let killedImportEvents = 20_000

    @Test("reel import killed with SIGKILL at random moments: no store, or one every command refuses naming the unfinished import; importing again starts over and restores every event")
    func killedImport() throws {
        let seed = testSeed("killedImport")
        var random = SeededGenerator(seed: seed)
        let (source, export) = try storeAndExport(events: Self.killedImportEvents)
        let target = temporaryStorePath()
        defer { remove(source); remove(export); remove(target); remove(target + ".out") }
        let expected = try Data(contentsOf: URL(fileURLWithPath: export))

        // One import whole, to learn how long one takes here (shortened below by any import that ends before its kill).
        let started = Date()
        let whole = try reel(["import", "--store", target, export])
        var duration = Date().timeIntervalSince(started)
        try #require(whole.status == 0, "\(whole)")
        remove(target)

        // Every other import runs into a new directory; the others run into what the killed one before them left, and
        // start over by themselves.
        var states: [String: Int] = [:]
        var kills = 0
        var leftUnfinished = false
        while kills < 20 || !leftUnfinished, kills < 40 {
            if kills % 2 == 0 { remove(target) }
            let delay = Double.random(in: 0..<duration, using: &random)
            let began = Date()
            let outcome = try runKilled(["import", "--store", target, export], after: delay)
            if outcome == .exited(0) { duration = min(duration, Date().timeIntervalSince(began)) }
            kills += 1
            let verify = try reel(["verify", "--store", target])
            leftUnfinished = false
            if verify.stderr.contains(unfinishedImportMessage(target)) {
                // Every command refuses it, naming the import and how to start it again, and changes nothing.
                states["unfinished", default: 0] += 1
                leftUnfinished = true
                try expectRefusedAsUnfinished(target, kill: kills, delay: delay)
            } else if verify.status == 0 {
                // Killed after the import's last commit (or it ended first): the whole export is there.
                states["finished", default: 0] += 1
                #expect(outcome == .killed || outcome == .exited(0), "kill \(kills): \(outcome)")
                #expect(verify.stdout == "OK\n", "kill \(kills): \(verify)")
                #expect(try reel(["export", "--store", target]).stdout == String(decoding: expected, as: UTF8.self), "kill \(kills)")
                remove(target)
            } else {
                // Killed before the store's first commit: no store at all.
                states["no store", default: 0] += 1
                #expect(verify.status == 3, "kill \(kills) after \(delay) s: \(verify)")
                #expect(
                    !exists(target + "/data.mdb") || verify.stderr.contains("is not a Reel store") || verify.stderr.contains("data.mdb is empty"),
                    "kill \(kills) after \(delay) s: \(verify)")
                let read = try reel(["read", "--store", target])
                #expect(read.status == 3 && read.stdout.isEmpty, "kill \(kills): \(read)")
            }
        }
        print("killedImport: seed \(seed), \(kills) kills over imports of \(String(format: "%.2f", duration)) s: \(states.sorted { $0.key < $1.key })")
        #expect(states["unfinished", default: 0] > 0, "some kills came while the import was restoring: \(states)")

        // The import as the message says: into the same directory, it starts over and restores every event.
        let again = try reel(["import", "--store", target, export])
        #expect(again.status == 0, "\(again)")
        #expect(again.stdout == #"{"imported":\#(Self.killedImportEvents),"last_position":\#(Self.killedImportEvents)}"# + "\n", "\(again)")
        #expect(try reel(["export", "--store", target]).stdout == String(decoding: expected, as: UTF8.self), "every event, as exported")
        try expectVerified(target)
    }

    @Test("a store an import left unfinished: every command exits 3 naming the import and how to start it again, and changes nothing")
    func everyCommandRefusesAnUnfinishedImport() throws {
        let (source, export) = try storeAndExport(events: Self.killedImportEvents)
        let target = temporaryStorePath()
        defer { remove(source); remove(export); remove(target); remove(target + ".out"); remove(target + "-backup") }
        try leaveUnfinishedImport(of: export, in: target)
        try expectRefusedAsUnfinished(target, kill: 1, delay: 0)
        let history = try reel(["audit", "history", "--store", target, "--id", uuid()])
        for run in [
            try reel(["query", "jobs", "--store", target, "--status", "pending"]),
            try reel(["replay", "--store", target, "--to", "1"]),
            try reel(["rebuild", "--store", target]),
            try reel(["backup", "--store", target, target + "-backup"]),
            history,
            try reel(["stats", "--json", "--store", target]),
            try reel(["audit", "verify", "--log-only", "--store", target]),
        ] {
            #expect(run.status == 3, "\(run)")
            #expect(run.stderr.contains(unfinishedImportMessage(target)), "\(run)")
            #expect(run.stdout.isEmpty, "\(run)")
        }
        #expect(!exists(target + "-backup/data.mdb"), "no backup of an unfinished import")
        // The message's own command starts it over.
        let message = try reel(["read", "--store", target]).stderr
        #expect(message.contains("reel import --store \(target) \(export)"), "\(message)")
        let again = try reel(["import", "--store", target, export])
        #expect(again.status == 0, "\(again)")
        #expect(try reel(["export", "--store", target]).stdout == String(decoding: try Data(contentsOf: URL(fileURLWithPath: export)), as: UTF8.self))
        try expectVerified(target)
    }

    @Test("an export cut at any byte, at a line boundary (the 4,096-event page too) or on standard output, or with a doctored end line, is refused naming the line; --allow-unterminated imports one cut at a line boundary")
    func truncatedAndDoctoredExports() throws {
        let events = 5_000
        let (source, export) = try storeAndExport(events: events)
        defer { remove(source); remove(export) }
        let whole = try Data(contentsOf: URL(fileURLWithPath: export))
        let lines = whole.split(separator: 0x0A, omittingEmptySubsequences: false).map { Data($0) }
        try #require(lines.count == events + 2 && lines.last!.isEmpty, "\(events) envelopes, the end line and a final newline")
        /// The byte offset just after line `n` (1-based) and its newline.
        func boundary(_ n: Int) -> Int { lines.prefix(n).reduce(0) { $0 + $1.count + 1 } }

        var random = SeededGenerator(seed: testSeed("truncatedAndDoctoredExports"))
        var cuts: [(String, Data, Int)] = []
        for _ in 0..<3 {
            // Within a line (not at its end): that line is malformed, or an envelope that fails the hash check.
            var byte = Int.random(in: 1..<boundary(events), using: &random)
            while whole[byte - 1] == 0x0A || whole[byte] == 0x0A { byte += 1 }
            let line = whole.prefix(byte).filter { $0 == 0x0A }.count + 1
            cuts.append(("cut at byte \(byte)", whole.prefix(byte), line))
        }
        for n in [1, 4_096, events - 1, events] {
            cuts.append(("cut after line \(n)", whole.prefix(boundary(n)), n + 1))
        }
        // Inside the end line itself: a prefix of it is not JSON.
        cuts.append(("cut inside the end line", whole.prefix(boundary(events) + 20), events + 1))
        // An export to standard output whose reader stopped reading: the bytes it got.
        let piped = temporaryStorePath() + ".ndjson"
        defer { remove(piped) }
        let reelPath = builtExecutable("reel")
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        shell.arguments = ["-c", #"'\#(reelPath)' export --store '\#(source)' 2>/dev/null | head -c 1000000 > '\#(piped)'"#]
        try shell.run()
        shell.waitUntilExit()
        let cutPipe = try Data(contentsOf: URL(fileURLWithPath: piped))
        #expect(cutPipe == whole.prefix(1_000_000), "standard output carries the same export")
        cuts.append(("standard output cut at 1,000,000 bytes", cutPipe, cutPipe.filter { $0 == 0x0A }.count + 1))

        for (label, bytes, line) in cuts {
            try expectRefused(bytes, line: line, label)
        }

        // Doctored end lines: each names the end line.
        let end = String(decoding: lines[events], as: UTF8.self)
        let lastHash = try #require(end.firstMatch(of: /"last_hash":"([0-9a-f]{64})"/)?.1)
        let otherHash = String(lastHash.reversed())
        for (label, doctored) in [
            ("a count one short", end.replacing(#""events":\#(events)"#, with: #""events":\#(events - 1)"#)),
            ("another last position", end.replacing(#""last_position":\#(events)"#, with: #""last_position":\#(events + 1)"#)),
            ("another last hash", end.replacing(lastHash, with: otherHash)),
            ("an extra member", end.replacing(#"}}"#, with: #","more":1}}"#)),
            ("upper-case hex", end.replacing(lastHash, with: lastHash.uppercased())),
        ] {
            #expect(doctored != end, "\(label)")
            let run = try expectRefused(whole.prefix(boundary(events)) + Data((doctored + "\n").utf8), line: events + 1, label)
            #expect(run.stderr.contains("end line"), "\(label): \(run)")
        }
        // A line after the end line, even another end line.
        for (label, extra) in [("an envelope after it", lines[events - 1]), ("the end line twice", lines[events])] {
            try expectRefused(whole + extra + Data([0x0A]), line: events + 2, label)
        }

        // With --allow-unterminated, an export cut at a line boundary imports what it holds.
        let target = temporaryStorePath()
        let file = try temporaryFile(whole.prefix(boundary(4_096)))
        defer { remove(target); remove(file) }
        let run = try reel(["import", "--allow-unterminated", "--store", target, file])
        #expect(run.status == 0, "\(run)")
        #expect(run.stdout == #"{"imported":4096,"last_position":4096}"# + "\n", "\(run)")
        let first = lines.prefix(4_096).map { String(decoding: $0, as: UTF8.self) }
        #expect(try reel(["export", "--store", target]).stdout == (try exportText(first)), "the first 4,096 events, closed by their end line")
        try expectVerified(target)
        // A cut within a line is refused even so.
        let cutLine = try temporaryFile(whole.prefix(boundary(4_096) + 50))
        defer { remove(cutLine) }
        let partial = try reel(["import", "--allow-unterminated", "--store", temporaryStorePath() + "-never", cutLine])
        #expect(partial.status == 1 && partial.stderr.contains("line 4097:"), "\(partial)")
        try expectVerified(source)
    }

    @Test("an export refused in its first pass leaves an unfinished import as it was: still refused by every command, and still started over by the import")
    func refusedExportOverAnUnfinishedImport() throws {
        let (source, export) = try storeAndExport(events: Self.killedImportEvents)
        let target = temporaryStorePath()
        defer { remove(source); remove(export); remove(target); remove(target + ".out") }
        try leaveUnfinishedImport(of: export, in: target)
        let before = try Data(contentsOf: URL(fileURLWithPath: target + "/data.mdb"))
        let cut = try temporaryFile(try Data(contentsOf: URL(fileURLWithPath: export)).prefix(100_000))
        defer { remove(cut) }
        let run = try reel(["import", "--store", target, cut])
        #expect(run.status == 1, "\(run)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: target + "/data.mdb")) == before, "the refused import touched the store")
        try expectRefusedAsUnfinished(target, kill: 1, delay: 0)
        #expect(try reel(["import", "--store", target, export]).status == 0)
        try expectVerified(target)
    }

    @Test("reel import and reel append of a directory are usage errors (exit 2) naming it, with no Foundation error text")
    func directoryAsInput() throws {
        let directory = temporaryStorePath()
        let store = temporaryStorePath()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { remove(directory); remove(store) }
        for command in [["import", directory], ["append", directory], ["append", directory, "--all-or-nothing"]] {
            let run = try reel(command + ["--store", store])
            #expect(run.status == 2, "\(command): \(run)")
            #expect(run.stderr.contains("\(directory) is a directory"), "\(command): \(run)")
            expectNoFoundationText(run)
            #expect(!exists(store), "\(command): no store was made")
        }
        // A file that is not there, and a store that cannot be made: the reason in plain words.
        let missing = try reel(["import", directory + "/missing.ndjson", "--store", store])
        #expect(missing.status == 2 && missing.stderr.contains("No such file or directory"), "\(missing)")
        expectNoFoundationText(missing)
        let file = try temporaryFile("")
        let (source, export) = try storeAndExport(events: 1)
        defer { remove(file); remove(source); remove(export) }
        for command in [["append"], ["import", export]] {
            let run = try reel(command + ["--store", file + "/store"], input: "")
            #expect(run.status == 3 && run.stderr.contains("\(file) is a file"), "\(command): \(run)")
            expectNoFoundationText(run)
        }
    }

    // MARK: helpers

    /// Imports `bytes` into a new directory and expects exit 1 naming `line` (and no other), with nothing left that
    /// passes for a store: the first pass refuses before the store is touched.
    @discardableResult
    private func expectRefused(_ bytes: Data, line: Int, _ label: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> Run {
        let target = temporaryStorePath()
        let file = try temporaryFile(bytes)
        defer { remove(target); remove(file) }
        let run = try reel(["import", "--store", target, file])
        #expect(run.status == 1, "\(label): \(run)", sourceLocation: sourceLocation)
        #expect(run.stdout.isEmpty, "\(label): \(run)", sourceLocation: sourceLocation)
        #expect(run.stderr.hasPrefix("line \(line): "), "\(label): names line \(line): \(run)", sourceLocation: sourceLocation)
        #expect(run.stderrLines.count == 1, "\(label): \(run)", sourceLocation: sourceLocation)
        #expect(!exists(target), "\(label): the refused import made \(target)", sourceLocation: sourceLocation)
        expectNoFoundationText(run, sourceLocation: sourceLocation)
        return run
    }

    /// Every command but import exits 3 on `store`, naming the unfinished import, and neither writes to it nor makes
    /// an output file.
    private func expectRefusedAsUnfinished(_ store: String, kill: Int, delay: Double, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let before = try Data(contentsOf: URL(fileURLWithPath: store + "/data.mdb"))
        let commands: [([String], String?)] = [
            (["audit", "verify", "--store", store], nil),
            (["read", "--store", store], nil),
            (["stats", "--store", store], nil),
            (["append", "--store", store], inputLine("project.created", ["project_id": .string(uuid())]) + "\n"),
            (["export", "--store", store, store + ".out"], nil),
        ]
        let runs = Locked<[Int: Run]>([:])
        DispatchQueue.concurrentPerform(iterations: commands.count) { index in
            let run = (try? reel(commands[index].0, input: commands[index].1)) ?? Run(status: -1, stdout: "", stderr: "did not start")
            runs.withLock { $0[index] = run }
        }
        for (index, (command, _)) in commands.enumerated() {
            let run = runs.withLock { $0[index]! }
            let label = "kill \(kill) after \(String(format: "%.3f", delay)) s, reel \(command[0])"
            #expect(run.status == 3, "\(label): \(run)", sourceLocation: sourceLocation)
            #expect(run.stderr.contains(unfinishedImportMessage(store)), "\(label): \(run)", sourceLocation: sourceLocation)
            #expect(run.stderr.contains("start it again with `reel import --store"), "\(label): \(run)", sourceLocation: sourceLocation)
            #expect(run.stdout.isEmpty, "\(label): \(run)", sourceLocation: sourceLocation)
        }
        #expect(!exists(store + ".out"), "an export of an unfinished import", sourceLocation: sourceLocation)
        #expect(try Data(contentsOf: URL(fileURLWithPath: store + "/data.mdb")) == before, "a refusing command wrote to the store", sourceLocation: sourceLocation)
    }

    /// Starts an import of `export` into `store` and kills it once the store carries the unfinished-import marker.
    private func leaveUnfinishedImport(of export: String, in store: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        for _ in 0..<5 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: builtExecutable("reel"))
            process.arguments = ["import", "--store", store, export]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            var marked = false
            while process.isRunning, !marked {
                usleep(20_000)
                if exists(store + "/data.mdb") { marked = try reel(["stats", "--store", store]).stderr.contains(unfinishedImportMessage(store)) }
            }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            if marked, process.terminationReason == .uncaughtSignal { return }
            remove(store)
        }
        Issue.record("the import always finished before it could be killed", sourceLocation: sourceLocation)
    }

}

/// No message of Foundation's error types (`Error Domain=NSCocoaErrorDomain Code=256 "(null)"`) reaches the user.
func expectNoFoundationText(_ run: Run, sourceLocation: SourceLocation = #_sourceLocation) {
    for text in ["NSCocoaErrorDomain", "Error Domain=", "Code=", "(null)", "The operation could not be completed"] {
        #expect(!run.stderr.contains(text), "Foundation's error text: \(run)", sourceLocation: sourceLocation)
    }
}

/// A value behind a lock, for results gathered from several threads.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
