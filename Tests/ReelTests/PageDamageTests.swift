import Foundation
import Testing

/// One bit flipped at a time in a small store's data file, on every kind of page, each followed by `reel audit verify`,
/// an append and `reel audit verify` again, as real processes: a crash or a hang is a failure; a flip the first verify
/// does not find must leave the store as it was (every database's entries) and take the append.
///
/// `REEL_FLIPS=N` sets the flips per kind of page (20 by default; the long mode, thousands, is
/// `REEL_FLIPS=2000 swift test --filter PageDamageTests`).
@Suite("Flipped bits in every kind of page")
struct PageDamageTests {
    static let kinds = ["meta", "branch", "leaf", "leaf2", "overflow", "free"]

    /// A store with pages of every kind: a log of a few hundred events over several commits (branch pages, free pages),
    /// URLs long enough for values that overflow a page, a type with enough events for a sub-database of fixed-size
    /// positions (LEAF2 pages), scenes cleared (pages freed).
    static func makeStore(_ path: String, seed: UInt64) throws {
        var random = SeededGenerator(seed: seed)
        let project = uuid()
        #expect(try append(inputLine("project.created", ["project_id": .string(project)]) + "\n", to: path).status == 0)
        var image = 0
        for batch in 0..<6 {
            var lines: [String] = []
            for _ in 0..<120 {
                let length = [40, 80, 200, 900, 2_500].randomElement(using: &random)!
                let url = "gs://b/" + String(repeating: "u", count: length) + String(image)
                lines.append(
                    inputLine(
                        "scene_image.saved",
                        ["project_id": .string(project), "scene_index": .int(image % 5), "image_index": .int(image), "image_url": .string(url)]))
                image += 1
            }
            if batch % 2 == 1 {
                lines.append(inputLine("scene_images.cleared", ["project_id": .string(project), "scene_indexes": [.int(batch % 5)]]))
            }
            let run = try append(ndjson(lines), to: path)
            #expect(run.status == 0, "\(run)")
        }
    }

    /// The pages of each kind that lie inside the file, and the page size.
    static func pages(_ store: String) throws -> (pageSize: Int, byKind: [String: [Int]]) {
        let run = try Child("reel-test-driver", ["pages", store]).wait()
        #expect(run.status == 0, "\(run)")
        var pageSize = 4096
        var fileSize = 0
        var byKind: [String: [Int]] = [:]
        for line in run.stdoutLines {
            let fields = line.split(separator: " ")
            guard fields.count == 2 else { continue }
            if fields[0] == "pagesize" { pageSize = Int(fields[1]) ?? pageSize; continue }
            if fields[0] == "filesize" { fileSize = Int(fields[1]) ?? 0; continue }
            guard let page = Int(fields[0]), (page + 1) * pageSize <= fileSize else { continue }
            byKind[String(fields[1]), default: []].append(page)
        }
        return (pageSize, byKind)
    }

    /// Runs a built executable, killing it after `timeout` seconds (`status` is then nil: a hang).
    static func run(_ executable: String, _ arguments: [String], input: String? = nil, timeout: Double = 60) throws -> (status: Int32?, signaled: Bool, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: builtExecutable(executable))
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["REEL_STORE"] = nil
        process.environment = environment
        let (out, err, inPipe) = (Pipe(), Pipe(), Pipe())
        process.standardOutput = out
        process.standardError = err
        process.standardInput = inPipe
        try process.run()
        let collected = Locked(Data())
        let group = DispatchGroup()
        for handle in [out.fileHandleForReading, err.fileHandleForReading] {
            DispatchQueue.global().async(group: group) {
                let data = handle.readDataToEndOfFile()
                collected.withLock { $0.append(data) }
            }
        }
        if let input { try? inPipe.fileHandleForWriting.write(contentsOf: Data(input.utf8)) }
        try? inPipe.fileHandleForWriting.close()
        let hung = group.wait(timeout: .now() + timeout) == .timedOut
        if hung { process.terminate() }
        process.waitUntilExit()
        let output = String(decoding: collected.withLock { $0 }, as: UTF8.self)
        if hung { return (nil, false, output) }
        return (process.terminationStatus, process.terminationReason == .uncaughtSignal, output)
    }

    @Test("a flipped bit in any page: no crash, no hang; verify finds every flip that changes the store, the rest are harmless")
    func flippedBits() throws {
        let seed = testSeed("flippedBits")
        let perKind = Int(ProcessInfo.processInfo.environment["REEL_FLIPS"] ?? "") ?? 20
        print("flippedBits: \(perKind) flips per kind of page")
        var random = SeededGenerator(seed: seed)
        let pristine = temporaryStorePath()
        defer { remove(pristine) }
        try Self.makeStore(pristine, seed: seed)
        let (pageSize, byKind) = try Self.pages(pristine)
        let before = try Child("reel-test-driver", ["state", pristine]).wait().stdout
        let line = inputLine("project.created", ["project_id": .string(uuid())]) + "\n"
        var counts: [String: (found: Int, harmless: Int)] = [:]
        var rolledBack = 0
        let work = temporaryStorePath()
        defer { remove(work) }
        for kind in Self.kinds {
            let pages = try #require(byKind[kind], "seed \(seed): the store has no \(kind) page inside its file")
            for _ in 0..<perKind {
                let page = pages.randomElement(using: &random)!
                // In a meta page, mostly its fields (the first 152 bytes); elsewhere anywhere in the page.
                let offset = kind == "meta" && Int.random(in: 0..<5, using: &random) > 0
                    ? Int.random(in: 0..<152, using: &random) : Int.random(in: 0..<pageSize, using: &random)
                let bit = UInt8(1) << UInt8.random(in: 0..<8, using: &random)
                let flip = "seed \(seed): \(kind) page \(page), byte \(offset), bit \(bit)"
                remove(work)
                try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
                var bytes = try Data(contentsOf: URL(fileURLWithPath: pristine + "/data.mdb"))
                bytes[page * pageSize + offset] ^= bit
                try bytes.write(to: URL(fileURLWithPath: work + "/data.mdb"))

                let first = try Self.run("reel", ["audit", "verify", "--store", work])
                guard let firstStatus = first.status, !first.signaled else {
                    Issue.record("\(flip): the first verify \(first.status == nil ? "hung" : "crashed"): \(first.output.suffix(1_500))")
                    continue
                }
                #expect([0, 1, 3].contains(firstStatus), "\(flip): verify exit \(firstStatus): \(first.output.suffix(1_500))")
                if firstStatus == 0 {
                    // Not found: the flip must be harmless — but for the one limit the README states: bit 1 of a meta
                    // page's transaction id can make the older meta page look like the newer one of a consecutive
                    // pair, which rolls back the last commit (seen by verify only when that commit had grown the file).
                    let after = try Child("reel-test-driver", ["state", work]).wait().stdout
                    let knownLimit = kind == "meta" && offset == 144 && bit == 2
                    #expect(after == before || knownLimit, "\(flip): verify said OK, but the store's databases changed")
                    if after != before { rolledBack += 1 }
                    let appended = try Self.run("reel", ["append", "--store", work], input: line)
                    #expect(appended.status == 0 && !appended.signaled, "\(flip): verify said OK, but the append failed: \(appended.output.suffix(1_500))")
                    let second = try Self.run("reel", ["audit", "verify", "--store", work])
                    #expect(second.status == 0, "\(flip): verify after the append: \(second.output.suffix(1_500))")
                    counts[kind, default: (0, 0)].harmless += 1
                } else {
                    let appended = try Self.run("reel", ["append", "--store", work], input: line)
                    #expect(appended.status != nil && !appended.signaled, "\(flip): the append on a damaged store crashed or hung: \(appended.output.suffix(1_500))")
                    let second = try Self.run("reel", ["audit", "verify", "--store", work])
                    #expect(second.status != nil && !second.signaled, "\(flip): the second verify crashed or hung: \(second.output.suffix(1_500))")
                    counts[kind, default: (0, 0)].found += 1
                }
            }
        }
        for kind in Self.kinds {
            let count = counts[kind, default: (0, 0)]
            print("flippedBits: \(kind): \(count.found) found by verify, \(count.harmless) harmless")
        }
        print("flippedBits: \(rolledBack) rolled back the last commit unseen (bit 1 of a meta page's transaction id)")
    }
}
