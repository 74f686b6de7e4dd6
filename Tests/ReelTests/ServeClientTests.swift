import Foundation
import Testing

/// `reel serve` as its users meet it: the JavaScript client and example of Examples/js run by Node against a real
/// service, and the service held to its OpenAPI document by schemathesis. Each test starts the built `reel serve` on a
/// free port over a store of its own, with a token file, and ends with `reel audit verify` saying OK.
@Suite(.serialized)
struct ServeClientTests {
    /// The example program creates a project, saves scene images, reads them by scene, clears two scenes and follows
    /// the live feed until its own events come back; the store holds exactly what it printed.
    @Test func javaScriptExampleRunsAgainstTheService() throws {
        try Self.requireNode()
        let store = temporaryStorePath()
        defer { remove(store) }
        let (tokens, token) = try Self.tokenFile(scopes: "read,append")
        defer { remove(tokens) }
        let service = try Service(store: store, tokenFile: tokens)
        defer { service.stopIfRunning() }

        let run = try Self.run(["node", Self.repository + "/Examples/js/example.mjs", service.url, token], seconds: 90)
        #expect(run.status == 0, "node example.mjs: \(run)\n--- service log:\n\(service.logTail())")
        #expect(run.stdout.contains("caught up; saving the regenerated image of scene 1"), "\(run)")
        #expect(run.stdout.contains("the regenerated image arrived live at position"), "\(run)")
        let last = try #require(run.stdoutLines.last, "\(run)")
        let printed = try parseObject(last)
        let project = try #require(printed["project_id"] as? String, "\(run)")
        #expect(printed["events"] as? Int == 9, "\(run)")

        // What the service wrote, seen through the command line once it has stopped.
        try service.stop()
        let scenes = try objects(try query(store, "images-by-scene", ["--project", project])["scenes"])
        let prefix = "https://cdn.example/\(project)/"
        #expect(scenes.map { $0["scene_index"] as? Int } == [0, 1])
        #expect(scenes.first?["image_urls"] as? [String] == [prefix + "0-0-take1.png", prefix + "0-1-take1.png"])
        #expect(scenes.last?["image_urls"] as? [String] == [prefix + "1-0-take2.png"])
        let events = try readAll(store, ["--stream", "project-\(project)"])
        #expect(
            events.map { $0["type"] as? String }
                == ["project.created"] + Array(repeating: "scene_image.saved", count: 6) + ["scene_images.cleared", "scene_image.saved"])
        #expect(events.map { $0["position"] as? Int }.last == printed["last_position"] as? Int)
        #expect(events.allSatisfy { ($0["metadata"] as? [String: Any])?["actor"] as? String == "example.mjs" })
        try Self.expectAuditVerified(store)
    }

    /// `follow` of Examples/js/reel.mjs outlives a restart of the service: the connection drops with the service, and
    /// the client connects again with `Last-Event-ID` and goes on after the last event it took — every event once, in
    /// order, including those appended while no service ran.
    @Test func javaScriptFollowResumesAfterTheServiceRestarts() throws {
        try Self.requireNode()
        let store = temporaryStorePath()
        defer { remove(store) }
        let (tokens, token) = try Self.tokenFile(scopes: "read")
        defer { remove(tokens) }
        var service = try Service(store: store, tokenFile: tokens)
        defer { service.stopIfRunning() }
        // Appended by another process while the service runs: its subscriptions see other processes' commits.
        try #require(try append(ndjson(projectLines(3)), to: store).status == 0)

        let follower = try Self.start(["node", "--input-type=module", "-e", Self.followerScript, service.url, token, "6"])
        defer { follower.end() }
        try Self.waitFor("the follower to take the first 3 events", seconds: 30, follower) { $0.eventLines.count >= 3 }

        try service.stop()
        try #require(try append(ndjson(projectLines(3)), to: store).status == 0)
        service = try Service(store: store, tokenFile: tokens, port: service.port)

        let ended = follower.wait(seconds: 60)
        #expect(ended.status == 0, "the follower: \(ended)")
        #expect(ended.eventLines.map { $0["position"] as? Int } == [1, 2, 3, 4, 5, 6], "\(ended)")
        let reconnects = ended.outputLines.filter { $0["reconnect"] != nil }
        #expect(!reconnects.isEmpty && reconnects.allSatisfy { $0["last_event_id"] as? String == "3" }, "\(ended)")
        try service.stop()
        try Self.expectAuditVerified(store)
    }

    /// schemathesis, against the live service and its `/openapi.json`: every route but the endless subscription, with
    /// its checks — statuses, content types, headers and bodies as the document says, no server error, valid input
    /// accepted and invalid input refused — on a store that holds the entities the document's examples name.
    @Test func openAPIDocumentHoldsUnderSchemathesis() throws {
        let installed = try Self.run(["python3", "-c", "import schemathesis; print(schemathesis.__version__)"], seconds: 60)
        guard installed.status == 0 else {
            Issue.record(
                "schemathesis is not installed, so the OpenAPI document cannot be checked: run tools/setup, which installs it from PyPI (python3 -m pip install 'schemathesis>=4.32,<5').\n\(installed)"
            )
            return
        }
        let store = temporaryStorePath()
        defer { remove(store) }
        try #require(try append(ndjson(try Self.documentedExamples()), to: store).status == 0)
        let (tokens, token) = try Self.tokenFile(scopes: "admin")
        defer { remove(tokens) }
        let service = try Service(store: store, tokenFile: tokens)
        defer { service.stopIfRunning() }
        let reports = FileManager.default.temporaryDirectory.appendingPathComponent("reel-schemathesis-\(UUID().uuidString.prefix(8))").path
        defer { remove(reports) }

        let arguments = Self.schemathesisArguments(url: service.url, token: token, reports: reports)
        let run = try Self.run(["python3", "-m", "schemathesis.cli"] + arguments, seconds: 300, environment: ["NO_COLOR": "1"])
        print("schemathesis \(installed.stdout.trimmingCharacters(in: .whitespacesAndNewlines)): \(run.stdoutLines.suffix(12).joined(separator: "\n"))")
        #expect(run.status == 0, "schemathesis run \(arguments.joined(separator: " ")): \(run.stdout.suffix(20_000))\n\(run.stderr.suffix(4_000))")
        #expect(!service.log().contains("\"status\":\"500\"") && !service.log().contains("status=500"), "a request answered 500:\n\(service.logTail())")
        try service.stop()
        try Self.expectAuditVerified(store)
    }

    // MARK: schemathesis

    /// The command line of the schemathesis run (documented for the document's readers in OpenAPI.swift).
    static func schemathesisArguments(url: String, token: String, reports: String) -> [String] {
        [
            "run", url + "/openapi.json",
            "--header", "Authorization: Bearer \(token)",
            "--exclude-path", "/v1/subscribe",
            "--checks", "all",
            "--phases", "examples,coverage,fuzzing",
            "--max-examples", "40",
            "--seed", String(UInt32.random(in: 1...UInt32.max)),
            "--generation-database", "none",
            "--workers", "2",
            "--request-timeout", "20",
            "--suppress-health-check", "all",
            "--report", "junit", "--report-dir", reports,
            "--no-color",
        ]
    }

    /// The example lines of docs/EVENTS.md, in an order the store accepts: a user with a session and a reference
    /// image, a project with a scene image, a story with a scenelet, a shot and a frame, and a job for the frame that
    /// completed with an image and was approved. The OpenAPI document's examples name their ids.
    static func documentedExamples() throws -> [String] {
        let text = try String(contentsOfFile: repository + "/docs/EVENTS.md", encoding: .utf8)
        let order = [
            "user.registered", "session.created", "session.renamed", "reference_image.uploaded", "project.created", "scene_image.saved",
            "story.created", "scenelet.added", "shot.planned", "shot.assets_attached", "frame.created", "generation_job.created",
            "generation_job.started", "image.generated", "generation_job.completed", "frame.approved", "scenelet.updated", "scenelet.end_frame_set",
        ]
        return try order.map { type in
            let section = try #require(text.range(of: "\n## `\(type)`\n"), "docs/EVENTS.md has no section \(type)")
            let rest = text[section.upperBound...]
            let start = try #require(rest.range(of: "```json\n"), "no example of \(type)")
            let end = try #require(rest[start.upperBound...].range(of: "\n```"), "no example of \(type)")
            return String(rest[start.upperBound..<end.lowerBound])
        }
    }

    // MARK: The service

    /// A running `reel serve` on a free port (or the one given) over `store`, its log in a file.
    final class Service: @unchecked Sendable {
        let process = Process()
        let url: String
        let port: Int
        private let logPath: String

        init(store: String, tokenFile: String, port: Int = 0) throws {
            logPath = FileManager.default.temporaryDirectory.appendingPathComponent("reel-serve-\(UUID().uuidString.prefix(8)).log").path
            FileManager.default.createFile(atPath: logPath, contents: nil)
            process.executableURL = URL(fileURLWithPath: builtExecutable("reel"))
            process.arguments = ["--store", store, "serve", "--port", String(port), "--token-file", tokenFile, "--log-format", "json"]
            var environment = ProcessInfo.processInfo.environment
            environment["REEL_STORE"] = nil
            process.environment = environment
            let out = Pipe()
            process.standardOutput = out
            process.standardError = FileHandle(forWritingAtPath: logPath)
            process.standardInput = FileHandle.nullDevice
            try process.run()
            // The first line on standard output, {"listening":"http://127.0.0.1:PORT"}, once it is ready; the rest
            // (nothing more is printed) is drained, so that the service can never block on it.
            let reading = out.fileHandleForReading
            let printed = Printed()
            DispatchQueue.global().async {
                while true {
                    let chunk = reading.availableData
                    printed.append(chunk)
                    if chunk.isEmpty { return }
                }
            }
            _ = printed.firstLine.wait(timeout: .now() + 60)
            let line = printed.text
            guard let object = try? parseObject(line.trimmingCharacters(in: .whitespacesAndNewlines)), let url = object["listening"] as? String,
                let port = URL(string: url)?.port
            else {
                if process.isRunning { process.terminate() }
                process.waitUntilExit()
                let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
                remove(logPath)
                throw ServiceFailure("reel serve did not say where it listens: \(line.prefix(500))\n\(log.suffix(4_000))")
            }
            self.url = url
            self.port = port
        }

        func log() -> String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
        func logTail() -> String { String(log().suffix(6_000)) }

        /// SIGTERM, and the graceful shutdown that follows: exit 0 within 30 s.
        func stop(sourceLocation: SourceLocation = #_sourceLocation) throws {
            guard process.isRunning else {
                #expect(process.terminationStatus == 0, "reel serve ended by itself:\n\(logTail())", sourceLocation: sourceLocation)
                return
            }
            process.terminate()
            let deadline = Date().addingTimeInterval(30)
            while process.isRunning, Date() < deadline { usleep(20_000) }
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                Issue.record("reel serve did not stop within 30 s of SIGTERM:\n\(logTail())", sourceLocation: sourceLocation)
                return
            }
            #expect(process.terminationStatus == 0, "reel serve after SIGTERM:\n\(logTail())", sourceLocation: sourceLocation)
        }

        func stopIfRunning() {
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
            remove(logPath)
        }
    }

    /// What a service printed on standard output; `firstLine` is signalled at its first line feed or its end.
    final class Printed: @unchecked Sendable {
        private let lock = NSLock()
        private var data = Data()
        private var signalled = false
        let firstLine = DispatchSemaphore(value: 0)

        func append(_ chunk: Data) {
            let signal: Bool = lock.withLock {
                data.append(chunk)
                guard !signalled, chunk.isEmpty || data.contains(0x0A) else { return false }
                signalled = true
                return true
            }
            if signal { firstLine.signal() }
        }

        var text: String { lock.withLock { String(decoding: data.prefix { $0 != 0x0A }, as: UTF8.self) } }
    }

    struct ServiceFailure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// A token file with one fresh token of `scopes`, and the token.
    static func tokenFile(scopes: String) throws -> (path: String, token: String) {
        let token = (0..<4).map { _ in String(format: "%08x", UInt32.random(in: 0...UInt32.max)) }.joined()
        return (try temporaryFile("# for the test\n\(token) \(scopes)\n"), token)
    }

    /// `reel audit verify` says OK and exits 0.
    static func expectAuditVerified(_ store: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let run = try reel(["audit", "verify", "--store", store])
        #expect(run.status == 0 && run.stdout == "OK\n", "reel audit verify: \(run)", sourceLocation: sourceLocation)
    }

    // MARK: Other programs

    /// The repository's root (this file is Tests/ReelTests/ServeClientTests.swift).
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// Node 18 or later is on PATH (tools/setup installs it).
    static func requireNode() throws {
        let run = try run(["node", "-e", "process.exit(Number(process.versions.node.split('.')[0]) >= 18 ? 0 : 1)"], seconds: 30)
        try #require(run.status == 0, "Node 18 or later is needed on PATH (tools/setup installs Debian's nodejs): \(run)")
    }

    /// A program started through `/usr/bin/env` (found on PATH), its output going to files.
    final class Started: @unchecked Sendable {
        let process = Process()
        let outPath: String
        let errPath: String

        init(_ command: [String], environment: [String: String]) throws {
            let base = FileManager.default.temporaryDirectory.appendingPathComponent("reel-run-\(UUID().uuidString.prefix(8))").path
            outPath = base + ".out"
            errPath = base + ".err"
            FileManager.default.createFile(atPath: outPath, contents: nil)
            FileManager.default.createFile(atPath: errPath, contents: nil)
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = command
            var inherited = ProcessInfo.processInfo.environment
            inherited["REEL_STORE"] = nil
            process.environment = inherited.merging(environment) { $1 }
            process.currentDirectoryURL = URL(fileURLWithPath: ServeClientTests.repository)
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = FileHandle(forWritingAtPath: outPath)
            process.standardError = FileHandle(forWritingAtPath: errPath)
            try process.run()
        }

        var stdout: String { (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "" }
        var stderr: String { (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "" }
        var outputLines: [[String: Any]] {
            stdout.split(separator: "\n").compactMap { line in
                (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
            }
        }
        var eventLines: [[String: Any]] { outputLines.filter { $0["position"] != nil } }

        /// Waits at most `seconds` for the end (SIGKILL then), and says how it went.
        func wait(seconds: Double) -> Finished {
            let deadline = Date().addingTimeInterval(seconds)
            while process.isRunning, Date() < deadline { usleep(20_000) }
            let timedOut = process.isRunning
            if timedOut { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            let finished = Finished(status: timedOut ? -1 : process.terminationStatus, stdout: stdout, stderr: stderr, timedOut: timedOut)
            end()
            return finished
        }

        func end() {
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
            remove(outPath)
            remove(errPath)
        }
    }

    /// How a program ended, and what it printed.
    struct Finished: CustomStringConvertible {
        let status: Int32
        let stdout: String
        let stderr: String
        let timedOut: Bool

        var stdoutLines: [String] { stdout.split(separator: "\n").map(String.init) }
        var outputLines: [[String: Any]] {
            stdout.split(separator: "\n").compactMap { line in
                (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
            }
        }
        var eventLines: [[String: Any]] { outputLines.filter { $0["position"] != nil } }
        var description: String {
            (timedOut ? "timed out" : "exit \(status)") + "\n--- stdout:\n\(stdout.suffix(8_000))\n--- stderr:\n\(stderr.suffix(4_000))"
        }
    }

    static func start(_ command: [String], environment: [String: String] = [:]) throws -> Started {
        try Started(command, environment: environment)
    }

    /// Runs a program to its end, at most `seconds`.
    static func run(_ command: [String], seconds: Double, environment: [String: String] = [:]) throws -> Finished {
        try Started(command, environment: environment).wait(seconds: seconds)
    }

    /// Polls what `program` printed until `condition` holds, at most `seconds`.
    static func waitFor(
        _ what: String, seconds: Double, _ program: Started, sourceLocation: SourceLocation = #_sourceLocation, _ condition: (Started) -> Bool
    ) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while !condition(program) {
            guard Date() < deadline, program.process.isRunning else {
                try #require(condition(program), "waiting for \(what): stdout \(program.stdout.suffix(4_000))\nstderr \(program.stderr.suffix(4_000))", sourceLocation: sourceLocation)
                return
            }
            usleep(50_000)
        }
    }

    /// A follower written with Examples/js/reel.mjs: `URL TOKEN COUNT` follows from position 1, prints each event's
    /// position and type and each reconnection as JSON lines, and exits 0 after COUNT events.
    static let followerScript = """
        import { ReelClient } from \(JSON.quote(URL(fileURLWithPath: repository + "/Examples/js/reel.mjs").absoluteString));
        const [url, token, count] = process.argv.slice(1);
        const reel = new ReelClient(url, { token });
        let taken = 0;
        const onReconnect = ({ reason, lastEventId }) => console.log(JSON.stringify({ reconnect: reason, last_event_id: lastEventId }));
        for await (const event of reel.follow({ from: 1, retries: 200, retryDelay: 100, onReconnect })) {
          console.log(JSON.stringify({ position: event.position, type: event.type }));
          if (++taken === Number(count)) break;
        }
        """
}

