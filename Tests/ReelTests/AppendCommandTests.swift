import Foundation
import Testing

/// `reel append [FILE|-] [--all-or-nothing] [--no-sync]` , run as a real process.
@Suite struct AppendCommandTests {
    // MARK: Good input

    /// How the input reaches `reel append`.
    enum Source: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case file, dash, standardInput
        var testDescription: String { rawValue }
    }

    @Test("a realistic production appends from a file, from `-` and from standard input", arguments: Source.allCases)
    func appendsARealisticProduction(source: Source) throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let production = Production()
        let count = production.lines.count
        let run: Run
        switch source {
        case .file:
            let file = try temporaryFile(production.text)
            defer { remove(file) }
            run = try reel(["append", file, "--store", store])
        case .dash:
            run = try reel(["append", "-", "--store", store], input: production.text)
        case .standardInput:
            run = try reel(["append", "--store", store], input: production.text)
        }
        #expect(run.status == 0, "\(run)")
        #expect(run.stdout == summary(appended: count, lastPosition: count), "\(run)")
        #expect(run.stderr.isEmpty, "\(run)")

        let events = try readAll(store)
        #expect(events.count == count)
        #expect(events.map { $0["position"] as? Int } == Array(1...count))
        let types = try production.lines.map { try parseObject($0)["type"] as? String }
        #expect(events.map { $0["type"] as? String } == types, "events are stored in input order")
        try expectVerified(store)
    }

    @Test("a second append continues the positions and reports the new head")
    func secondAppendContinues() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let production = Production()
        #expect(try production.appended(to: store).status == 0)
        let project = uuid()
        let run = try append(ndjson([
            inputLine("project.created", ["project_id": .string(project)]),
            inputLine("scene_image.saved", ["project_id": .string(project), "scene_index": 0, "image_url": "gs://b/0.png"]),
        ]), to: store)
        #expect(run.status == 0, "\(run)")
        let head = production.lines.count + 2
        #expect(run.stdout == summary(appended: 2, lastPosition: head), "\(run)")
        #expect(try readAll(store, ["--from", String(head - 1)]).map { $0["stream"] as? String } == ["project-\(project)", "project-\(project)"])
        try expectVerified(store)
    }

    @Test("UUIDs are accepted in any case and stored lower-case")
    func upperCaseUUIDs() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let user = uuid(), event = uuid()
        let run = try append(ndjson([
            inputLine("user.registered", ["user_id": .string(user.uppercased()), "email": "up@case.example"], id: event.uppercased()),
            inputLine("session.created", ["session_id": .string(uuid().uppercased()), "user_id": .string(user), "title": "mixed case"]),
        ]), to: store)
        #expect(run.status == 0, "\(run)")
        #expect(run.stdout == summary(appended: 2, lastPosition: 2), "\(run)")
        let events = try readAll(store)
        #expect(events.first?["id"] as? String == event)
        #expect(events.first?["stream"] as? String == "user-\(user)")
        #expect((events.first?["data"] as? [String: Any])?["user_id"] as? String == user)
        #expect(((events.last?["data"] as? [String: Any])?["session_id"] as? String).map { $0 == $0.lowercased() } == true)
        // The same id, given in the other case, is the same event: a duplicate.
        let again = try append(inputLine("user.registered", ["user_id": .string(user), "email": "up@case.example"], id: event) + "\n", to: store)
        #expect(again.status == 0, "\(again)")
        #expect(again.stdout == summary(appended: 0, duplicates: 1, lastPosition: 1), "\(again)")
        try expectVerified(store)
    }

    @Test("optional fields may be null: null means not given")
    func nullOptionals() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let user = uuid(), job = uuid()
        let run = try append(ndjson([
            #"{"type":"user.registered","data":{"user_id":"\#(user)","email":"n@ull.example"},"id":null,"expected_version":null,"metadata":null}"#,
            inputLine("generation_job.created", [
                "job_id": .string(job), "user_id": .string(user), "session_id": nil, "frame_id": nil, "prompt": "fog",
                "style": nil, "number_of_shots": nil, "reference_image_ids": nil,
            ], metadata: ["actor": nil, "correlation_id": "c-1"]),
        ]), to: store)
        #expect(run.status == 0, "\(run)")
        #expect(run.stdout == summary(appended: 2, lastPosition: 2), "\(run)")
        let view = try query(store, "job", ["--job", job])
        #expect(isNull(view["session_id"]) && isNull(view["frame_id"]) && isNull(view["style"]))
        #expect(view["number_of_shots"] as? Int == 1, "number_of_shots defaults to 1")
        let events = try readAll(store)
        #expect(events.last?["metadata"] as? [String: String] == ["correlation_id": "c-1"])
        try expectVerified(store)
    }

    // MARK: Bad input, one line at a time

    /// A bad line and what stderr must say about it.
    struct BadLine: Sendable, CustomTestStringConvertible {
        let name: String
        /// Builds the bad line from the ids of the good lines around it.
        let line: @Sendable (_ user: String, _ job: String) -> Data
        /// Fragments the rejection message must contain.
        let mentions: @Sendable (_ user: String, _ job: String) -> [String]
        var testDescription: String { name }

        init(_ name: String, _ line: @escaping @Sendable (String, String) -> String, mentions: @escaping @Sendable (String, String) -> [String]) {
            self.name = name
            self.line = { Data(line($0, $1).utf8) }
            self.mentions = mentions
        }

        init(_ name: String, bytes: @escaping @Sendable (String, String) -> Data, mentions: @escaping @Sendable (String, String) -> [String]) {
            self.name = name
            self.line = bytes
            self.mentions = mentions
        }
    }

    static let badLines: [BadLine] = [
        BadLine("malformed JSON", { _, _ in "{\"type\": \"project.created\", \"data\": {\"project_id\": " }, mentions: { _, _ in ["invalid JSON"] }),
        BadLine("a trailing comma", { _, _ in #"{"type":"project.created","data":{"project_id":"\#(uuid())"},}"# }, mentions: { _, _ in ["invalid JSON"] }),
        BadLine("a duplicate key", { _, _ in #"{"type":"project.created","type":"story.created","data":{}}"# }, mentions: { _, _ in ["invalid JSON", "duplicate key", "type"] }),
        BadLine("an array line", { _, _ in #"[{"type":"project.created"}]"# }, mentions: { _, _ in ["JSON object", "array"] }),
        BadLine("a string line", { _, _ in #""project.created""# }, mentions: { _, _ in ["JSON object", "string"] }),
        BadLine("a number line", { _, _ in "42" }, mentions: { _, _ in ["JSON object", "number"] }),
        BadLine("a null line", { _, _ in "null" }, mentions: { _, _ in ["JSON object", "null"] }),
        BadLine("an unknown event type", { u, _ in inputLine("image.upscaled", ["image_id": .string(u)]) }, mentions: { _, _ in ["unknown event type", "image.upscaled"] }),
        BadLine("a missing type", { u, _ in #"{"data":{"user_id":"\#(u)","email":"x@y.z"}}"# }, mentions: { _, _ in ["\"type\"", "required"] }),
        BadLine("a type that is not a string", { _, _ in #"{"type":7,"data":{}}"# }, mentions: { _, _ in ["\"type\"", "string"] }),
        BadLine("a missing data", { _, _ in #"{"type":"project.created"}"# }, mentions: { _, _ in ["project.created", "\"data\"", "required"] }),
        BadLine("a null data", { _, _ in #"{"type":"project.created","data":null}"# }, mentions: { _, _ in ["project.created", "\"data\"", "required"] }),
        BadLine("data that is not an object", { _, _ in #"{"type":"project.created","data":[1]}"# }, mentions: { _, _ in ["\"data\"", "object"] }),
        BadLine("a missing required field", { _, j in inputLine("image.generated", ["image_id": .string(uuid()), "job_id": .string(j), "generation_index": 1, "gcp_bucket_path": "b/1.png"]) },
                mentions: { _, _ in ["image.generated", "data.gcp_url", "required"] }),
        BadLine("a field of the wrong JSON type (string for integer)", { _, _ in inputLine("scene_image.saved", ["project_id": .string(uuid()), "scene_index": "zero", "image_url": "u"]) },
                mentions: { _, _ in ["scene_image.saved", "data.scene_index", "integer", "string"] }),
        BadLine("a field of the wrong JSON type (fraction for integer)", { _, j in
            #"{"type":"image.generated","data":{"image_id":"\#(uuid())","job_id":"\#(j)","generation_index":1.5,"gcp_bucket_path":"b","gcp_url":"u"}}"#
        }, mentions: { _, _ in ["image.generated", "data.generation_index", "integer"] }),
        BadLine("a field of the wrong JSON type (string for boolean)", { _, _ in
            inputLine("scenelet.added", ["scenelet_id": .string(uuid()), "story_id": .string(uuid()), "content": [:], "is_branch_point": "yes"])
        }, mentions: { _, _ in ["scenelet.added", "data.is_branch_point", "true or false"] }),
        BadLine("a field of the wrong JSON type (string for object)", { _, _ in
            inputLine("scenelet.added", ["scenelet_id": .string(uuid()), "story_id": .string(uuid()), "content": "once upon a time"])
        }, mentions: { _, _ in ["scenelet.added", "data.content", "object"] }),
        BadLine("a number for a UUID", { _, _ in inputLine("project.created", ["project_id": 12]) }, mentions: { _, _ in ["project.created", "data.project_id", "UUID"] }),
        BadLine("a non-UUID id in data", { _, _ in inputLine("project.created", ["project_id": "project-42"]) },
                mentions: { _, _ in ["project.created", "data.project_id", "not a UUID", "project-42"] }),
        BadLine("a non-UUID in a list of ids", { u, _ in
            inputLine("generation_job.created", ["job_id": .string(uuid()), "user_id": .string(u), "prompt": "p", "reference_image_ids": ["not-a-uuid"]])
        }, mentions: { _, _ in ["generation_job.created", "reference_image_ids[0]", "UUID"] }),
        BadLine("a non-UUID event id", { _, _ in inputLine("project.created", ["project_id": .string(uuid())], id: "event-1") }, mentions: { _, _ in ["\"id\"", "UUID", "event-1"] }),
        BadLine("an unknown id (the session of a user that does not exist)", { _, _ in
            inputLine("session.created", ["session_id": .string(uuid()), "user_id": "00000000-0000-4000-8000-00000000dead", "title": "ghost"])
        }, mentions: { _, _ in ["session.created", "user 00000000-0000-4000-8000-00000000dead does not exist"] }),
        BadLine("an unknown id (a scenelet of a story that does not exist)", { _, _ in
            inputLine("scenelet.added", ["scenelet_id": .string(uuid()), "story_id": "00000000-0000-4000-8000-0000000000aa", "content": [:]])
        }, mentions: { _, _ in ["scenelet.added", "story 00000000-0000-4000-8000-0000000000aa does not exist"] }),
        BadLine("an unknown id (a shot of a scenelet that does not exist)", { _, _ in
            inputLine("shot.planned", ["shot_id": .string(uuid()), "scenelet_id": "00000000-0000-4000-8000-0000000000bb", "shot_index": 1])
        }, mentions: { _, _ in ["shot.planned", "scenelet 00000000-0000-4000-8000-0000000000bb does not exist"] }),
        BadLine("a broken rule: image.generated for a pending job", { _, j in
            inputLine("image.generated", ["image_id": .string(uuid()), "job_id": .string(j), "generation_index": 1, "gcp_bucket_path": "b/1.png", "gcp_url": "u"])
        }, mentions: { _, j in ["image.generated", "job \(j) is pending, not processing"] }),
        BadLine("a broken rule: generation_job.completed of a pending job", { _, j in inputLine("generation_job.completed", ["job_id": .string(j)]) },
                mentions: { _, j in ["generation_job.completed", "job \(j) is pending, not processing"] }),
        BadLine("a broken rule: number_of_shots above 16", { u, _ in
            inputLine("generation_job.created", ["job_id": .string(uuid()), "user_id": .string(u), "prompt": "p", "number_of_shots": 17])
        }, mentions: { _, _ in ["generation_job.created", "number_of_shots 17", "1…16"] }),
        BadLine("a broken rule: an empty prompt", { u, _ in inputLine("generation_job.created", ["job_id": .string(uuid()), "user_id": .string(u), "prompt": ""]) },
                mentions: { _, _ in ["generation_job.created", "empty prompt"] }),
        BadLine("a broken rule: an email without @", { _, _ in inputLine("user.registered", ["user_id": .string(uuid()), "email": "nobody"]) },
                mentions: { _, _ in ["user.registered", "email", "@"] }),
        BadLine("a broken rule: an email already registered", { _, _ in inputLine("user.registered", ["user_id": .string(uuid()), "email": "first@studio.example"]) },
                mentions: { u, _ in ["user.registered", "already registered", u] }),
        BadLine("a broken rule: a user id used twice", { u, _ in inputLine("user.registered", ["user_id": .string(u), "email": "twice@studio.example"]) },
                mentions: { u, _ in ["user.registered", "user \(u) already exists"] }),
        BadLine("an unknown top-level field", { _, _ in #"{"type":"project.created","data":{"project_id":"\#(uuid())"},"stream":"project-1"}"# },
                mentions: { _, _ in ["\"stream\"", "not a field of an input line"] }),
        BadLine("an unknown data field", { _, _ in inputLine("project.created", ["project_id": .string(uuid()), "colour": "blue"]) },
                mentions: { _, _ in ["project.created", "data.colour", "not a field"] }),
        BadLine("an unknown metadata field", { _, _ in inputLine("project.created", ["project_id": .string(uuid())], metadata: ["user": "me"]) },
                mentions: { _, _ in ["metadata.user", "not a metadata field"] }),
        BadLine("metadata that is not an object", { _, _ in #"{"type":"project.created","data":{"project_id":"\#(uuid())"},"metadata":"worker-1"}"# },
                mentions: { _, _ in ["\"metadata\"", "object"] }),
        BadLine("an expected_version mismatch", { _, j in inputLine("generation_job.started", ["job_id": .string(j)], expectedVersion: 5) },
                mentions: { _, j in ["job-\(j)", "expected 5", "actual 1"] }),
        BadLine("a negative expected_version", { _, j in #"{"type":"generation_job.started","data":{"job_id":"\#(j)"},"expected_version":-1}"# },
                mentions: { _, _ in ["\"expected_version\"", "-1"] }),
        BadLine("a fractional expected_version", { _, j in #"{"type":"generation_job.started","data":{"job_id":"\#(j)"},"expected_version":1.5}"# },
                mentions: { _, _ in ["\"expected_version\"", "1.5"] }),
        BadLine("a string expected_version", { _, j in #"{"type":"generation_job.started","data":{"job_id":"\#(j)"},"expected_version":"1"}"# },
                mentions: { _, _ in ["\"expected_version\"", "number"] }),
        BadLine("invalid UTF-8 inside a string", bytes: { _, _ in
            Data(#"{"type":"project.created","data":{"project_id":"\#(uuid())","title":"caf"#.utf8) + Data([0xC3, 0x28]) + Data(#""}}"#.utf8)
        }, mentions: { _, _ in ["invalid JSON", "UTF-8"] }),
        BadLine("invalid UTF-8 outside a string", bytes: { _, _ in Data(#"{"type":"project.created","data":"#.utf8) + Data([0xFF, 0xFE]) + Data("}".utf8) },
                mentions: { _, _ in ["invalid JSON"] }),
    ]

    /// The file: good, good, BAD (line 3), good. Each line stands alone, so the good ones land.
    @Test("a bad line is rejected naming its line and the rule or field; the good lines still land", arguments: badLines)
    func rejectsABadLine(_ bad: BadLine) throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let user = uuid(), job = uuid(), project = uuid()
        var input = Data(ndjson([
            inputLine("user.registered", ["user_id": .string(user), "email": "first@studio.example"]),
            inputLine("generation_job.created", ["job_id": .string(job), "user_id": .string(user), "prompt": "a pending job"]),
        ]).utf8)
        input += bad.line(user, job) + Data("\n".utf8)
        input += Data(ndjson([inputLine("project.created", ["project_id": .string(project), "title": "after the bad line"])]).utf8)

        let run = try reel(["append", "--store", store], inputBytes: input)
        #expect(run.status == 1, "\(run)")
        #expect(run.stdout == summary(appended: 3, rejected: 1, lastPosition: 3), "\(run)")
        #expect(run.stderrLines.count == 1, "one rejection, one line: \(run)")
        let message = run.stderrLines.first ?? ""
        #expect(message.hasPrefix("line 3: "), "the message names the line: \(message)")
        for fragment in bad.mentions(user, job) {
            #expect(message.contains(fragment), "the message names \(fragment): \(message)")
        }
        let events = try readAll(store)
        #expect(events.map { $0["type"] as? String } == ["user.registered", "generation_job.created", "project.created"])
        #expect(events.map { $0["stream"] as? String } == ["user-\(user)", "job-\(job)", "project-\(project)"])
        try expectVerified(store)
    }

    @Test("an expected_version of 0 (a new stream) for a stream that exists is rejected with both versions")
    func expectedVersionZeroOnExistingStream() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let project = uuid()
        let run = try append(ndjson([
            inputLine("project.created", ["project_id": .string(project)], expectedVersion: 0),
            inputLine("scene_image.saved", ["project_id": .string(project), "scene_index": 0, "image_url": "gs://x/0.png"], expectedVersion: 0),
            inputLine("scene_image.saved", ["project_id": .string(project), "scene_index": 1, "image_url": "gs://x/1.png"], expectedVersion: 1),
        ]), to: store)
        #expect(run.status == 1, "\(run)")
        #expect(run.stdout == summary(appended: 2, rejected: 1, lastPosition: 2), "\(run)")
        #expect(run.stderrLines == ["line 2: wrong expected version for stream project-\(project): expected 0, actual 1"], "\(run)")
        try expectVerified(store)
    }

    @Test("several bad lines are each reported with their own line number")
    func severalBadLines() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let project = uuid()
        let run = try append(ndjson([
            "{oops",
            inputLine("project.created", ["project_id": .string(project)]),
            inputLine("frame.approved", ["frame_id": .string(uuid()), "job_id": .string(uuid())]),
            inputLine("scene_image.saved", ["project_id": .string(project), "scene_index": -1, "image_url": "u"]),
            inputLine("scene_image.saved", ["project_id": .string(project), "scene_index": 3, "image_url": "gs://x/3.png"]),
        ]), to: store)
        #expect(run.status == 1, "\(run)")
        #expect(run.stdout == summary(appended: 2, rejected: 3, lastPosition: 2), "\(run)")
        let lines = run.stderrLines
        #expect(lines.count == 3, "\(run)")
        #expect(lines.contains { $0.hasPrefix("line 1: ") && $0.contains("invalid JSON") }, "\(run)")
        #expect(lines.contains { $0.hasPrefix("line 3: ") && $0.contains("frame.approved") && $0.contains("does not exist") }, "\(run)")
        #expect(lines.contains { $0.hasPrefix("line 4: ") && $0.contains("scene_index -1") && $0.contains("negative") }, "\(run)")
        let view = try query(store, "images-by-scene", ["--project", project])
        #expect(try objects(view["scenes"]).map { $0["scene_index"] as? Int } == [3])
        try expectVerified(store)
    }

    // MARK: Shapes of input files

    @Test("an empty file appends nothing and succeeds")
    func emptyFile() throws {
        let store = temporaryStorePath()
        let file = try temporaryFile("")
        defer { remove(store); remove(file) }
        let run = try reel(["append", file, "--store", store])
        #expect(run.status == 0, "\(run)")
        #expect(run.stdout == summary(appended: 0, lastPosition: 0), "\(run)")
        #expect(run.stderr.isEmpty, "\(run)")
        #expect(try readAll(store).isEmpty)
        try expectVerified(store)
    }

    @Test("empty standard input appends nothing and succeeds")
    func emptyStandardInput() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let run = try append("", to: store)
        #expect(run.status == 0, "\(run)")
        #expect(run.stdout == summary(appended: 0, lastPosition: 0), "\(run)")
        try expectVerified(store)
    }

    @Test("the last line of a file without a final newline is still appended")
    func noFinalNewline() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let user = uuid(), session = uuid()
        let text = inputLine("user.registered", ["user_id": .string(user), "email": "nl@studio.example"]) + "\n"
            + inputLine("session.created", ["session_id": .string(session), "user_id": .string(user), "title": "no newline"])
        let file = try temporaryFile(text)
        defer { remove(file) }
        let run = try reel(["append", file, "--store", store])
        #expect(run.status == 0, "\(run)")
        #expect(run.stdout == summary(appended: 2, lastPosition: 2), "\(run)")
        #expect(try readAll(store).last?["stream"] as? String == "session-\(session)")
        // The same through standard input.
        let more = try append(inputLine("session.renamed", ["session_id": .string(session), "title": "still no newline"]), to: store)
        #expect(more.stdout == summary(appended: 1, lastPosition: 3), "\(more)")
        try expectVerified(store)
    }

    @Test("a file of one line without a newline appends that line")
    func singleLineWithoutNewline() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let run = try append(inputLine("project.created", ["project_id": .string(uuid())]), to: store)
        #expect(run.status == 0, "\(run)")
        #expect(run.stdout == summary(appended: 1, lastPosition: 1), "\(run)")
        try expectVerified(store)
    }

    @Test("blank lines are ignored but still counted in line numbers")
    func blankLines() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let project = uuid()
        let text = "\n   \n"
            + inputLine("project.created", ["project_id": .string(project)]) + "\n"
            + "\t\n\n"
            + inputLine("scene_image.saved", ["project_id": .string(project), "scene_index": 0, "image_url": "gs://x/0.png"]) + "\n"
            + "\n"
            + inputLine("scene_image.saved", ["project_id": .string(uuid()), "scene_index": 0, "image_url": "gs://x/0.png"]) + "\n"
            + "  \n"
        let run = try append(text, to: store)
        #expect(run.status == 1, "\(run)")
        #expect(run.stdout == summary(appended: 2, rejected: 1, lastPosition: 2), "\(run)")
        #expect(run.stderrLines.count == 1, "\(run)")
        #expect(run.stderrLines.first?.hasPrefix("line 8: ") == true, "the rejected line is line 8 of the file: \(run)")
        try expectVerified(store)
    }

    @Test("a file of only blank lines appends nothing and succeeds")
    func onlyBlankLines() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let run = try append("\n\n  \n\t\n", to: store)
        #expect(run.status == 0, "\(run)")
        #expect(run.stdout == summary(appended: 0, lastPosition: 0), "\(run)")
        #expect(run.stderr.isEmpty, "\(run)")
        try expectVerified(store)
    }

    @Test("CRLF line endings are accepted")
    func crlfLineEndings() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let project = uuid()
        let text = inputLine("project.created", ["project_id": .string(project)]) + "\r\n"
            + inputLine("scene_image.saved", ["project_id": .string(project), "scene_index": 0, "image_url": "gs://x/0.png"]) + "\r\n"
        let run = try append(text, to: store)
        #expect(run.status == 0, "\(run)")
        #expect(run.stdout == summary(appended: 2, lastPosition: 2), "\(run)")
        let view = try query(store, "images-by-scene", ["--project", project])
        #expect(try objects(view["scenes"]).first?["image_urls"] as? [String] == ["gs://x/0.png"])
        try expectVerified(store)
    }

    @Test("non-ASCII text survives the round trip")
    func unicodeText() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let story = uuid()
        let title = "Le phare — «Ἀλέξανδρος» 灯台 🌊 \"quoted\" back\\slash\ttab"
        let run = try append(inputLine("story.created", ["story_id": .string(story), "title": .string(title)]) + "\n", to: store)
        #expect(run.status == 0, "\(run)")
        #expect(try query(store, "story", ["--story", story])["title"] as? String == title)
        #expect((try readAll(store).first?["data"] as? [String: Any])?["title"] as? String == title)
        try expectVerified(store)
    }

    @Test("an input file that does not exist is a usage error and creates no store")
    func missingInputFile() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let run = try reel(["append", store + "-no-such-input.ndjson", "--store", store])
        #expect(run.status == 2, "\(run)")
        #expect(run.stderr.contains("no-such-input.ndjson"), "\(run)")
        #expect(!exists(store))
    }

    // MARK: id and expected_version

    @Test("the same line twice with an explicit id: the second is a duplicate and nothing new is written")
    func duplicateLineInOneFile() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let project = uuid(), id = uuid()
        let line = inputLine("project.created", ["project_id": .string(project), "title": "Once"], id: id)
        let run = try append(ndjson([line, line]), to: store)
        #expect(run.status == 0, "\(run)")
        #expect(run.stdout == summary(appended: 1, duplicates: 1, lastPosition: 1), "\(run)")
        #expect(run.stderr.isEmpty, "\(run)")
        let events = try readAll(store)
        #expect(events.count == 1)
        #expect(events.first?["id"] as? String == id)
        try expectVerified(store)
    }

    @Test("re-appending a file with ids is a no-op that reports the original positions")
    func duplicateAcrossRuns() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let project = uuid()
        let lines = [
            inputLine("project.created", ["project_id": .string(project)], id: uuid()),
            inputLine("scene_image.saved", ["project_id": .string(project), "scene_index": 4, "image_url": "gs://x/4.png"], id: uuid()),
        ]
        let first = try append(ndjson(lines), to: store)
        #expect(first.stdout == summary(appended: 2, lastPosition: 2), "\(first)")
        let before = try reel(["read", "--store", store]).stdout
        let second = try append(ndjson(lines), to: store)
        #expect(second.status == 0, "\(second)")
        #expect(second.stdout == summary(appended: 0, duplicates: 2, lastPosition: 2), "\(second)")
        #expect(try reel(["read", "--store", store]).stdout == before, "nothing new is written")
        // A retry of only the first line reports that line's original position.
        let retry = try append(lines[0] + "\n", to: store)
        #expect(retry.stdout == summary(appended: 0, duplicates: 1, lastPosition: 1), "\(retry)")
        try expectVerified(store)
    }

    @Test("the same id with different data is rejected and nothing is written")
    func sameIdOtherData() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let project = uuid(), id = uuid()
        #expect(try append(inputLine("project.created", ["project_id": .string(project), "title": "One"], id: id) + "\n", to: store).status == 0)
        let before = try reel(["read", "--store", store]).stdout
        let run = try append(ndjson([
            inputLine("project.created", ["project_id": .string(project), "title": "Two"], id: id),
            inputLine("story.created", ["story_id": .string(uuid()), "title": "Other type, same id"], id: id),
        ]), to: store)
        #expect(run.status == 1, "\(run)")
        #expect(run.stdout == summary(appended: 0, rejected: 2, lastPosition: 1), "\(run)")
        #expect(run.stderrLines.count == 2, "\(run)")
        #expect(run.stderrLines.contains { $0.hasPrefix("line 1: ") && $0.contains(id) && $0.contains("other content") }, "\(run)")
        #expect(run.stderrLines.contains { $0.hasPrefix("line 2: ") && $0.contains(id) }, "\(run)")
        #expect(try reel(["read", "--store", store]).stdout == before)
        try expectVerified(store)
    }

    @Test("the same id with other metadata but the same type and data is a duplicate")
    func sameIdOtherMetadata() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let project = uuid(), id = uuid()
        #expect(try append(inputLine("project.created", ["project_id": .string(project)], id: id, metadata: ["actor": "first"]) + "\n", to: store).status == 0)
        let run = try append(inputLine("project.created", ["project_id": .string(project)], id: id, metadata: ["actor": "retry"]) + "\n", to: store)
        // An id appended again with the same type and data is a no-op — metadata is not part of that comparison.
        #expect(run.status == 0, "\(run)")
        #expect(run.stdout == summary(appended: 0, duplicates: 1, lastPosition: 1), "\(run)")
        #expect(try readAll(store).count == 1)
        try expectVerified(store)
    }

    @Test("expected_version is honoured: matching versions append, a stale one is rejected")
    func expectedVersionHonoured() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let user = uuid(), session = uuid()
        let run = try append(ndjson([
            inputLine("user.registered", ["user_id": .string(user), "email": "ev@studio.example"], expectedVersion: 0),
            inputLine("session.created", ["session_id": .string(session), "user_id": .string(user), "title": "v1"], expectedVersion: 0),
            inputLine("session.renamed", ["session_id": .string(session), "title": "v2"], expectedVersion: 1),
            inputLine("session.renamed", ["session_id": .string(session), "title": "v3"], expectedVersion: 2),
            inputLine("session.renamed", ["session_id": .string(session), "title": "stale"], expectedVersion: 2),
        ]), to: store)
        #expect(run.status == 1, "\(run)")
        #expect(run.stdout == summary(appended: 4, rejected: 1, lastPosition: 4), "\(run)")
        #expect(run.stderrLines == ["line 5: wrong expected version for stream session-\(session): expected 2, actual 3"], "\(run)")
        let sessions = try objects(try query(store, "sessions", ["--user", user])["sessions"])
        #expect(sessions.map { $0["title"] as? String } == ["v3"])
        #expect(try readAll(store, ["--stream", "session-\(session)"]).map { $0["version"] as? Int } == [1, 2, 3])
        try expectVerified(store)
    }

    // MARK: Streams

    /// An entity whose events go to its parent's stream, and a line that wrongly claims its id for another parent.
    enum ClaimedChild: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case image, shot, scenelet
        var testDescription: String { rawValue }
    }

    /// `image.deleted` goes to the stream of the image's job, `shot.*` and `scenelet.*` to the story's. A
    /// rejected line that named the same child under another parent must not change where the next event goes.
    @Test("an event about a child entity goes to its real parent's stream even after a rejected line claimed the id", arguments: ClaimedChild.allCases)
    func childEventStreamAfterRejectedClaim(_ child: ClaimedChild) throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let user = uuid(), jobA = uuid(), jobB = uuid(), image = uuid()
        let storyA = uuid(), storyB = uuid(), sceneletA = uuid(), sceneletB = uuid(), shot = uuid()
        let setup = try append(ndjson([
            inputLine("user.registered", ["user_id": .string(user), "email": "streams@studio.example"]),
            inputLine("generation_job.created", ["job_id": .string(jobA), "user_id": .string(user), "prompt": "a"]),
            inputLine("generation_job.started", ["job_id": .string(jobA)]),
            inputLine("image.generated", ["image_id": .string(image), "job_id": .string(jobA), "generation_index": 1, "gcp_bucket_path": "b/a", "gcp_url": "u/a"]),
            inputLine("generation_job.created", ["job_id": .string(jobB), "user_id": .string(user), "prompt": "b"]),
            inputLine("generation_job.started", ["job_id": .string(jobB)]),
            inputLine("story.created", ["story_id": .string(storyA), "title": "A"]),
            inputLine("scenelet.added", ["scenelet_id": .string(sceneletA), "story_id": .string(storyA), "content": [:]]),
            inputLine("shot.planned", ["shot_id": .string(shot), "scenelet_id": .string(sceneletA), "shot_index": 1]),
            inputLine("story.created", ["story_id": .string(storyB), "title": "B"]),
            inputLine("scenelet.added", ["scenelet_id": .string(sceneletB), "story_id": .string(storyB), "content": [:]]),
        ]), to: store)
        try #require(setup.status == 0, "\(setup)")

        let claim: String, follow: String, rightStream: String
        switch child {
        case .image:
            claim = inputLine("image.generated", ["image_id": .string(image), "job_id": .string(jobB), "generation_index": 1, "gcp_bucket_path": "b/b", "gcp_url": "u/b"])
            follow = inputLine("image.deleted", ["image_id": .string(image)])
            rightStream = "job-\(jobA)"
        case .shot:
            claim = inputLine("shot.planned", ["shot_id": .string(shot), "scenelet_id": .string(sceneletB), "shot_index": 1])
            follow = inputLine("shot.assets_attached", ["shot_id": .string(shot), "audio_file_path": "audio/a.mp3"])
            rightStream = "story-\(storyA)"
        case .scenelet:
            claim = inputLine("scenelet.added", ["scenelet_id": .string(sceneletA), "story_id": .string(storyB), "parent_id": .string(sceneletB), "content": [:]])
            follow = inputLine("scenelet.updated", ["scenelet_id": .string(sceneletA), "choice_prompt": "left or right?"])
            rightStream = "story-\(storyA)"
        }
        let run = try append(ndjson([claim, follow]), to: store)
        #expect(run.status == 1, "\(run)")
        #expect(run.stdout == summary(appended: 1, rejected: 1, lastPosition: 12), "\(run)")
        #expect(run.stderrLines.count == 1 && run.stderrLines.first?.hasPrefix("line 1: ") == true, "\(run)")
        let last = try #require(try readAll(store, ["--from", "12"]).first)
        #expect(last["stream"] as? String == rightStream, "the \(last["type"] ?? "") event belongs to \(rightStream)")
        try expectVerified(store)
    }

    // MARK: --all-or-nothing

    @Test("--all-or-nothing with one line breaking a rule writes nothing at all")
    func allOrNothingRuleBroken() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let user = uuid(), project = uuid()
        let good = [
            inputLine("user.registered", ["user_id": .string(user), "email": "aon@studio.example"]),
            inputLine("project.created", ["project_id": .string(project)]),
        ]
        let bad = inputLine("session.created", ["session_id": .string(uuid()), "user_id": "00000000-0000-4000-8000-00000000beef", "title": "t"])
        let tail = inputLine("scene_image.saved", ["project_id": .string(project), "scene_index": 0, "image_url": "gs://x/0.png"])
        let file = try temporaryFile(ndjson(good + [bad, tail]))
        defer { remove(file) }
        let run = try reel(["append", file, "--all-or-nothing", "--store", store])
        #expect(run.status == 1, "\(run)")
        #expect(run.stdout == summary(appended: 0, rejected: 1, lastPosition: 0), "\(run)")
        #expect(run.stderrLines.count == 1, "\(run)")
        #expect(run.stderrLines.first?.hasPrefix("line 3: ") == true, "\(run)")
        #expect(run.stderr.contains("user 00000000-0000-4000-8000-00000000beef does not exist"), "\(run)")
        let read = try reel(["read", "--store", store])
        #expect(read.status == 0 && read.stdout.isEmpty, "nothing was written: \(read)")

        // The same file without the bad line appends everything.
        let fixed = try temporaryFile(ndjson(good + [tail]))
        defer { remove(fixed) }
        let again = try reel(["append", fixed, "--all-or-nothing", "--store", store])
        #expect(again.status == 0, "\(again)")
        #expect(again.stdout == summary(appended: 3, lastPosition: 3), "\(again)")
        #expect(try readAll(store).count == 3)
        try expectVerified(store)
    }

    @Test("--all-or-nothing with one malformed line writes nothing and leaves the head where it was")
    func allOrNothingMalformedLine() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let production = Production()
        #expect(try production.appended(to: store).status == 0)
        let head = production.lines.count
        let before = try reel(["read", "--store", store]).stdout
        let project = uuid()
        let lines = [
            inputLine("project.created", ["project_id": .string(project)]),
            inputLine("scene_image.saved", ["project_id": .string(project), "scene_index": 0, "image_url": "gs://x/0.png"]),
            inputLine("scene_image.saved", ["project_id": .string(project), "scene_index": 1, "image_url": "gs://x/1.png"]),
        ]
        let run = try append(ndjson([lines[0], lines[1], #"{"type":"scene_image.saved","data":{"project_id":"\#(project)""#, lines[2]]), to: store, ["--all-or-nothing"])
        #expect(run.status == 1, "\(run)")
        #expect(run.stdout.hasPrefix(#"{"appended":0,"duplicates":0,"rejected":1,"#), "\(run)")
        #expect(run.stderrLines.count == 1 && run.stderrLines.first?.hasPrefix("line 3: ") == true, "\(run)")
        #expect(try reel(["read", "--store", store]).stdout == before, "nothing was written")
        #expect(try reel(["query", "images-by-scene", "--project", project, "--store", store]).status == 1, "the project was not created")

        let fixed = try append(ndjson(lines), to: store, ["--all-or-nothing"])
        #expect(fixed.status == 0, "\(fixed)")
        #expect(fixed.stdout == summary(appended: 3, lastPosition: head + 3), "\(fixed)")
        try expectVerified(store)
    }

    @Test("--all-or-nothing with lines already stored counts them as duplicates and appends the others in one transaction")
    func allOrNothingWithStoredLines() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let project = uuid(), projectEventID = uuid()
        let first = [
            inputLine("project.created", ["project_id": .string(project)], id: projectEventID),
            inputLine("scene_image.saved", ["project_id": .string(project), "scene_index": 0, "image_url": "gs://x/0.png"], id: uuid()),
        ]
        #expect(try append(ndjson(first), to: store).stdout == summary(appended: 2, lastPosition: 2))
        // The first run's file again, with new lines after and between: a re-run after a partial load.
        let more = [
            inputLine("scene_image.saved", ["project_id": .string(project), "scene_index": 1, "image_url": "gs://x/1.png"], id: uuid()),
            inputLine("scene_image.saved", ["project_id": .string(project), "scene_index": 2, "image_url": "gs://x/2.png"], expectedVersion: 3),
        ]
        let rerun = try append(ndjson([first[0], more[0], first[1], more[1]]), to: store, ["--all-or-nothing"])
        #expect(rerun.status == 0, "\(rerun)")
        #expect(rerun.stdout == summary(appended: 2, duplicates: 2, lastPosition: 4), "\(rerun)")
        #expect(rerun.stderr.isEmpty, "\(rerun)")
        #expect(try readAll(store).count == 4)
        // Every line stored already: nothing to write, all duplicates.
        let again = try append(ndjson(first + [more[0]]), to: store, ["--all-or-nothing"])
        #expect(again.status == 0 && again.stdout == summary(appended: 0, duplicates: 3, lastPosition: 3), "\(again)")
        // A stored id with other content is still refused, and nothing of the file is written.
        let changed = inputLine("project.created", ["project_id": .string(uuid())], id: projectEventID)
        let conflict = try append(ndjson([inputLine("project.created", ["project_id": .string(uuid())]), changed]), to: store, ["--all-or-nothing"])
        #expect(conflict.status == 1, "\(conflict)")
        #expect(conflict.stdout == summary(appended: 0, rejected: 1, lastPosition: 4), "\(conflict)")
        #expect(conflict.stderrLines.count == 1 && conflict.stderrLines.first?.hasPrefix("line 2: ") == true, "\(conflict)")
        #expect(try readAll(store).count == 4, "nothing was written")
        try expectVerified(store)
    }

    /// Bad lines for `--all-or-nothing`, each built against a store that already holds one project (position 1).
    enum AtomicBadLine: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case malformed, ruleBroken, unknownImage, unknownScenelet, unknownShot, staleExpectedVersion, conflictingId
        var testDescription: String { rawValue }

        func line(project: String, storedId: String) -> (line: String, mentions: [String]) {
            let ghost = "00000000-0000-4000-8000-00000000cafe"
            switch self {
            case .malformed: return ("{\"type\":", ["invalid JSON"])
            case .ruleBroken: return (inputLine("scene_image.saved", ["project_id": .string(project), "scene_index": 0, "image_url": ""]), ["image_url", "empty"])
            case .unknownImage: return (inputLine("image.deleted", ["image_id": .string(ghost)]), ["image.deleted", "image \(ghost) does not exist"])
            case .unknownScenelet: return (inputLine("shot.planned", ["shot_id": .string(uuid()), "scenelet_id": .string(ghost), "shot_index": 1]), ["shot.planned", "scenelet \(ghost) does not exist"])
            case .unknownShot: return (inputLine("shot.assets_attached", ["shot_id": .string(ghost), "audio_file_path": "a.mp3"]), ["shot.assets_attached", "shot \(ghost) does not exist"])
            // Line 2 adds an event to the project's stream first, so at line 3 the stream would hold 2.
            case .staleExpectedVersion: return (inputLine("scene_image.saved", ["project_id": .string(project), "scene_index": 1, "image_url": "u"], expectedVersion: 7), ["project-\(project)", "expected 7", "actual 2"])
            case .conflictingId: return (inputLine("story.created", ["story_id": .string(uuid()), "title": "reuses a stored id"], id: storedId), [storedId])
            }
        }
    }

    @Test("--all-or-nothing names the bad line, whatever is wrong with it", arguments: AtomicBadLine.allCases)
    func allOrNothingNamesTheLine(_ bad: AtomicBadLine) throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let project = uuid(), storedId = uuid()
        #expect(try append(inputLine("project.created", ["project_id": .string(project)], id: storedId) + "\n", to: store).status == 0)
        let (line, mentions) = bad.line(project: project, storedId: storedId)
        let run = try append(ndjson([
            inputLine("story.created", ["story_id": .string(uuid()), "title": "line 1"]),
            inputLine("scene_image.saved", ["project_id": .string(project), "scene_index": 5, "image_url": "gs://x/5.png"]),
            line,
            inputLine("user.registered", ["user_id": .string(uuid()), "email": "line4@studio.example"]),
        ]), to: store, ["--all-or-nothing"])
        #expect(run.status == 1, "\(run)")
        #expect(run.stdout == summary(appended: 0, rejected: 1, lastPosition: 1), "\(run)")
        #expect(run.stderrLines.count == 1, "\(run)")
        #expect(run.stderrLines.first?.hasPrefix("line 3: ") == true, "the bad line is line 3: \(run)")
        for fragment in mentions { #expect(run.stderr.contains(fragment), "names \(fragment): \(run)") }
        #expect(try readAll(store).count == 1, "nothing was written")
        try expectVerified(store)
    }

    @Test("--all-or-nothing names the line of a stale expected_version")
    func allOrNothingExpectedVersion() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let project = uuid()
        #expect(try append(inputLine("project.created", ["project_id": .string(project)]) + "\n", to: store).status == 0)
        let run = try append(ndjson([
            inputLine("story.created", ["story_id": .string(uuid()), "title": "ok"]),
            inputLine("scene_image.saved", ["project_id": .string(project), "scene_index": 0, "image_url": "u"], expectedVersion: 3),
        ]), to: store, ["--all-or-nothing"])
        #expect(run.status == 1, "\(run)")
        #expect(run.stderrLines.count == 1, "\(run)")
        #expect(run.stderrLines.first?.hasPrefix("line 2: ") == true, "\(run)")
        #expect(run.stderr.contains("project-\(project)") && run.stderr.contains("expected 3") && run.stderr.contains("actual 1"), "\(run)")
        #expect(try readAll(store).count == 1)
        try expectVerified(store)
    }

    @Test("--all-or-nothing accepts a file whose lines give successive expected versions of one stream")
    func allOrNothingSuccessiveExpectedVersions() throws {
        // expected_version is the number of events the stream must hold before *the event*; the same file
        // appends line by line without the flag, so it must append as one transaction with it.
        let store = temporaryStorePath()
        defer { remove(store) }
        let project = uuid()
        let text = ndjson([
            inputLine("project.created", ["project_id": .string(project)], expectedVersion: 0),
            inputLine("scene_image.saved", ["project_id": .string(project), "scene_index": 0, "image_url": "gs://x/0.png"], expectedVersion: 1),
            inputLine("scene_image.saved", ["project_id": .string(project), "scene_index": 1, "image_url": "gs://x/1.png"], expectedVersion: 2),
        ])
        let run = try append(text, to: store, ["--all-or-nothing"])
        #expect(run.status == 0, "\(run)")
        #expect(run.stdout == summary(appended: 3, lastPosition: 3), "\(run)")
        #expect(run.stderr.isEmpty, "\(run)")
        try expectVerified(store)
    }

    @Test("--all-or-nothing treats a repeated line with an explicit id as a duplicate, as without the flag")
    func allOrNothingRepeatedLine() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let line = inputLine("project.created", ["project_id": .string(uuid())], id: uuid())
        let plain = temporaryStorePath()
        defer { remove(plain) }
        let without = try append(ndjson([line, line]), to: plain)
        #expect(without.stdout == summary(appended: 1, duplicates: 1, lastPosition: 1), "\(without)")
        let run = try append(ndjson([line, line]), to: store, ["--all-or-nothing"])
        #expect(run.status == 0, "\(run)")
        #expect(run.stdout == summary(appended: 1, duplicates: 1, lastPosition: 1), "\(run)")
        try expectVerified(store)
        try expectVerified(plain)
    }

    @Test("--all-or-nothing re-appending the same file is a duplicate of every line")
    func allOrNothingRetry() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let project = uuid()
        let text = ndjson([
            inputLine("project.created", ["project_id": .string(project)], id: uuid()),
            inputLine("scene_image.saved", ["project_id": .string(project), "scene_index": 0, "image_url": "u"], id: uuid()),
        ])
        #expect(try append(text, to: store, ["--all-or-nothing"]).stdout == summary(appended: 2, lastPosition: 2))
        let again = try append(text, to: store, ["--all-or-nothing"])
        #expect(again.status == 0, "\(again)")
        #expect(again.stdout == summary(appended: 0, duplicates: 2, lastPosition: 2), "\(again)")
        try expectVerified(store)
    }

    // MARK: --no-sync

    @Test("--no-sync appends, and the data is there afterwards")
    func noSync() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let production = Production()
        let run = try reel(["append", "--no-sync", "--store", store], input: production.text)
        #expect(run.status == 0, "\(run)")
        #expect(run.stdout == summary(appended: production.lines.count, lastPosition: production.lines.count), "\(run)")
        #expect(try readAll(store).count == production.lines.count)
        let job = try query(store, "job", ["--job", production.stormJob])
        #expect(job["status"] as? String == "completed")
        // Combined with --all-or-nothing.
        let project = uuid()
        let more = try append(ndjson([
            inputLine("project.created", ["project_id": .string(project)]),
            inputLine("scene_image.saved", ["project_id": .string(project), "scene_index": 0, "image_url": "gs://x/0.png"]),
        ]), to: store, ["--no-sync", "--all-or-nothing"])
        #expect(more.status == 0, "\(more)")
        #expect(more.stdout == summary(appended: 2, lastPosition: production.lines.count + 2), "\(more)")
        #expect(try objects(try query(store, "images-by-scene", ["--project", project])["scenes"]).count == 1)
        try expectVerified(store)
    }

    // MARK: Volume and concurrency

    @Test("several reel append processes writing one store at once lose nothing")
    func concurrentProcesses() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        // Create the store first, so that the writers race on appends, not on creating it.
        #expect(try append(inputLine("story.created", ["story_id": .string(uuid()), "title": "first"]) + "\n", to: store).status == 0)
        let writers = 6, perWriter = 300
        let projects = (0..<writers).map { _ in uuid() }
        final class Results: @unchecked Sendable {
            let lock = NSLock()
            var runs: [Int: Run] = [:]
            var errors: [String] = []
        }
        let results = Results()
        DispatchQueue.concurrentPerform(iterations: writers) { writer in
            var lines = [inputLine("project.created", ["project_id": .string(projects[writer])])]
            for n in 0..<perWriter {
                lines.append(inputLine("scene_image.saved", [
                    "project_id": .string(projects[writer]), "scene_index": .int(n), "image_url": .string("gs://w\(writer)/\(n).png"),
                ]))
            }
            do {
                let run = try append(ndjson(lines), to: store)
                results.lock.withLock { results.runs[writer] = run }
            } catch {
                results.lock.withLock { results.errors.append("\(error)") }
            }
        }
        #expect(results.errors.isEmpty, "\(results.errors)")
        for (writer, run) in results.runs {
            #expect(run.status == 0, "writer \(writer): \(run)")
            #expect(run.stdout.hasPrefix(#"{"appended":\#(perWriter + 1),"duplicates":0,"rejected":0,"#), "writer \(writer): \(run)")
        }
        let events = try readAll(store)
        let total = 1 + writers * (perWriter + 1)
        #expect(events.count == total)
        #expect(events.map { $0["position"] as? Int } == Array(1...total), "gapless positions")
        for project in projects {
            let versions = try readAll(store, ["--stream", "project-\(project)"]).compactMap { $0["version"] as? Int }
            #expect(versions == Array(1...(perWriter + 1)))
            #expect(try objects(try query(store, "images-by-scene", ["--project", project])["scenes"]).count == perWriter)
        }
        try expectVerified(store)
    }

    @Test("thousands of lines, many rejected: both output pipes drain and every line is accounted for")
    func manyLines() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let project = uuid()
        var lines = [inputLine("project.created", ["project_id": .string(project)])]
        for n in 0..<3_000 {
            lines.append(inputLine("scene_image.saved", ["project_id": .string(project), "scene_index": .int(n % 40), "image_index": .int(n / 40), "image_url": .string("gs://x/\(n).png")]))
            lines.append(inputLine("scene_image.saved", ["project_id": .string(project), "scene_index": .int(-1 - n), "image_url": .string("gs://x/bad-\(n).png")]))
        }
        let run = try append(ndjson(lines), to: store, ["--no-sync"])
        #expect(run.status == 1)
        #expect(run.stdout == summary(appended: 3_001, rejected: 3_000, lastPosition: 3_001))
        #expect(run.stderrLines.count == 3_000)
        #expect(run.stderrLines.first == "line 3: scene_image.saved rejected: scene_index -1 of project \(project) is negative")
        #expect(run.stderrLines.last?.hasPrefix("line 6001: ") == true)
        let scenes = try objects(try query(store, "images-by-scene", ["--project", project])["scenes"])
        #expect(scenes.count == 40)
        #expect((scenes.first?["image_urls"] as? [String])?.count == 75)
        #expect((scenes.first?["image_urls"] as? [String])?.prefix(2) == ["gs://x/0.png", "gs://x/40.png"])
        try expectVerified(store)
    }

    @Test("rejections come out on stderr in line order, whether found while reading a line or when the writer folds it")
    func rejectionsInLineOrder() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let project = uuid()
        var lines = [inputLine("project.created", ["project_id": .string(project)])]
        var expected: [Int] = []
        for n in 0..<3_000 {
            switch n % 7 {
            case 3:  // an image that does not exist: its stream cannot be found, so the line is refused as it is read
                lines.append(inputLine("image.deleted", ["image_id": .string(uuid())]))
                expected.append(lines.count)
            case 5:  // a rule the writer checks as it folds the line
                lines.append(inputLine("scene_image.saved", ["project_id": .string(project), "scene_index": .int(-1 - n), "image_url": "u"]))
                expected.append(lines.count)
            default:
                lines.append(inputLine("scene_image.saved", ["project_id": .string(project), "scene_index": .int(n), "image_url": "u"]))
            }
        }
        let run = try append(ndjson(lines), to: store)
        #expect(run.status == 1)
        #expect(run.stdout == summary(appended: lines.count - expected.count, rejected: expected.count, lastPosition: lines.count - expected.count))
        let reported = run.stderrLines.compactMap { $0.firstMatch(of: #/^line (\d+): /#).map { Int($0.1)! } }
        #expect(reported.count == run.stderrLines.count, "every stderr line names its input line: \(run.stderrLines.prefix(3))")
        #expect(reported == expected, "first lines reported: \(reported.prefix(8))")
        try expectVerified(store)
    }
}
