import Foundation
import MediaPipeline
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
    /// every check but one — statuses, content types, headers and bodies as the document says, no server error, input
    /// the document calls valid accepted and invalid input refused, tokens required — on a store that holds the
    /// entities the document's examples name, so that every query answers with data for its schema to be held to.
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
        try #require(try append(ndjson(Self.documentedExamples()), to: store).status == 0)
        let (tokens, token) = try Self.tokenFile(scopes: "admin")
        defer { remove(tokens) }
        let service = try Service(store: store, tokenFile: tokens)
        defer { service.stopIfRunning() }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("reel-schemathesis-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { remove(directory) }
        try Self.schemathesisHooks.write(toFile: directory + "/hooks.py", atomically: true, encoding: .utf8)
        try Self.schemathesisConfiguration(hooks: directory + "/hooks.py").write(toFile: directory + "/schemathesis.toml", atomically: true, encoding: .utf8)

        let arguments = ["--config-file", directory + "/schemathesis.toml"] + Self.schemathesisArguments(url: service.url, token: token)
        let started = Date()
        let run = try Self.run(["python3", "-m", "schemathesis.cli"] + arguments, seconds: 240, environment: ["NO_COLOR": "1"], directory: directory)
        let version = installed.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        print("schemathesis \(version), \(Int(Date().timeIntervalSince(started))) s: \(run.stdoutLines.suffix(14).joined(separator: "\n"))")
        let shown = arguments.map { $0.contains(token) ? "Authorization: Bearer TOKEN" : $0 }.joined(separator: " ")
        #expect(run.status == 0, "schemathesis \(version) \(shown):\n\(run.stdout.suffix(20_000))\n\(run.stderr.suffix(4_000))")
        #expect(run.stdout.contains("Test cases:"), "schemathesis ran no test: \(run)")
        let errors = service.log().split(separator: "\n").filter { $0.contains(#""status":"5"#) }
        #expect(errors.isEmpty, "the service answered a request with a server error:\n\(errors.prefix(20).joined(separator: "\n"))")
        try service.stop()
        try Self.expectAuditVerified(store)
    }

    // MARK: schemathesis

    /// `schemathesis run` against a service: every route but the subscription (it never ends), every check (a method a
    /// path does not have is answered 405 with the path's methods in `Allow`), the examples of the document, the edge
    /// cases of each parameter and 50 generated requests per route, positive and negative.
    static func schemathesisArguments(url: String, token: String) -> [String] {
        [
            "run", url + "/openapi.json",
            "--header", "Authorization: Bearer \(token)",
            "--exclude-path", "/v1/subscribe",
            "--checks", "all",
            "--phases", "examples,coverage,fuzzing",
            "--max-examples", "50",
            "--workers", "2",
            "--generation-database", "none",
            "--request-timeout", "20",
            "--no-color",
        ]
    }

    /// The run's configuration: for `POST /v1/events`, a line the document calls valid may still be refused by a rule
    /// of the domain that depends on what the store holds (a project that does not exist: `422`), which no schema can
    /// say; and the hooks.
    static func schemathesisConfiguration(hooks: String) -> String {
        """
        hooks = \(JSON.quote(hooks))

        [cache]
        enabled = false

        [[operations]]
        include-path = "/v1/events"
        include-method = "POST"
        checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422", "429"]

        """
    }

    /// schemathesis spells some integers of a JSON body as whole floats (`2.0`), which JSON Schema counts as integers;
    /// Reel reads an integer only as written without a fraction (docs/EVENTS.md), which the document says in words.
    /// The hook sends such a value as the integer it stands for.
    static let schemathesisHooks = """
        import schemathesis


        def whole(value):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            if isinstance(value, dict):
                return {key: whole(item) for key, item in value.items()}
            if isinstance(value, list):
                return [whole(item) for item in value]
            return value


        @schemathesis.hook
        def map_body(context, body):
            return whole(body)

        """

    /// The example lines of docs/EVENTS.md that make a user with a session and a reference image, a project with a
    /// scene image, and a story with a scenelet, a shot and a frame whose job completed with an image and was
    /// approved: the entities the OpenAPI document's examples name.
    static func documentedExamples() throws -> [String] {
        var types: [String] = []
        for last in ["frame.approved", "scene_image.saved", "shot.assets_attached", "scenelet.updated", "scenelet.end_frame_set", "session.renamed"] {
            let event = try #require(EventDescription.named(last), "the catalogue has no \(last)")
            for type in event.exampleRequires + [last] where !types.contains(type) { types.append(type) }
        }
        return try types.map { type in try #require(EventDescription.named(type)).exampleLine }
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
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
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

        init(_ command: [String], environment: [String: String], directory: String? = nil) throws {
            let base = FileManager.default.temporaryDirectory.appendingPathComponent("reel-run-\(UUID().uuidString.prefix(8))").path
            outPath = base + ".out"
            errPath = base + ".err"
            _ = FileManager.default.createFile(atPath: outPath, contents: nil)
            _ = FileManager.default.createFile(atPath: errPath, contents: nil)
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = command
            var inherited = ProcessInfo.processInfo.environment
            inherited["REEL_STORE"] = nil
            process.environment = inherited.merging(environment) { $1 }
            process.currentDirectoryURL = URL(fileURLWithPath: directory ?? ServeClientTests.repository)
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
    static func run(_ command: [String], seconds: Double, environment: [String: String] = [:], directory: String? = nil) throws -> Finished {
        try Started(command, environment: environment, directory: directory).wait(seconds: seconds)
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

