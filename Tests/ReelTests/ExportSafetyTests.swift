import Foundation
import Testing

/// `reel export FILE` never leaves part of an export under FILE's name, never writes over what is not a regular file
/// unless told to, never over an LMDB file, says why it failed in plain words, and checks the hash chain it exports.
@Suite("Safe exports")
struct ExportSafetyTests {
    @Test("reel export killed with SIGKILL while it writes: FILE is the old file, intact, or the whole new export; never part of one")
    func killedExport() throws {
        let seed = testSeed("killedExport")
        var random = SeededGenerator(seed: seed)
        let (store, reference) = try storeAndExport(events: 20_000)
        let directory = temporaryStorePath()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { remove(store); remove(reference); remove(directory) }
        let file = directory + "/export.ndjson"
        let old = Data("an older export\n".utf8)
        let whole = try Data(contentsOf: URL(fileURLWithPath: reference))

        let started = Date()
        #expect(try reel(["export", "--store", store, directory + "/timing.ndjson"]).status == 0)
        let duration = Date().timeIntervalSince(started)
        remove(directory + "/timing.ndjson")

        var outcomes: [String: Int] = [:]
        var partials = 0
        for kill in 1...12 {
            try old.write(to: URL(fileURLWithPath: file))
            let delay = Double.random(in: 0..<duration, using: &random)
            let outcome = try runKilled(["export", "--store", store, file], after: delay)
            let now = try Data(contentsOf: URL(fileURLWithPath: file))
            if now == old {
                outcomes["old file intact", default: 0] += 1
            } else {
                outcomes["new export", default: 0] += 1
                #expect(now == whole, "kill \(kill) after \(delay) s (\(outcome)): FILE is \(now.count) bytes, neither the old file nor the export")
            }
            // Only partial files are left beside it, named so: one more for each kill that came while it wrote.
            let others = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0 != "export.ndjson" }
            #expect(others.allSatisfy { $0.hasPrefix("export.ndjson.partial-") }, "kill \(kill): \(others)")
            if others.count > partials {
                outcomes["killed while writing", default: 0] += 1
                partials = others.count
            }
        }
        print("killedExport: seed \(seed), 12 kills over \(String(format: "%.2f", duration)) s exports: \(outcomes.sorted { $0.key < $1.key })")
        #expect(outcomes["killed while writing", default: 0] > 0, "some kills came while the export was written: \(outcomes)")

        // The next export replaces the old file.
        try old.write(to: URL(fileURLWithPath: file))
        let run = try reel(["export", "--store", store, file])
        #expect(run.status == 0, "\(run)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: file)) == whole)
        try expectVerified(store)
    }

    @Test("reel export refuses a FIFO, a symlink, a directory and a device at FILE unless --force, which writes into it; never an LMDB data or lock file")
    func exportOverWhatIsNotARegularFile() throws {
        let (store, reference) = try storeAndExport(events: 300)
        let other = temporaryStorePath()
        let directory = temporaryStorePath()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { remove(store); remove(reference); remove(other); remove(directory) }
        let whole = try Data(contentsOf: URL(fileURLWithPath: reference))

        // A FIFO: refused; with --force, a reader at its other end gets the whole export.
        let fifo = directory + "/fifo"
        #expect(mkfifo(fifo, 0o644) == 0)
        let refusedFIFO = try reel(["export", "--store", store, fifo])
        #expect(refusedFIFO.status == 1 && refusedFIFO.stderr.contains("\(fifo) is a FIFO"), "\(refusedFIFO)")
        #expect(refusedFIFO.stderr.contains("--force"), "says how to write into it: \(refusedFIFO)")
        let received = Locked<Data?>(nil)
        let reader = Thread {
            let data = FileHandle(forReadingAtPath: fifo)?.readDataToEndOfFile() ?? Data()
            received.withLock { $0 = data }
        }
        reader.start()
        let forcedFIFO = try reel(["export", "--force", "--store", store, fifo])
        #expect(forcedFIFO.status == 0, "\(forcedFIFO)")
        while received.withLock({ $0 == nil }) { usleep(10_000) }
        #expect(received.withLock { $0 } == whole, "the reader of the FIFO got the export")
        #expect(isKind(fifo, S_IFIFO), "the FIFO is still a FIFO")

        // A symlink: refused; with --force, its target is written and the link stays.
        let target = directory + "/target.ndjson"
        let link = directory + "/link.ndjson"
        try Data("target's old content\n".utf8).write(to: URL(fileURLWithPath: target))
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        let refusedLink = try reel(["export", "--store", store, link])
        #expect(refusedLink.status == 1 && refusedLink.stderr.contains("\(link) is a symlink"), "\(refusedLink)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: target)) == Data("target's old content\n".utf8))
        let forcedLink = try reel(["export", "--force", "--store", store, link])
        #expect(forcedLink.status == 0, "\(forcedLink)")
        #expect(isKind(link, S_IFLNK), "the symlink is still a symlink")
        #expect(try Data(contentsOf: URL(fileURLWithPath: target)) == whole, "its target holds the export")

        // A directory: refused, with --force too.
        for flags in [[], ["--force"]] {
            let run = try reel(["export", "--store", store, directory] + flags)
            #expect(run.status == 1 && run.stderr.contains("\(directory) is a directory"), "\(flags): \(run)")
        }

        // Another store's data and lock files, by their names or through a symlink or a copy: refused, --force or not.
        #expect(try append(ndjson(projectLines(3)), to: other).status == 0)
        let copy = directory + "/store-copy.bin"
        try FileManager.default.copyItem(atPath: other + "/data.mdb", toPath: copy)
        let linkToLock = directory + "/lock-link"
        try FileManager.default.createSymbolicLink(atPath: linkToLock, withDestinationPath: other + "/lock.mdb")
        let otherData = try Data(contentsOf: URL(fileURLWithPath: other + "/data.mdb"))
        for (path, kind) in [(other + "/data.mdb", "data"), (other + "/lock.mdb", "lock"), (copy, "data"), (linkToLock, "lock")] {
            for flags in [[], ["--force"]] {
                let run = try reel(["export", "--store", store, path] + flags)
                #expect(run.status == 1, "\(path) \(flags): \(run)")
                #expect(run.stderr.contains("is an LMDB \(kind) file"), "\(path) \(flags): \(run)")
            }
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: other + "/data.mdb")) == otherData)
        #expect(try Data(contentsOf: URL(fileURLWithPath: copy)) == otherData)
        try expectVerified(other)

        // /dev/full, as root (who may replace it): refused; with --force, written into and failing for want of room.
        if getuid() == 0 {
            let refused = try reel(["export", "--store", store, "/dev/full"])
            #expect(refused.status == 1 && refused.stderr.contains("/dev/full is a character device"), "\(refused)")
            let forced = try reel(["export", "--force", "--store", store, "/dev/full"])
            #expect(forced.status == 1 && forced.stderr.contains("cannot write /dev/full: No space left on device"), "\(forced)")
            expectNoFoundationText(forced)
            #expect(isKind("/dev/full", S_IFCHR), "/dev/full is still a character device")
        } else {
            print("exportOverWhatIsNotARegularFile: /dev/full left out (not root)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).allSatisfy { !$0.contains(".partial-") }, "no partial file left")
        try expectVerified(store)
    }

    @Test(
        "reel export onto a full disk exits 1 naming the file and the cause, removes its partial file and leaves the old file as it was",
        .enabled(if: getuid() == 0, "mounting the small tmpfs it fills needs root")
    )
    func exportOntoFullDisk() throws {
        let (store, reference) = try storeAndExport(events: 5_000)
        let mountPoint = temporaryStorePath()
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        defer { remove(store); remove(reference); remove(mountPoint) }
        guard mount("tmpfs", mountPoint, "tmpfs", 0, "size=1m") == 0 else {
            print("exportOntoFullDisk skipped: mount -t tmpfs failed: \(String(cString: strerror(errno)))")
            return
        }
        defer { umount2(mountPoint, Int32(MNT_DETACH)) }
        let file = mountPoint + "/export.ndjson"
        let old = Data("the export before\n".utf8)
        try old.write(to: URL(fileURLWithPath: file))
        let run = try reel(["export", "--store", store, file])
        #expect(run.status == 1, "\(run)")
        #expect(run.stderr == "reel: cannot write \(file): No space left on device\n", "\(run)")
        expectNoFoundationText(run)
        #expect(run.stdout.isEmpty, "\(run)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: mountPoint) == ["export.ndjson"], "the partial file is removed")
        #expect(try Data(contentsOf: URL(fileURLWithPath: file)) == old)
        // A directory that is not there: the same kind of message.
        let nowhere = try reel(["export", "--store", store, mountPoint + "/missing/export.ndjson"])
        #expect(nowhere.status == 1 && nowhere.stderr.contains("cannot write \(mountPoint)/missing/export.ndjson"), "\(nowhere)")
        #expect(nowhere.stderr.contains("No such file or directory"), "\(nowhere)")
        expectNoFoundationText(nowhere)
        try expectVerified(store)
    }

    @Test("reel export of a store whose record was altered in data.mdb exits 1 naming the position; no FILE, no end line on standard output")
    func exportChecksTheHashChain() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let marker = "ALTER-ME-\(UUID().uuidString.prefix(8))"
        var lines = projectLines(6)
        lines[3] = inputLine("project.created", ["project_id": .string(uuid()), "title": .string(marker)])
        #expect(try append(ndjson(lines), to: store).status == 0)
        try expectVerified(store)
        // Every copy of the title in the file (the log record, the projection's row, stale pages): "A" becomes "B".
        let dataFile = URL(fileURLWithPath: store + "/data.mdb")
        var bytes = [UInt8](try Data(contentsOf: dataFile))
        let needle = Array(marker.utf8)
        var altered = 0
        for offset in 0...(bytes.count - needle.count) where bytes[offset] == needle[0] && bytes[offset..<offset + needle.count].elementsEqual(needle) {
            bytes[offset] = UInt8(ascii: "B")
            altered += 1
        }
        try #require(altered > 0, "the title is in data.mdb")
        try Data(bytes).write(to: dataFile)

        let file = store + ".ndjson"
        defer { remove(file) }
        let toFile = try reel(["export", "--store", store, file])
        #expect(toFile.status == 1, "\(toFile)")
        #expect(toFile.stderr.contains("hash mismatch at position 4"), "\(toFile)")
        #expect(toFile.stdout.isEmpty, "\(toFile)")
        #expect(!exists(file), "an export of a damaged log is not written")
        let parent = (store as NSString).deletingLastPathComponent
        #expect(try FileManager.default.contentsOfDirectory(atPath: parent).allSatisfy { !$0.hasPrefix((file as NSString).lastPathComponent + ".partial-") })

        let toStdout = try reel(["export", "--store", store])
        #expect(toStdout.status == 1, "\(toStdout)")
        #expect(toStdout.stderr.contains("hash mismatch at position 4"), "\(toStdout)")
        #expect(!toStdout.stdout.contains(#"{"end":"#), "no end line after damage: \(toStdout)")
        #expect(toStdout.stdoutLines.count <= 3, "nothing from the damaged event on: \(toStdout)")

        // The store is damaged, and verify says where.
        let verify = try reel(["verify", "--store", store])
        #expect(verify.status == 1 && verify.stdout.contains("position 4: hash mismatch"), "\(verify)")
    }

    @Test("reel export FILE prints its summary; the export ends with its end line, 64 zeros for an empty store, which imports")
    func endLineAndSummary() throws {
        let empty = temporaryStorePath()
        let file = empty + ".ndjson"
        let target = temporaryStorePath()
        defer { remove(empty); remove(file); remove(target) }
        #expect(try append("", to: empty).status == 0)
        let run = try reel(["export", "--store", empty, file])
        #expect(run.status == 0, "\(run)")
        #expect(run.stdout == #"{"exported":0,"last_position":0,"file":"\#(file)"}"# + "\n", "\(run)")
        let zeros = String(repeating: "0", count: 64)
        let endLine = #"{"end":{"events":0,"last_position":0,"last_hash":"\#(zeros)"}}"# + "\n"
        #expect(try String(contentsOfFile: file, encoding: .utf8) == endLine)
        #expect(try reel(["export", "--store", empty]).stdout == endLine)
        let imported = try reel(["import", "--store", target, file])
        #expect(imported.status == 0 && imported.stdout == #"{"imported":0,"last_position":0}"# + "\n", "\(imported)")
        #expect(try readAll(target).isEmpty)
        try expectVerified(target)

        // A store with events: the last line names the last envelope's position and hash.
        #expect(try append(ndjson(projectLines(3)), to: target).status == 0)
        let three = try reel(["export", "--store", target, file])
        #expect(three.stdout == #"{"exported":3,"last_position":3,"file":"\#(file)"}"# + "\n", "\(three)")
        let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").map(String.init)
        let hash = try #require(try parseObject(lines[2])["hash"] as? String)
        #expect(lines.count == 4 && lines[3] == #"{"end":{"events":3,"last_position":3,"last_hash":"\#(hash)"}}"#, "\(lines)")
        try expectVerified(target)
        try expectVerified(empty)
    }

    /// Whether `path` (not followed, if a symlink) is of the file type `kind` (`S_IFIFO`, …).
    private func isKind(_ path: String, _ kind: mode_t) -> Bool {
        var status = stat()
        return lstat(path, &status) == 0 && status.st_mode & S_IFMT == kind
    }
}
