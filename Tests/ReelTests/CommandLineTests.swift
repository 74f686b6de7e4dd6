import Foundation
import Testing

/// The command line's contract: where the store is, and the exit codes — 0 success; 1 rejected input,
/// unknown id or failed check; 2 usage error; 3 the store cannot be opened.
@Suite struct CommandLineTests {
    /// Commands that work on a store that exists: the read-only ones, and `rebuild` (which writes, but must not make a
    /// new empty store at a mistyped path).
    static let readers: [[String]] = [
        ["query", "jobs", "--status", "pending"],
        ["query", "job", "--job", "00000000-0000-4000-8000-000000000001"],
        ["read"],
        ["read", "--limit", "1"],
        ["verify"],
        ["stats"],
        ["export"],
        ["rebuild"],
    ]

    @Test("read-only commands and rebuild on a path without a store exit 3 and create nothing", arguments: readers)
    func readersOnMissingStore(_ command: [String]) throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let run = try reel(command + ["--store", store])
        #expect(run.status == 3, "\(run)")
        #expect(run.stdout.isEmpty, "\(run)")
        #expect(run.stderr.contains(store), "the reason names the store: \(run)")
        #expect(!exists(store), "no store was created")
    }

    @Test("read-only commands and rebuild on an empty directory exit 3 and leave it empty", arguments: readers)
    func readersOnEmptyDirectory(_ command: [String]) throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        try FileManager.default.createDirectory(atPath: store, withIntermediateDirectories: true)
        try Data("notes".utf8).write(to: URL(fileURLWithPath: store + "/README.txt"))
        let run = try reel(command + ["--store", store])
        #expect(run.status == 3, "\(run)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: store) == ["README.txt"])
    }

    @Test("read-only commands and rebuild through REEL_STORE on a missing store exit 3 and create nothing", arguments: readers)
    func readersOnMissingStoreFromEnvironment(_ command: [String]) throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let run = try reel(command, environment: ["REEL_STORE": store])
        #expect(run.status == 3, "\(run)")
        #expect(!exists(store))
    }

    @Test("a store without the media projection (written through the library): read, export, stats and backup work; query and replay exit 3 saying what to do; verify reports it unchecked")
    func storeWithoutMediaProjection() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        // The test driver appends through the engine with the event-type index only.
        let driver = Process()
        driver.executableURL = URL(fileURLWithPath: builtExecutable("reel-test-driver"))
        driver.arguments = ["append", store, "40", "engine", "10"]
        driver.standardOutput = FileHandle.nullDevice
        try driver.run()
        driver.waitUntilExit()
        try #require(driver.terminationStatus == 0)

        let read = try reel(["read", "--store", store])
        #expect(read.status == 0 && read.stdoutLines.count == 40, "\(read)")
        #expect(try envelopes(ofExport: reel(["export", "--store", store]).stdout).count == 40)
        let stats = try reel(["stats", "--store", store])
        #expect(stats.status == 0 && stats.stdout.contains("driver.appended"), "\(stats)")
        let copy = temporaryStorePath()
        defer { remove(copy) }
        let backup = try reel(["backup", copy, "--store", store])
        #expect(backup.status == 0, "\(backup)")
        for command in [["query", "jobs", "--status", "pending"], ["replay", "--to", "10", "query", "jobs", "--status", "pending"]] {
            let run = try reel(command + ["--store", store])
            #expect(run.status == 3, "\(command): \(run)")
            #expect(run.stderr.contains("projection media has not been built in this store") && run.stderr.contains("writable"), "\(command): \(run)")
        }
        let verify = try reel(["audit", "verify", "--store", store])
        #expect(verify.status == 1, "\(verify)")
        #expect(verify.stdout.contains("projection media: not checked"), "\(verify)")
        #expect(!verify.stdout.contains("projection event-types"), "the type index was checked and agrees: \(verify)")
    }

    @Test("a store that is not one (a regular file, a damaged data file) cannot be opened: exit 3")
    func notAStore() throws {
        let file = temporaryStorePath()
        defer { remove(file) }
        try Data("not a store".utf8).write(to: URL(fileURLWithPath: file))
        for command in [["read"], ["verify"], ["query", "jobs", "--status", "failed"]] {
            let run = try reel(command + ["--store", file])
            #expect(run.status == 3, "\(command): \(run)")
        }
        let appended = try reel(["append", "--store", file], input: inputLine("project.created", ["project_id": .string(uuid())]) + "\n")
        #expect(appended.status == 3, "\(appended)")

        let damaged = temporaryStorePath()
        defer { remove(damaged) }
        try FileManager.default.createDirectory(atPath: damaged, withIntermediateDirectories: true)
        try Data((0..<65_536).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 7) }).write(to: URL(fileURLWithPath: damaged + "/data.mdb"))
        for command in [["read"], ["verify"], ["query", "jobs", "--status", "failed"]] {
            let run = try reel(command + ["--store", damaged])
            #expect(run.status == 3, "\(command): \(run)")
            #expect(!run.stderr.isEmpty, "\(command): \(run)")
        }
    }

    @Test("a store directory may hold files Reel did not create")
    func foreignFilesInStore() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        try FileManager.default.createDirectory(atPath: store, withIntermediateDirectories: true)
        try Data("backup notes".utf8).write(to: URL(fileURLWithPath: store + "/NOTES.md"))
        let run = try append(inputLine("project.created", ["project_id": .string(uuid())]) + "\n", to: store)
        #expect(run.status == 0, "\(run)")
        #expect(try readAll(store).count == 1)
        try expectVerified(store)
    }

    @Test("an unknown query name is a usage error: exit 2")
    func unknownQuery() throws {
        let (store, _) = try smallStore()
        defer { remove(store) }
        let run = try reel(["query", "images-by-shot", "--shot", uuid(), "--store", store])
        #expect(run.status == 2, "\(run)")
        #expect(run.stdout.isEmpty)
        #expect(run.stderr.contains("images-by-shot"), "\(run)")
        try expectVerified(store)
    }

    @Test("a malformed or missing UUID option is a usage error: exit 2", arguments: [
        ["query", "job", "--job", "job-42"],
        ["query", "story", "--story", "1234"],
        ["query", "sessions", "--user", ""],
        ["query", "images-by-scene", "--project", "00000000-0000-4000-8000-00000000000"],
        ["query", "job"],
        ["query", "frames-by-shot", "--frame", "00000000-0000-4000-8000-000000000001"],
        ["query", "jobs"],
        ["query", "jobs", "--status", "done"],
        ["query", "jobs", "--status", "pending", "--limit", "-1"],
        ["query", "jobs", "--status", "pending", "--limit", "many"],
    ])
    func badQueryOptions(_ command: [String]) throws {
        let (store, _) = try smallStore()
        defer { remove(store) }
        let run = try reel(command + ["--store", store])
        #expect(run.status == 2, "\(run)")
        #expect(run.stdout.isEmpty, "\(run)")
        #expect(!run.stderr.isEmpty, "\(run)")
        try expectVerified(store)
    }

    @Test("an unknown id is exit 1 with the reason on stderr")
    func unknownId() throws {
        let (store, _) = try smallStore()
        defer { remove(store) }
        let missing = uuid()
        let run = try reel(["query", "sessions", "--user", missing, "--store", store])
        #expect(run.status == 1, "\(run)")
        #expect(run.stdout.isEmpty, "\(run)")
        #expect(run.stderr.contains("user \(missing) does not exist"), "\(run)")
        try expectVerified(store)
    }

    @Test("unknown subcommands and options are usage errors: exit 2", arguments: [
        ["frobnicate"],
        ["import-all", "--store", "/nonexistent"],
        ["read", "--frm", "3"],
        ["read", "--from", "three"],
        ["read", "--from=-1"],
        ["append", "--atomic"],
        ["verify", "--deep"],
    ])
    func usageErrors(_ command: [String]) throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let run = try reel(command, environment: ["REEL_STORE": store])
        #expect(run.status == 2, "\(run)")
        #expect(!run.stderr.isEmpty, "\(run)")
        #expect(!exists(store), "a usage error creates no store")
    }

    @Test("--store before the command works")
    func storeBeforeCommand() throws {
        let (store, user) = try smallStore()
        defer { remove(store) }
        let run = try reel(["--store", store, "query", "sessions", "--user", user])
        #expect(run.status == 0, "\(run)")
        #expect(try parseObject(run.stdout)["user_id"] as? String == user)
        let equals = try reel(["--store=\(store)", "query", "sessions", "--user", user])
        #expect(equals.status == 0, "\(equals)")
        let read = try reel(["--store", store, "read", "--limit", "1"])
        #expect(read.status == 0 && read.stdoutLines.count == 1, "\(read)")
        let project = uuid()
        let appended = try reel(["--store", store, "append"], input: inputLine("project.created", ["project_id": .string(project)]) + "\n")
        #expect(appended.status == 0, "\(appended)")
        #expect(appended.stdout == summary(appended: 1, lastPosition: 3), "\(appended)")
        let verified = try reel(["--store", store, "verify"])
        #expect(verified.status == 0 && verified.stdout == "OK\n", "\(verified)")
        try expectVerified(store)
    }

    @Test("REEL_STORE names the store when --store is not given; --store wins over it")
    func storeFromEnvironment() throws {
        let store = temporaryStorePath()
        let other = temporaryStorePath()
        defer { remove(store); remove(other) }
        let user = uuid()
        let appended = try reel(["append"], input: inputLine("user.registered", ["user_id": .string(user), "email": "env@studio.example"]) + "\n", environment: ["REEL_STORE": store])
        #expect(appended.status == 0, "\(appended)")
        #expect(exists(store))
        let run = try reel(["query", "sessions", "--user", user], environment: ["REEL_STORE": store])
        #expect(run.status == 0, "\(run)")
        #expect(try parseObject(run.stdout)["user_id"] as? String == user)
        let verified = try reel(["verify"], environment: ["REEL_STORE": store])
        #expect(verified.status == 0 && verified.stdout == "OK\n", "\(verified)")
        // --store wins: the other path has no store.
        let overridden = try reel(["read", "--store", other], environment: ["REEL_STORE": store])
        #expect(overridden.status == 3, "\(overridden)")
        #expect(!exists(other))
        try expectVerified(store)
    }

    @Test("without --store or REEL_STORE the store is ./reel-data, created on first write")
    func defaultStore() throws {
        let directory = temporaryStorePath()
        defer { remove(directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let before = try reel(["read"], directory: directory)
        #expect(before.status == 3, "\(before)")
        #expect(!exists(directory + "/reel-data"))
        let appended = try reel(["append"], input: inputLine("project.created", ["project_id": .string(uuid())]) + "\n", directory: directory)
        #expect(appended.status == 0, "\(appended)")
        #expect(exists(directory + "/reel-data"))
        let read = try reel(["read"], directory: directory)
        #expect(read.status == 0 && read.stdoutLines.count == 1, "\(read)")
        try expectVerified(directory + "/reel-data")
    }

    @Test("reel verify finds an altered event: exit 1, naming its position")
    func verifyFindsTampering() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let marker = "tamper-target-\(UUID().uuidString.prefix(8))"
        let run = try append(ndjson([
            inputLine("project.created", ["project_id": .string(uuid()), "title": "untouched"]),
            inputLine("project.created", ["project_id": .string(uuid()), "title": .string(marker)]),
            inputLine("project.created", ["project_id": .string(uuid()), "title": "after"]),
        ]), to: store)
        #expect(run.status == 0, "\(run)")
        try expectVerified(store)
        // Change the title in place, byte for byte, wherever LMDB holds it (the event and the projection record).
        let file = URL(fileURLWithPath: store + "/data.mdb")
        var bytes = [UInt8](try Data(contentsOf: file))
        let from = Array(marker.utf8), to = Array(marker.uppercased().utf8)
        var replaced = 0
        var index = 0
        while index + from.count <= bytes.count {
            if bytes[index] == from[0], Array(bytes[index..<index + from.count]) == from {
                bytes.replaceSubrange(index..<index + from.count, with: to)
                replaced += 1
                index += from.count
            } else {
                index += 1
            }
        }
        try #require(replaced > 0, "the title is stored as plain bytes")
        try Data(bytes).write(to: file)
        let verify = try reel(["verify", "--store", store])
        #expect(verify.status == 1, "\(verify)")
        #expect(verify.stdout != "OK\n", "\(verify)")
        #expect(verify.stdout.contains("position 2"), "\(verify)")
    }

    @Test("help is not an error")
    func help() throws {
        let run = try reel(["--help"])
        #expect(run.status == 0, "\(run)")
        for command in ["append", "read", "query", "verify", "demo"] {
            #expect(run.stdout.contains(command), "\(run)")
        }
    }

    /// A store with one user and one session; returns the store and the user id.
    private func smallStore() throws -> (String, String) {
        let store = temporaryStorePath()
        let user = uuid()
        let run = try append(ndjson([
            inputLine("user.registered", ["user_id": .string(user), "email": "small@studio.example"]),
            inputLine("session.created", ["session_id": .string(uuid()), "user_id": .string(user), "title": "small"]),
        ]), to: store)
        try #require(run.status == 0, "\(run)")
        return (store, user)
    }
}
