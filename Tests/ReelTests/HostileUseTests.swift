import Foundation
import Testing

/// Ways of running `reel` that a hostile-use probe found to trap, hang or destroy a store.
@Suite("Hostile use of the command line")
struct HostileUseTests {
    /// Runs `script` with `/bin/sh -c`, `$REEL` naming the built `reel`; killed after 60 seconds (exit 124) so that a
    /// hang fails the test instead of stalling the run.
    func shell(_ script: String) throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script]
        var environment = ProcessInfo.processInfo.environment
        environment["REEL_STORE"] = nil
        environment["REEL"] = builtExecutable("reel")
        process.environment = environment
        let out = try temporaryFile("")
        let err = try temporaryFile("")
        defer { remove(out); remove(err) }
        process.standardOutput = FileHandle(forWritingAtPath: out)
        process.standardError = FileHandle(forWritingAtPath: err)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        if process.isRunning {
            kill(-process.processIdentifier, SIGKILL)
            process.terminate()
            process.waitUntilExit()
            return Run(status: 124, stdout: "", stderr: "timed out")
        }
        process.waitUntilExit()
        return Run(
            status: process.terminationStatus, stdout: try String(contentsOfFile: out, encoding: .utf8),
            stderr: try String(contentsOfFile: err, encoding: .utf8))
    }

    /// A store of a user, sessions and a job: enough output for `read` to write several times.
    func store() throws -> String {
        let store = temporaryStorePath()
        let user = uuid()
        var lines = [inputLine("user.registered", ["user_id": .string(user), "email": "probe@studio.example"])]
        for index in 0..<1_000 {
            lines.append(inputLine("session.created", ["session_id": .string(uuid()), "user_id": .string(user), "title": .string("session \(index)")]))
        }
        let run = try append(ndjson(lines), to: store)
        try #require(run.status == 0, "\(run)")
        return store
    }

    @Test("standard output that cannot be written (a read-only descriptor): read, stats and verify exit 1 saying so, never a trap")
    func unwritableOutput() throws {
        let store = try store()
        defer { remove(store) }
        let readOnly = try temporaryFile("x")
        defer { remove(readOnly) }
        for command in ["read", "stats --json", "audit verify"] {
            let run = try shell(#"exec "$REEL" --store '\#(store)' \#(command) 1<'\#(readOnly)'"#)
            #expect(run.status == 1, "\(command): \(run)")
            #expect(run.stderr.contains("cannot write standard output"), "\(command): \(run)")
        }
        try expectVerified(store)
    }

    @Test("a pipe whose reader has gone, with SIGPIPE ignored: reel read exits 1, never a trap")
    func brokenPipe() throws {
        let store = try store()
        defer { remove(store) }
        // `trap '' PIPE` makes the shell and its children ignore SIGPIPE: writes then fail with EPIPE.
        // 1,001 envelopes are far more than a pipe holds: `reel` is still writing when `head` leaves.
        let run = try shell(#"trap '' PIPE; "$REEL" --store '\#(store)' read | head -c 1 >/dev/null"#)
        #expect(!run.stderr.contains("Fatal error"), "\(run)")
        #expect(run.stderr.contains("reel: cannot write standard output: Broken pipe"), "\(run)")
        try expectVerified(store)
    }

    @Test("standard descriptors closed: the command's output never lands in the store's files")
    func closedDescriptors() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let input = try temporaryFile(ndjson([inputLine("user.registered", ["user_id": .string(uuid()), "email": "closed@studio.example"])]))
        defer { remove(input) }
        let run = try shell(#"exec "$REEL" --store '\#(store)' append '\#(input)' >&- 2>&- <&-"#)
        #expect(run.status == 0, "\(run)")
        for command in ["stats", "read", "audit verify"] {
            let again = try shell(#"exec "$REEL" --store '\#(store)' \#(command) >&- 2>&-"#)
            #expect(again.status == 0, "\(command): \(again)")
        }
        try expectVerified(store)
        #expect(try readAll(store).count == 1)
    }

    @Test("reel export into the store's own data.mdb or lock.mdb is refused (exit 1) and the store is untouched")
    func exportIntoTheStore() throws {
        let store = try store()
        defer { remove(store) }
        for own in ["data.mdb", "lock.mdb"] {
            let run = try reel(["export", store + "/" + own, "--store", store])
            #expect(run.status == 1, "\(run)")
            #expect(run.stderr.contains("is this store's \(own)"), "\(run)")
        }
        // Through another name for the same file, too.
        let link = store + "/another-name"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: store + "/data.mdb")
        let run = try reel(["export", link, "--store", store])
        #expect(run.status == 1, "\(run)")
        try expectVerified(store)
        #expect(try readAll(store).count == 1_001)
    }

    @Test("a FIFO in place of data.mdb: read-only commands exit 3 at once instead of waiting for a writer")
    func fifoDataFile() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        try FileManager.default.createDirectory(atPath: store, withIntermediateDirectories: true)
        #expect(mkfifo(store + "/data.mdb", 0o644) == 0)
        for command in ["stats", "read", "audit verify", "export", "query sessions --user \(uuid())", "backup \(store)-copy"] {
            let run = try shell(#"exec "$REEL" --store '\#(store)' \#(command)"#)
            #expect(run.status == 3, "\(command): \(run)")
            #expect(run.stderr.contains("data.mdb is not a regular file"), "\(command): \(run)")
        }
        remove(store + "-copy")
    }

    @Test("an id given twice with other content in one --all-or-nothing file is named as such, not as stored at position 0")
    func repeatedIDInOneFile() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let id = uuid()
        let user = uuid()
        let lines = [
            inputLine("user.registered", ["user_id": .string(user), "email": "first@studio.example"], id: id),
            inputLine("user.registered", ["user_id": .string(uuid()), "email": "second@studio.example"], id: id),
        ]
        let run = try append(ndjson(lines), to: store, ["--all-or-nothing"])
        #expect(run.status == 1, "\(run)")
        #expect(run.stderrLines == ["line 2: invalid batch: event id \(id) appears earlier in this input with other content"], "\(run)")
        #expect(!run.stderr.contains("position 0"), "\(run)")
        #expect(try readAll(store).isEmpty)
    }

    @Test("reel read --stream with an empty name prints nothing (no stream has it) instead of an LMDB error")
    func emptyStreamName() throws {
        let store = try store()
        defer { remove(store) }
        let run = try reel(["read", "--stream", "", "--store", store])
        #expect(run.status == 0, "\(run)")
        #expect(run.stdout.isEmpty, "\(run)")
        try expectVerified(store)
    }
}
