import Foundation
import Testing


/// `reel serve`, the built binary on a free port: every route against what the command line prints, tokens and scopes,
/// limits and bad input, subscriptions, and a shutdown under load that loses nothing it acknowledged.
@Suite("reel serve", .serialized)
struct ServeCommandTests {
    static func project(_ id: String) -> String { inputLine("project.created", ["project_id": .string(id)]) }
    static func image(_ project: String, scene: Int, index: Int, id: String? = nil) -> String {
        inputLine(
            "scene_image.saved",
            ["project_id": .string(project), "scene_index": .int(scene), "image_index": .int(index), "image_url": .string("https://cdn.example/\(scene)/\(index).png")],
            id: id)
    }

    @Test("every route answers what the command of the same name prints; rejections set the status of one-line and all-or-nothing bodies")
    func routes() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let server = try ServeProcess(store: store, ["--body-limit", "100000"])
        let project = uuid()
        // Lines stand alone: a broken rule (422) and a malformed line (400) are rejected, the rest land.
        let mixed = try http(
            "POST", server.url + "/v1/events",
            body: ndjsonBody([Self.project(project), Self.image(project, scene: 0, index: 0), Self.project(project), "{\"type\":", Self.image(project, scene: 1, index: 0)]))
        #expect(mixed.status == 200, "\(mixed)")
        #expect(mixed.json["appended"] as? Int == 3 && mixed.json["rejected"] as? Int == 2, "\(mixed)")
        let rejections = try objects(mixed.json["rejections"])
        #expect(rejections.map { $0["line"] as? Int } == [3, 4], "\(mixed)")
        #expect(rejections.map { $0["status"] as? Int } == [422, 400], "\(mixed)")
        #expect((rejections[0]["reason"] as? String)?.contains("project.created rejected") == true, "\(mixed)")

        // One line: the rejection is the status.
        let rule = try http("POST", server.url + "/v1/events", body: ndjsonBody([Self.project(project)]))
        #expect(rule.status == 422 && (rule.json["error"] as? String)?.contains("already exists") == true, "\(rule)")
        let conflict = try http(
            "POST", server.url + "/v1/events",
            body: ndjsonBody([inputLine("scene_image.saved", ["project_id": .string(project), "scene_index": 5, "image_url": "u"], expectedVersion: 0)]))
        #expect(conflict.status == 409, "\(conflict)")
        let malformed = try http("POST", server.url + "/v1/events", body: Data([0x7B, 0xFF, 0xFE, 0x7D, 0x0A]))
        #expect(malformed.status == 400, "\(malformed)")
        let empty = try http("POST", server.url + "/v1/events", body: Data("\n\n".utf8))
        #expect(empty.status == 400, "\(empty)")

        // All or nothing: one bad line refuses the body and writes nothing.
        let head = try parseObject(try reel(["stats", "--json", "--store", store]).stdout)["events"] as? Int
        let atomic = try http(
            "POST", server.url + "/v1/events?all_or_nothing=true",
            body: ndjsonBody([Self.image(project, scene: 2, index: 0), Self.project(project)]))
        #expect(atomic.status == 422, "\(atomic)")
        #expect(try parseObject(try reel(["stats", "--json", "--store", store]).stdout)["events"] as? Int == head, "nothing was written")
        let whole = try http(
            "POST", server.url + "/v1/events?all_or_nothing=true",
            body: ndjsonBody([Self.image(project, scene: 2, index: 0), Self.image(project, scene: 2, index: 1)]))
        #expect(whole.status == 200 && whole.json["appended"] as? Int == 2, "\(whole)")

        // A body over the limit.
        let large = try http("POST", server.url + "/v1/events", body: Data(repeating: 0x20, count: 200_000))
        #expect(large.status == 413, "\(large)")

        // Reads and queries: what the commands print, byte for byte (the store is read by them as another process).
        let read = try http("GET", server.url + "/v1/events")
        let printed = try reel(["read", "--store", store]).stdout
        #expect(read.status == 200 && read.text == printed, "\(read)")
        let typed = try http("GET", server.url + "/v1/events?type=scene_image.saved&limit=2&from=2")
        #expect(typed.text == (try reel(["read", "--store", store, "--type", "scene_image.saved", "--limit", "2", "--from", "2"]).stdout))
        let streamed = try http("GET", server.url + "/v1/events?stream=project-\(project)&from=3")
        #expect(streamed.text == (try reel(["read", "--store", store, "--stream", "project-\(project)", "--from", "3"]).stdout))
        let scenes = try http("GET", server.url + "/v1/queries/images-by-scene?project=\(project)")
        let queried = try reel(["query", "images-by-scene", "--store", store, "--project", project]).stdout
        #expect(scenes.status == 200 && scenes.text == queried, "\(scenes)")
        #expect(try http("GET", server.url + "/v1/queries/images-by-scene?project=\(uuid())").status == 404)
        #expect(try http("GET", server.url + "/v1/queries/no-such-query").status == 404)
        #expect(try http("GET", server.url + "/v1/queries/images-by-scene?project=not-a-uuid").status == 400)
        #expect(try http("GET", server.url + "/v1/queries/images-by-scene?project=\(project)&frame=\(uuid())").status == 400)
        let stats = try http("GET", server.url + "/v1/stats")
        #expect(stats.text == (try reel(["stats", "--json", "--store", store]).stdout), "\(stats)")
        let history = try http("GET", server.url + "/v1/audit/history?id=\(project)")
        let historyPrinted = try reel(["audit", "history", "--store", store, "--id", project, "--json"]).stdout
        #expect(history.status == 200 && history.text == historyPrinted, "\(history)")
        #expect(try http("GET", server.url + "/v1/audit/history?id=\(uuid())").status == 404)
        let verify = try http("GET", server.url + "/v1/audit/verify")
        #expect(verify.status == 200 && verify.json["ok"] as? Bool == true, "\(verify)")
        let health = try http("GET", server.url + "/health")
        #expect(health.status == 200 && health.json["status"] as? String == "ready", "\(health)")
        let metrics = try http("GET", server.url + "/metrics")
        for name in [
            "reel_appends_total", "reel_rejections_total", "reel_group_commit_events", "reel_commit_duration_seconds", "reel_writer_queue_depth",
            "reel_subscribers", "reel_http_requests_total", "reel_http_request_duration_seconds",
        ] {
            #expect(metrics.text.contains(name), "metrics lack \(name)")
        }
        let document = try http("GET", server.url + "/openapi.json")
        let paths = try #require(document.json["paths"] as? [String: Any])
        let expectedPaths = Set(["/v1/events", "/v1/subscribe", "/v1/stats", "/v1/audit/verify", "/v1/audit/history", "/health", "/metrics", "/openapi.json"])
        #expect(expectedPaths.isSubset(of: Set(paths.keys)), "\(paths.keys.sorted())")
        let queryPaths = paths.keys.filter { $0.hasPrefix("/v1/queries/") }
        #expect(queryPaths.count >= 10, "one path per query: \(queryPaths.sorted())")
        #expect(try http("GET", server.url + "/no/such/route").status == 404)
        // A path the service has, with a method it does not take there: 405, and the methods it takes.
        let wrongMethod = try http("DELETE", server.url + "/v1/events")
        #expect(wrongMethod.status == 405 && wrongMethod.headers["allow"] == "POST, GET, HEAD", "\(wrongMethod) \(wrongMethod.headers)")
        #expect((wrongMethod.json["error"] as? String)?.contains("DELETE") == true, "\(wrongMethod)")
        let posted = try http("POST", server.url + "/health", body: Data("{}".utf8))
        #expect(posted.status == 405 && posted.headers["allow"] == "GET, HEAD", "\(posted)")
        // HEAD answers as GET does, without the body.
        let got = try http("GET", server.url + "/v1/stats")
        let headOnly = try http("HEAD", server.url + "/v1/stats")
        #expect(
            headOnly.status == 200 && headOnly.body.isEmpty && headOnly.headers["content-type"] == got.headers["content-type"],
            "\(headOnly) \(headOnly.headers)")
        #expect(headOnly.headers["content-length"] == got.headers["content-length"] && got.body.count > 0, "\(headOnly.headers) \(got.headers)")
        #expect(try http("HEAD", server.url + "/v1/queries/images-by-scene?project=\(uuid())").status == 404)
        #expect(try http("PUT", server.url + "/v1/queries/images-by-scene?project=\(uuid())").status == 405)
        #expect(try http("DELETE", server.url + "/no/such/route").status == 404)
        let stopped = server.stop()
        #expect(stopped.status == 0, "\(stopped.log)")
        try expectVerified(store)
    }

    @Test("tokens: none is 401, one outside its scope 403; /health and /openapi.json are open; no token file binds only loopback")
    func tokens() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let (reader, writer, admin) = ("r-" + uuid(), "w-" + uuid(), "a-" + uuid())
        let file = try temporaryFile("# tokens\n\(reader) read\n\(writer) read,append\n\n\(admin) admin\n")
        defer { remove(file) }
        let server = try ServeProcess(store: store, ["--token-file", file])
        func bearer(_ token: String) -> [String: String] { ["Authorization": "Bearer \(token)"] }
        let line = ndjsonBody([Self.project(uuid())])
        #expect(try http("POST", server.url + "/v1/events", body: line).status == 401)
        #expect(try http("POST", server.url + "/v1/events", body: line, headers: bearer("nope-" + uuid())).status == 401)
        #expect(try http("POST", server.url + "/v1/events", body: line, headers: bearer(reader)).status == 403)
        #expect(try http("POST", server.url + "/v1/events", body: line, headers: bearer(writer)).status == 200)
        #expect(try http("GET", server.url + "/v1/events", headers: bearer(reader)).status == 200)
        #expect(try http("GET", server.url + "/v1/audit/verify", headers: bearer(writer)).status == 403)
        #expect(try http("GET", server.url + "/v1/audit/verify", headers: bearer(admin)).status == 200)
        #expect(try http("GET", server.url + "/metrics").status == 401)
        #expect(try http("GET", server.url + "/metrics", headers: bearer(reader)).status == 200)
        #expect(try http("GET", server.url + "/health").status == 200)
        #expect(try http("GET", server.url + "/openapi.json").status == 200)
        let log = server.stop().log
        for token in [reader, writer, admin] { #expect(!log.contains(token), "a token was logged") }

        // Without a token file, only a loopback address.
        let open = try reel(["serve", "--store", store, "--host", "0.0.0.0", "--port", "0"])
        #expect(open.status == 2 && open.stderr.contains("loopback"), "\(open)")
        let bad = try temporaryFile("short read\n")
        defer { remove(bad) }
        let refused = try reel(["serve", "--store", store, "--token-file", bad, "--port", "0"])
        #expect(refused.status == 2 && refused.stderr.contains("token file line 1"), "\(refused)")
        try expectVerified(store)
    }

    @Test("subscriptions: every event from a position on, then live ones (also another process's), resumed after Last-Event-ID, with heartbeats and a limit")
    func subscriptions() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let server = try ServeProcess(store: store, ["--heartbeat", "0.3", "--max-subscribers", "2"])
        let project = uuid()
        #expect(try http("POST", server.url + "/v1/events", body: ndjsonBody([Self.project(project)] + (0..<9).map { Self.image(project, scene: 0, index: $0) })).status == 200)
        let first = try EventStreamReader(server.url + "/v1/subscribe?from=4")
        #expect(first.wait { $0.events.count == 7 }, "events 4…10: \(first.events.map(\.id))")
        // Live: another process appends.
        let appended = try append(ndjson((0..<5).map { Self.image(project, scene: 1, index: $0) }), to: store)
        #expect(appended.status == 0, "\(appended)")
        #expect(first.wait { $0.events.count == 12 }, "\(first.events.map(\.id))")
        #expect(first.events.map(\.id) == Array(4...15), "every position once, in order")
        #expect(first.wait { $0.heartbeats > 0 }, "an idle subscription gets heartbeats")
        // A second one resumes after the last id it saw; a third is over the limit.
        let second = try EventStreamReader(server.url + "/v1/subscribe", headers: ["Last-Event-ID": "12"])
        #expect(second.wait { $0.events.count == 3 } && second.events.map(\.id) == [13, 14, 15], "\(second.events.map(\.id))")
        #expect(try http("GET", server.url + "/v1/subscribe").status == 503)
        #expect(try http("GET", server.url + "/v1/subscribe?from=x").status == 400)
        // Every data line is the envelope `reel read` prints.
        let envelopes = try reel(["read", "--store", store, "--from", "4"]).stdoutLines
        #expect(first.events.map(\.data) == envelopes)
        // Shutdown ends them, with a reason.
        let stopped = server.stop()
        #expect(stopped.status == 0, "\(stopped.log)")
        #expect(first.ended(within: 10) && second.ended(within: 10), "the subscriptions end with the service")
        #expect(first.ends.contains { $0.contains("shutdown") }, "\(first.ends)")
        try expectVerified(store)
    }

    @Test("16 concurrent writers save distinct images into one project: none is lost; SIGTERM under load loses nothing acknowledged")
    func shutdownUnderLoad() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let server = try ServeProcess(store: store)
        let project = uuid()
        #expect(try http("POST", server.url + "/v1/events", body: ndjsonBody([Self.project(project)])).status == 200)
        let acknowledged = Locked<[String]>([])
        let stop = Locked(false)
        let group = DispatchGroup()
        for writer in 0..<16 {
            let thread = Thread {
                defer { group.leave() }
                guard let client = KeepAliveClient(server.url) else { return }
                var index = 0
                while !stop.withLock({ $0 }) {
                    let id = uuid()
                    guard let answer = client.send("POST", "/v1/events", body: ndjsonBody([Self.image(project, scene: writer, index: index, id: id)]))
                    else { break }  // the service is gone
                    if answer.status == 200 { acknowledged.withLock { $0.append(id) } }
                    index += 1
                }
            }
            group.enter()
            thread.start()
        }
        // Half a second of load, then SIGTERM while the writers go on.
        Thread.sleep(forTimeInterval: 1.5)
        let stopped = server.stop(SIGTERM)
        stop.withLock { $0 = true }
        group.wait()
        #expect(stopped.status == 0, "\(stopped.log.suffix(2_000))")
        let ids = acknowledged.withLock { $0 }
        #expect(ids.count > 16, "some saves were acknowledged before the shutdown")
        // Every acknowledged save is stored, and every saved image is in the read model.
        let stored = Set(try readAll(store).compactMap { $0["id"] as? String })
        let missing = ids.filter { !stored.contains($0) }
        #expect(missing.isEmpty, "\(missing.count) acknowledged saves are missing")
        let scenes = try query(store, "images-by-scene", ["--project", project])
        let images = try objects(scenes["scenes"]).reduce(0) { $0 + ((($1["image_urls"] as? [Any])?.count) ?? 0) }
        #expect(images == stored.count - 1, "every stored save is an image of the project: \(images) of \(stored.count - 1)")
        try expectVerified(store)
    }

    @Test("bad HTTP, a client gone mid-request, a body that never finishes: a clear status or a closed connection, and the service goes on")
    func hostileClients() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let server = try ServeProcess(store: store, ["--request-timeout", "1"])
        let port = try #require(URL(string: server.url)?.port)
        func raw(_ bytes: [UInt8], close: Bool = true, read: Bool = true) -> String {
            guard let socket = connectLoopback(port: port) else { return "not connected" }
            defer { if close { Glibc.close(socket) } }
            _ = bytes.withUnsafeBytes { send(socket, $0.baseAddress, $0.count, 0) }
            guard read else { return "" }
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var buffer = [UInt8](repeating: 0, count: 4_096)
            let count = recv(socket, &buffer, buffer.count, 0)
            return count > 0 ? String(decoding: buffer.prefix(count), as: UTF8.self) : "closed"
        }
        let garbage = raw(Array("NOT HTTP AT ALL\r\n\r\n".utf8))
        #expect(garbage == "closed" || garbage.hasPrefix("HTTP/1.1 4"), "\(garbage)")
        // A body announced longer than it is, never finished: 408 after the request timeout, or closed.
        let slow = raw(Array("POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"type\"".utf8))
        #expect(slow == "closed" || slow.hasPrefix("HTTP/1.1 408"), "\(slow)")
        // A client that leaves mid-body.
        _ = raw(Array("POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{\"type\":".utf8), read: false)
        // Invalid UTF-8 in a line: that line is rejected.
        let project = uuid()
        var body = ndjsonBody([Self.project(project)])
        body.append(contentsOf: [0x7B, 0x22, 0xC3, 0x28, 0x22, 0x7D, 0x0A])
        let mixed = try http("POST", server.url + "/v1/events", body: body)
        #expect(mixed.status == 200 && mixed.json["rejected"] as? Int == 1 && mixed.json["appended"] as? Int == 1, "\(mixed)")
        // The service still answers.
        #expect(try http("GET", server.url + "/health").status == 200)
        let stopped = server.stop()
        #expect(stopped.status == 0, "\(stopped.log.suffix(2_000))")
        try expectVerified(store)
    }

    @Test("--log-format json logs one JSON object per line with each request's id; --tls-certificate serves HTTPS")
    func logsAndTLS() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let server = try ServeProcess(store: store, ["--log-format", "json"])
        let answer = try http("GET", server.url + "/health", headers: ["X-Request-Id": "probe-1234"])
        #expect(answer.headers["x-request-id"] == "probe-1234")
        let log = server.stop().log
        let lines = log.split(separator: "\n").map(String.init)
        #expect(!lines.isEmpty)
        for line in lines {
            #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) is [String: Any], "not a JSON object: \(line)")
        }
        #expect(lines.contains { $0.contains("\"request_id\":\"probe-1234\"") }, "\(log)")

        // HTTPS from a certificate and key (made here with openssl).
        let directory = temporaryStorePath() + "-tls"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { remove(directory) }
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        openssl.arguments = [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
            "-keyout", directory + "/key.pem", "-out", directory + "/cert.pem",
        ]
        openssl.standardOutput = FileHandle.nullDevice
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        try #require(openssl.terminationStatus == 0, "openssl made no certificate")
        let secure = try ServeProcess(store: store, ["--tls-certificate", directory + "/cert.pem", "--tls-key", directory + "/key.pem"])
        #expect(secure.url.hasPrefix("https://"))
        let curl = Process()
        curl.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        curl.arguments = ["curl", "-s", "--cacert", directory + "/cert.pem", secure.url.replacingOccurrences(of: "127.0.0.1", with: "localhost") + "/health"]
        let out = Pipe()
        curl.standardOutput = out
        try curl.run()
        let health = out.fileHandleForReading.readDataToEndOfFile()
        curl.waitUntilExit()
        #expect(String(decoding: health, as: UTF8.self).contains("\"ready\""), "HTTPS answered: \(String(decoding: health, as: UTF8.self))")
        #expect(secure.stop().status == 0)
        try expectVerified(store)
    }

    @Test("a subscriber that takes nothing is let go after the slow-subscriber timeout: its place is free again, and a shutdown is not held up")
    func slowSubscriber() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let server = try ServeProcess(store: store, ["--slow-subscriber-timeout", "1", "--max-subscribers", "1", "--subscriber-buffer", "16"])
        let port = try #require(URL(string: server.url)?.port)
        let project = uuid()
        // Events large enough to fill the connection's buffers many times over.
        let long = String(repeating: "u", count: 60_000)
        for batch in 0..<2 {
            let lines = (0..<100).map { index in
                inputLine(
                    "scene_image.saved",
                    ["project_id": .string(project), "scene_index": .int(batch), "image_index": .int(index), "image_url": .string("https://cdn.example/\(long)/\(index)")])
            }
            #expect(try http("POST", server.url + "/v1/events", body: ndjsonBody((batch == 0 ? [Self.project(project)] : []) + lines)).status == 200)
        }
        // A client that asks for the feed and never reads it.
        let stuck = try #require(connectLoopback(port: port))
        defer { close(stuck) }
        var small: Int32 = 4_096
        setsockopt(stuck, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        let request = Array("GET /v1/subscribe?from=1 HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(stuck, $0.baseAddress, $0.count, 0) }
        Thread.sleep(forTimeInterval: 0.5)
        #expect(try http("GET", server.url + "/v1/subscribe").status == 503, "its place is taken while it is connected")
        // Within a few seconds it is let go, and its place is free.
        var freed = false
        for _ in 0..<60 {
            Thread.sleep(forTimeInterval: 0.25)
            let metrics = try http("GET", server.url + "/metrics").text
            if metrics.split(separator: "\n").contains("reel_subscribers 0.0") {
                freed = true
                break
            }
        }
        #expect(freed, "the stuck subscriber still holds its place")
        let started = Date()
        let stopped = server.stop()
        #expect(stopped.status == 0 && Date().timeIntervalSince(started) < 20, "\(stopped.log.suffix(2_000))")
        #expect(stopped.log.contains("took nothing"), "\(stopped.log.suffix(2_000))")
        try expectVerified(store)
    }
}
