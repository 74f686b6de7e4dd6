import Foundation
import Testing

/// Many processes on one store at once: writers through the library (`reel-test-driver
/// media-append`, which appends through `MediaStore` from 4 tasks) and through `reel append`, and readers in yet other
/// processes (`reel-test-driver check`) that compare, in one snapshot after another, every projection with a fold of
/// the log up to that snapshot's head.
@Suite("Many processes on one store")
struct ManyProcessTests {
    /// Events per writer process.
    static let perWriter = 1_200

    @Test("4 MediaStore writers and 4 reel appends at once, 2 readers checking snapshots: nothing lost or duplicated, projections exact")
    func eightWriters() throws {
        let store = temporaryStorePath()
        let stop = store + ".stop"
        var files: [String] = []
        defer {
            remove(store)
            remove(stop)
            files.forEach(remove)
        }
        // Each `reel append` gets its own production (its own users, projects, stories), valid on its own.
        var expectedTypes: [String: String] = [:]
        var fileIDs: [[String]] = []
        for k in 0..<4 {
            let lines = try Child("reel-test-driver", ["media-lines", String(Self.perWriter), "--seed", String(k + 1)]).wait()
            #expect(lines.status == 0, "\(lines)")
            let ids = try parseLines(lines.stdout).map { line in
                let (id, type) = (line["id"] as? String ?? "", line["type"] as? String ?? "")
                expectedTypes[id] = type
                return id
            }
            fileIDs.append(ids)
            files.append(try temporaryFile(lines.stdout))
        }

        // Everyone at once; the store does not exist yet, so the processes also race to create it.
        let readers = try (0..<2).map { _ in try Child("reel-test-driver", ["check", store, "--until", stop]) }
        let writers = try (0..<4).map { k in
            try Child("reel-test-driver", ["media-append", store, String(Self.perWriter), "--seed", String(100 + k)])
        }
        let appends = try files.map { try Child("reel", ["append", "--store", store, $0]) }
        let writerRuns = writers.map { $0.wait() }
        let appendRuns = appends.map { $0.wait() }
        _ = FileManager.default.createFile(atPath: stop, contents: nil)
        let readerRuns = readers.map { $0.wait() }

        // Every acknowledgement, with the position it was given.
        var acknowledged: [String: UInt64] = [:]
        for run in writerRuns {
            #expect(run.status == 0 && run.stdoutLines.last == "done", "media-append: \(run)")
            let acks = run.stdoutLines.filter { $0.hasPrefix("ack ") }.map { $0.split(separator: " ").map(String.init) }
            #expect(acks.count == Self.perWriter, "one ack per event")
            for ack in acks where ack.count == 4 {
                #expect(acknowledged.updateValue(UInt64(ack[1]) ?? 0, forKey: ack[2]) == nil, "id \(ack[2]) acknowledged twice")
                expectedTypes[ack[2]] = ack[3]
            }
        }
        for run in appendRuns {
            #expect(run.status == 0, "reel append: \(run)")
            let result = try parseObject(run.stdout)
            #expect(
                result["appended"] as? Int == Self.perWriter && result["rejected"] as? Int == 0 && result["duplicates"] as? Int == 0,
                "\(run)")
        }
        // The readers: no snapshot ever disagreed, and some were taken while the writers wrote.
        let total = 8 * Self.perWriter
        var heads: [Int] = []
        for run in readerRuns {
            #expect(run.status == 0, "check: \(run)")
            #expect(!run.stdout.contains("problem "), "check: \(run)")
            #expect(run.stdoutLines.last?.hasSuffix(", 0 problems") == true, "check: \(run)")
            heads += run.stdoutLines.compactMap { line in
                let words = line.split(separator: " ")
                return words.count == 5 && words[0] == "check" ? Int(words[3]) : nil
            }
        }
        let during = heads.filter { $0 > 0 && $0 < total }.count
        print(
            "ManyProcessTests: \(total) events from 8 writer processes; the readers checked \(heads.count) snapshots, \(during) of them while writing"
        )
        #expect(during > 0, "a reader checked a snapshot between the first and the last commit")

        // The log: every event exactly once, at the position acknowledged; each file's lines in their order.
        let export = try reel(["export", "--store", store])
        #expect(export.status == 0, "\(export)")
        let exportedLines = try ReelTests.envelopes(ofExport: export.stdout)
        let envelopes = try parseLines(exportedLines.joined(separator: "\n"))
        #expect(envelopes.count == total, "\(envelopes.count) events stored, \(total) appended")
        var stored: [String: Int] = [:]
        for (index, envelope) in envelopes.enumerated() {
            let id = envelope["id"] as? String ?? ""
            #expect(envelope["position"] as? Int == index + 1, "gapless positions")
            #expect(stored.updateValue(index + 1, forKey: id) == nil, "id \(id) stored twice")
            #expect(
                expectedTypes[id] == envelope["type"] as? String,
                "event \(id) is a \(envelope["type"] ?? "?"), appended as \(expectedTypes[id] ?? "nothing")")
        }
        for (id, position) in acknowledged {
            #expect(stored[id] == Int(position), "acknowledged \(id) at \(position), stored at \(stored[id].map(String.init) ?? "nowhere")")
        }
        for ids in fileIDs {
            let positions = ids.map { stored[$0] ?? 0 }
            #expect(!positions.contains(0), "every line of a reel append is stored")
            #expect(positions == positions.sorted(), "a reel append's lines are stored in their order")
        }
        // The counts by type, and the full audit (hash chain, indexes, every projection against a fresh fold).
        let stats = try parseObject(try reel(["stats", "--json", "--store", store]).stdout)
        #expect(stats["events"] as? Int == total)
        let counted = Dictionary(expectedTypes.values.map { ($0, 1) }, uniquingKeysWith: +)
        #expect((stats["types"] as? [String: Int]) == counted, "per-type counts")
        try expectVerified(store)
    }
}

/// A child process whose standard output and error are collected on background threads while it runs, so that many
/// can run at once without filling a pipe.
final class Child: @unchecked Sendable {
    private let process = Process()
    private let group = DispatchGroup()
    private var out = Data()
    private var err = Data()

    init(_ executable: String, _ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: builtExecutable(executable))
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["REEL_STORE"] = nil
        process.environment = environment
        let (out, err) = (Pipe(), Pipe())
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        DispatchQueue.global().async(group: group) { self.out = out.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: group) { self.err = err.fileHandleForReading.readDataToEndOfFile() }
    }

    /// Waits for the process to exit and for its output.
    func wait() -> Run {
        group.wait()
        process.waitUntilExit()
        return Run(
            status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self))
    }
}
