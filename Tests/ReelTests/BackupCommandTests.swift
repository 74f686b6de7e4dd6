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
}
