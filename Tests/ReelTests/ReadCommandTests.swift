import Foundation
import Testing

/// `reel read [--from P] [--stream S] [--type T] [--limit N]` , run as a real process.
@Suite struct ReadCommandTests {
    private func productionStore() throws -> (Production, String) {
        let store = temporaryStorePath()
        let production = Production()
        let run = try production.appended(to: store)
        try #require(run.status == 0, "\(run)")
        return (production, store)
    }

    @Test("every envelope has position, stream, version, id, type, recorded_at, data, metadata and hash")
    func envelopes() throws {
        let (p, store) = try productionStore()
        defer { remove(store) }
        let run = try reel(["read", "--store", store])
        #expect(run.status == 0, "\(run)")
        #expect(run.stderr.isEmpty, "\(run)")
        #expect(run.stdout.hasSuffix("\n"))
        let events = try parseLines(run.stdout)
        #expect(events.count == p.lines.count)
        let keys: Set<String> = ["position", "stream", "version", "id", "type", "recorded_at", "data", "metadata", "hash"]
        var previousTime = ""
        var versions: [String: Int] = [:]
        var hashes = Set<String>()
        for (index, event) in events.enumerated() {
            #expect(Set(event.keys) == keys, "\(event)")
            #expect(event["position"] as? Int == index + 1)
            let stream = try #require(event["stream"] as? String)
            versions[stream, default: 0] += 1
            #expect(event["version"] as? Int == versions[stream], "versions are 1, 2, 3, … within \(stream)")
            let id = try #require(event["id"] as? String)
            #expect(UUID(uuidString: id) != nil && id == id.lowercased())
            #expect(event["type"] is String)
            #expect(isTimestamp(event["recorded_at"]), "\(String(describing: event["recorded_at"]))")
            let time = try #require(event["recorded_at"] as? String)
            #expect(time >= previousTime, "recorded_at never decreases")
            previousTime = time
            #expect(event["data"] is [String: Any])
            #expect(event["metadata"] is [String: Any])
            let hash = try #require(event["hash"] as? String)
            #expect(hash.wholeMatch(of: /[0-9a-f]{64}/) != nil, "\(hash)")
            hashes.insert(hash)
        }
        #expect(hashes.count == events.count)

        // The input's data and metadata come back as given.
        let first = events[0]
        #expect(first["stream"] as? String == "user-\(p.alice)")
        #expect(first["type"] as? String == "user.registered")
        #expect(first["data"] as? [String: String] == ["user_id": p.alice, "email": "alice@studio.example"])
        #expect(first["metadata"] as? [String: String] == [:])
        let created = try #require(events.first { $0["type"] as? String == "generation_job.created" })
        #expect(created["stream"] as? String == "job-\(p.stormJob)")
        #expect(created["metadata"] as? [String: String] == ["actor": "api-gateway", "correlation_id": p.correlation])
        let started = try #require(events.first { $0["type"] as? String == "generation_job.started" })
        #expect(started["metadata"] as? [String: String] == ["actor": "worker-7", "causation_id": p.stormJob])
        // Events that name a child entity go to the stream of its parent.
        let deleted = try #require(events.first { $0["type"] as? String == "image.deleted" })
        #expect(deleted["stream"] as? String == "job-\(p.stormJob)")
        let shot = try #require(events.first { $0["type"] as? String == "shot.planned" })
        #expect(shot["stream"] as? String == "story-\(p.story)")
        let approved = try #require(events.first { $0["type"] as? String == "frame.approved" })
        #expect(approved["stream"] as? String == "frame-\(p.keyFrame)")
        try expectVerified(store)
    }

    @Test("an explicit event id is the envelope's id")
    func explicitIds() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let id = uuid(), project = uuid()
        #expect(try append(inputLine("project.created", ["project_id": .string(project)], id: id) + "\n", to: store).status == 0)
        let event = try #require(try readAll(store).first)
        #expect(event["id"] as? String == id)
        #expect(event["version"] as? Int == 1)
        #expect(event["stream"] as? String == "project-\(project)")
        try expectVerified(store)
    }

    @Test("--from starts at a position")
    func from() throws {
        let (p, store) = try productionStore()
        defer { remove(store) }
        let all = try readAll(store)
        let tail = try readAll(store, ["--from", "45"])
        #expect(tail.map { $0["position"] as? Int } == Array(45...p.lines.count))
        #expect(tail.map { $0["hash"] as? String } == all.suffix(from: 44).map { $0["hash"] as? String })
        let beyond = try reel(["read", "--from", "1000", "--store", store])
        #expect(beyond.status == 0 && beyond.stdout.isEmpty, "\(beyond)")
        try expectVerified(store)
    }

    @Test("--limit caps the number of events")
    func limit() throws {
        let (_, store) = try productionStore()
        defer { remove(store) }
        #expect(try readAll(store, ["--limit", "3"]).map { $0["position"] as? Int } == [1, 2, 3])
        #expect(try readAll(store, ["--from", "10", "--limit", "2"]).map { $0["position"] as? Int } == [10, 11])
        let none = try reel(["read", "--limit", "0", "--store", store])
        #expect(none.status == 0 && none.stdout.isEmpty, "\(none)")
        try expectVerified(store)
    }

    @Test("a negative --limit is a usage error, as it is for reel query jobs")
    func negativeLimit() throws {
        let (_, store) = try productionStore()
        defer { remove(store) }
        let query = try reel(["query", "jobs", "--status", "pending", "--limit=-1", "--store", store])
        #expect(query.status == 2, "\(query)")
        let read = try reel(["read", "--limit=-1", "--store", store])
        #expect(read.status == 2, "\(read)")
        #expect(!read.stderr.isEmpty, "\(read)")
        try expectVerified(store)
    }

    @Test("--stream prints one stream in version order")
    func stream() throws {
        let (p, store) = try productionStore()
        defer { remove(store) }
        let events = try readAll(store, ["--stream", "job-\(p.stormJob)"])
        #expect(events.allSatisfy { $0["stream"] as? String == "job-\(p.stormJob)" })
        #expect(events.map { $0["version"] as? Int } == Array(1...7))
        #expect(events.map { $0["type"] as? String } == [
            "generation_job.created", "generation_job.started", "image.generated", "image.generated", "image.generated",
            "generation_job.completed", "image.deleted",
        ])
        let positions = events.compactMap { $0["position"] as? Int }
        #expect(positions == positions.sorted())
        #expect(try readAll(store, ["--stream", "job-\(p.stormJob)", "--limit", "2"]).map { $0["version"] as? Int } == [1, 2])
        let unknown = try reel(["read", "--stream", "job-\(uuid())", "--store", store])
        #expect(unknown.status == 0 && unknown.stdout.isEmpty, "\(unknown)")
        try expectVerified(store)
    }

    @Test("--type prints one event type in position order")
    func type() throws {
        let (p, store) = try productionStore()
        defer { remove(store) }
        let images = try readAll(store, ["--type", "image.generated"])
        #expect(images.count == 7)
        #expect(images.allSatisfy { $0["type"] as? String == "image.generated" })
        let positions = images.compactMap { $0["position"] as? Int }
        #expect(positions == positions.sorted())
        #expect(images.map { ($0["data"] as? [String: Any])?["image_id"] as? String } == [
            p.stormImage2, p.stormImage1, p.stormImage3, p.closeUpImage, p.keyFrameImage2, p.keyFrameImage1, p.retakeImage,
        ])
        #expect(try readAll(store, ["--type", "image.generated", "--limit", "2"]).count == 2)
        let fromTen = try readAll(store, ["--type", "image.generated", "--from", "11"])
        #expect(fromTen.compactMap { $0["position"] as? Int } == positions.filter { $0 >= 11 })
        let unknown = try reel(["read", "--type", "image.upscaled", "--store", store])
        #expect(unknown.status == 0 && unknown.stdout.isEmpty, "\(unknown)")
        try expectVerified(store)
    }

    @Test("--stream with --type and --limit: the first N events of that type in the stream")
    func streamTypeLimit() throws {
        let (p, store) = try productionStore()
        defer { remove(store) }
        let all = try readAll(store, ["--stream", "job-\(p.stormJob)", "--type", "image.generated"])
        #expect(all.map { ($0["data"] as? [String: Any])?["image_id"] as? String } == [p.stormImage2, p.stormImage1, p.stormImage3])
        let first = try readAll(store, ["--stream", "job-\(p.stormJob)", "--type", "image.generated", "--limit", "1"])
        #expect(first.map { ($0["data"] as? [String: Any])?["image_id"] as? String } == [p.stormImage2])
        let two = try readAll(store, ["--stream", "job-\(p.stormJob)", "--type", "image.generated", "--limit", "2"])
        #expect(two.count == 2)
        try expectVerified(store)
    }

    @Test("--stream with --from and --limit: the first N events of the stream at or after the position")
    func streamFromLimit() throws {
        let (p, store) = try productionStore()
        defer { remove(store) }
        let stream = try readAll(store, ["--stream", "job-\(p.stormJob)"])
        let third = try #require(stream[2]["position"] as? Int)
        let fromThird = try readAll(store, ["--stream", "job-\(p.stormJob)", "--from", String(third)])
        #expect(fromThird.map { $0["version"] as? Int } == [3, 4, 5, 6, 7])
        let one = try readAll(store, ["--stream", "job-\(p.stormJob)", "--from", String(third), "--limit", "1"])
        #expect(one.map { $0["version"] as? Int } == [3])
        try expectVerified(store)
    }

    @Test("--stream over more than one page of a long stream with --from")
    func longStreamFrom() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let project = uuid()
        var lines = [inputLine("project.created", ["project_id": .string(project)])]
        for n in 0..<1_500 {
            lines.append(inputLine("scene_image.saved", ["project_id": .string(project), "scene_index": .int(n), "image_url": .string("gs://x/\(n).png")]))
        }
        #expect(try append(ndjson(lines), to: store, ["--no-sync"]).status == 0)
        #expect(try readAll(store, ["--stream", "project-\(project)"]).count == 1_501)
        let late = try readAll(store, ["--stream", "project-\(project)", "--from", "1201"])
        #expect(late.count == 301)
        #expect(late.first?["position"] as? Int == 1201)
        #expect(late.last?["position"] as? Int == 1501)
        try expectVerified(store)
    }

    @Test("a large read drains completely")
    func largeRead() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let project = uuid()
        var lines = [inputLine("project.created", ["project_id": .string(project)])]
        for n in 0..<4_000 {
            lines.append(inputLine("scene_image.saved", ["project_id": .string(project), "scene_index": .int(n % 10), "image_index": .int(n), "image_url": .string("gs://x/\(n).png")]))
        }
        #expect(try append(ndjson(lines), to: store, ["--no-sync"]).status == 0)
        let run = try reel(["read", "--store", store])
        #expect(run.status == 0)
        #expect(run.stdoutLines.count == 4_001)
        #expect(try parseObject(run.stdoutLines.last ?? "")["position"] as? Int == 4_001)
        try expectVerified(store)
    }
}
