import Foundation
import Testing

/// A full disk, end to end: `reel append` on a small tmpfs that fills up.
@Suite("A full disk")
struct DiskFullCommandTests {
    @Test(
        "reel append on a full disk: it stops at the first line that cannot land and exits 3 saying the disk is full; what was acknowledged stays; appends work again once space is freed",
        .enabled(if: getuid() == 0, "mounting the small tmpfs it fills needs root")
    )
    func appendOnFullDisk() throws {
        let mountPoint = temporaryStorePath()
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        defer { remove(mountPoint) }
        guard mount("tmpfs", mountPoint, "tmpfs", 0, "size=8m") == 0 else {
            print("DiskFullCommandTests skipped: mount -t tmpfs failed: \(String(cString: strerror(errno)))")
            return
        }
        defer { umount2(mountPoint, Int32(MNT_DETACH)) }
        let store = mountPoint + "/store"
        let filler = mountPoint + "/filler"
        #expect(try append(ndjson([inputLine("project.created", ["project_id": .string(uuid())])]), to: store).status == 0)
        // About 2.5 MB left, for 6,000 lines of about 1 KB stored each.
        try Data(repeating: 0x55, count: 5_500_000).write(to: URL(fileURLWithPath: filler))
        let project = uuid()
        var lines = [inputLine("project.created", ["project_id": .string(project)])]
        for scene in 0..<6_000 {
            lines.append(
                inputLine(
                    "scene_image.saved",
                    [
                        "project_id": .string(project), "scene_index": .int(scene),
                        "image_url": .string("https://cdn/\(scene)/" + String(repeating: "x", count: 200)),
                    ]))
        }
        let input = try temporaryFile(ndjson(lines))
        defer { remove(input) }

        let run = try reel(["append", input, "--store", store])
        // The store failed, not the input: exit 3, said once, and reading stopped at the first line that did not land.
        #expect(run.status == 3, "\(run)")
        let summary = try parseObject(run.stdout)
        let appended = try #require(summary["appended"] as? Int)
        #expect(appended > 100 && appended < lines.count && summary["rejected"] as? Int == 0, "\(run.stdout)")
        #expect(run.stderrLines.count == 2, "\(run.stderrLines.prefix(5))")
        #expect(run.stderrLines.first?.contains("not appended, and reading stopped there") == true, "\(run.stderrLines)")
        #expect(run.stderrLines.last?.contains("the disk holding \(store) is full") == true, "\(run.stderrLines)")
        #expect(!run.stderr.contains("crashed"))

        // Every acknowledged line is there (the first project plus `appended`), and the store is sound.
        #expect(try readAll(store).count == 1 + appended)
        try expectVerified(store)

        // Space freed: the next append lands.
        try FileManager.default.removeItem(atPath: filler)
        let more = try append(
            ndjson([
                inputLine(
                    "scene_image.saved", ["project_id": .string(project), "scene_index": 99_999, "image_url": "https://cdn/after.png"])
            ]), to: store)
        #expect(more.status == 0, "\(more)")
        #expect(try readAll(store).count == 2 + appended)
        try expectVerified(store)
    }

    @Test(
        "a full temporary directory fails rebuild, replay and audit with a clear exit 3 naming TMPDIR, not a crash; the store is untouched",
        .enabled(if: getuid() == 0, "mounting the small tmpfs it fills needs root")
    )
    func refoldWithFullTemporaryDirectory() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let project = uuid()
        var lines = [inputLine("project.created", ["project_id": .string(project)])]
        for scene in 0..<200 {
            lines.append(inputLine("scene_image.saved", ["project_id": .string(project), "scene_index": .int(scene), "image_url": "https://cdn/x.png"]))
        }
        #expect(try append(ndjson(lines), to: store).status == 0)
        let before = try readAll(store).count
        // A temporary directory of 4 MiB: less than any refold reserves (8 MiB at least).
        let mountPoint = temporaryStorePath()
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        defer { remove(mountPoint) }
        guard mount("tmpfs", mountPoint, "tmpfs", 0, "size=4m") == 0 else {
            print("DiskFullCommandTests skipped: mount -t tmpfs failed: \(String(cString: strerror(errno)))")
            return
        }
        defer { umount2(mountPoint, Int32(MNT_DETACH)) }
        for command in [["rebuild"], ["replay", "--to", "100"], ["audit", "verify"]] {
            let run = try reel(command + ["--store", store], environment: ["TMPDIR": mountPoint])
            #expect(run.status == 3, "\(command): \(run)")
            #expect(run.stderr.contains("set TMPDIR to a directory with more room"), "\(command): \(run)")
            #expect(!run.stderr.contains("damaged") && !run.stderr.contains("crashed"), "\(command): \(run)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: mountPoint).isEmpty, "\(command): nothing left in TMPDIR")
        }
        #expect(try readAll(store).count == before)
        try expectVerified(store)
    }

    @Test(
        "a backup onto a disk without room for it exits 1 naming the disk, leaves no partial copy, and the store is untouched",
        .enabled(if: getuid() == 0, "mounting the small tmpfs it fills needs root")
    )
    func backupOntoFullDisk() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let project = uuid()
        var lines = [inputLine("project.created", ["project_id": .string(project)])]
        for n in 0..<3_000 {
            lines.append(inputLine("scene_image.saved", ["project_id": .string(project), "scene_index": .int(n), "image_url": .string("https://cdn/\(n)-" + String(repeating: "x", count: 400))]))
        }
        #expect(try append(ndjson(lines), to: store).status == 0)
        let before = try reel(["read", "--store", store]).stdout
        let mountPoint = temporaryStorePath()
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        defer { remove(mountPoint) }
        guard mount("tmpfs", mountPoint, "tmpfs", 0, "size=1m") == 0 else {
            print("DiskFullCommandTests skipped: mount -t tmpfs failed: \(String(cString: strerror(errno)))")
            return
        }
        defer { umount2(mountPoint, Int32(MNT_DETACH)) }
        for flags in [[], ["--compact"]] {
            let run = try reel(["backup", mountPoint + "/copy"] + flags + ["--store", store])
            #expect(run.status == 1, "\(flags): \(run)")
            #expect(run.stderr.contains("no room for the copy") && run.stderr.contains("partial copy was removed"), "\(flags): \(run)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: mountPoint + "/copy").isEmpty, "\(flags): no partial copy left")
        }
        #expect(try reel(["read", "--store", store]).stdout == before)
        try expectVerified(store)
    }
}
