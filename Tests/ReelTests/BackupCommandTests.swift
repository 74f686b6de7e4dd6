import Foundation
import Testing

/// `reel backup DIR [--compact]`, run as a real process beside another one appending.
@Suite struct BackupCommandTests {
    @Test("reel backup while another process appends: each copy is a sound store holding a prefix of the log")
    func backupBesideAnAppend() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let project = uuid()
        #expect(try append(inputLine("project.created", ["project_id": .string(project)]) + "\n", to: store).status == 0)
        let lines = (0..<20_000).map { n in
            inputLine("scene_image.saved", ["project_id": .string(project), "scene_index": .int(n % 500), "image_index": .int(n / 500), "image_url": .string("gs://x/\(n).png")])
        }
        let file = try temporaryFile(ndjson(lines))
        defer { remove(file) }
        let appending = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var appendRun: Run?
        DispatchQueue.global().async {
            appendRun = try? reel(["append", file, "--store", store])
            appending.signal()
        }
        var copies: [(path: String, position: Int, compact: Bool)] = []
        defer { for copy in copies { remove(copy.path) } }
        var finished = false
        while !finished, copies.count < 6 {
            let path = temporaryStorePath()
            let compact = copies.count.isMultiple(of: 2)
            let run = try reel(["backup", path, "--store", store] + (compact ? ["--compact"] : []))
            #expect(run.status == 0, "\(run)")
            let summary = try parseObject(run.stdout)
            #expect(summary["backup"] as? String == path && summary["compact"] as? Bool == compact, "\(run)")
            copies.append((path, try #require(summary["position"] as? Int), compact))
            finished = appending.wait(timeout: .now()) == .success
        }
        if !finished { appending.wait() }
        #expect(appendRun?.status == 0, "\(String(describing: appendRun))")

        let source = try reel(["read", "--store", store]).stdoutLines
        #expect(source.count == 20_001)
        for copy in copies {
            let verified = try reel(["audit", "verify", "--store", copy.path])
            #expect(verified.status == 0 && verified.stdout == "OK\n", "\(copy): \(verified)")
            let read = try reel(["read", "--store", copy.path]).stdoutLines
            #expect(read.count == copy.position, "\(copy)")
            #expect(read == Array(source.prefix(copy.position)), "the copy of \(copy.path) is a prefix of the log")
        }
        #expect(copies.contains { $0.position > 1 && $0.position < 20_001 } || copies.count == 1, "positions: \(copies.map(\.position))")
        try expectVerified(store)
    }

    @Test("reel backup into a directory that holds a store exits 1 and leaves it; without a source store it exits 3")
    func backupRefusals() throws {
        let store = temporaryStorePath(), target = temporaryStorePath()
        defer {
            remove(store)
            remove(target)
        }
        #expect(try append(inputLine("project.created", ["project_id": .string(uuid())]) + "\n", to: store).status == 0)
        #expect(try append(ndjson((0..<3).map { _ in inputLine("project.created", ["project_id": .string(uuid())]) }), to: target).status == 0)
        let before = try reel(["read", "--store", target]).stdout
        let run = try reel(["backup", target, "--store", store])
        #expect(run.status == 1, "\(run)")
        #expect(run.stderr.contains(target), "\(run)")
        #expect(try reel(["read", "--store", target]).stdout == before)

        let missing = temporaryStorePath()
        let copy = temporaryStorePath()
        defer { remove(copy) }
        let none = try reel(["backup", copy, "--store", missing])
        #expect(none.status == 3, "\(none)")
        #expect(!FileManager.default.fileExists(atPath: copy + "/data.mdb"))
        try expectVerified(store)
    }

    @Test("reel backup killed (SIGKILL) while it copies leaves no data.mdb: nothing that passes for a store")
    func backupKilledMidway() throws {
        let store = temporaryStorePath(), target = temporaryStorePath()
        defer {
            remove(store)
            remove(target)
        }
        // About 50 MB, so that the copy takes long enough to be caught at it.
        let project = uuid()
        var lines = [inputLine("project.created", ["project_id": .string(project)])]
        let padding = String(repeating: "x", count: 2_000)
        for n in 0..<25_000 {
            lines.append(inputLine("scene_image.saved", ["project_id": .string(project), "scene_index": .int(n), "image_url": .string("https://cdn/\(n)/\(padding)")]))
        }
        let file = try temporaryFile(ndjson(lines))
        defer { remove(file) }
        #expect(try reel(["append", file, "--no-sync", "--store", store]).status == 0)
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)

        let backup = Process()
        backup.executableURL = URL(fileURLWithPath: builtExecutable("reel"))
        backup.arguments = ["backup", target, "--compact", "--store", store]
        backup.standardOutput = FileHandle.nullDevice
        backup.standardError = FileHandle.nullDevice
        try backup.run()
        var caught = false
        let deadline = Date().addingTimeInterval(20)
        while backup.isRunning, Date() < deadline {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: target)) ?? []
            if names.contains(where: { $0.hasPrefix(".data.mdb.partial-") }) {
                kill(backup.processIdentifier, SIGKILL)
                caught = true
                break
            }
            usleep(500)
        }
        backup.waitUntilExit()
        try #require(caught, "the copy finished before it could be killed; the test needs a larger store")
        #expect(backup.terminationReason == .uncaughtSignal)
        #expect(!FileManager.default.fileExists(atPath: target + "/data.mdb"), "no data.mdb after a killed copy")
        let read = try reel(["read", "--limit", "1", "--store", target])
        #expect(read.status == 3, "the directory is not a store: \(read)")
        // Backing up again into the same directory works: the leftover partial file is not in the way.
        let again = try reel(["backup", target, "--store", store])
        #expect(again.status == 0, "\(again)")
        #expect(try reel(["audit", "verify", "--log-only", "--store", target]).status == 0)
        try expectVerified(store)
    }
}
