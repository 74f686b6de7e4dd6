import EventStore
import Foundation
import LMDB
import Testing

@testable import EventStore
@testable import MediaPipeline

/// Hostile input: a seeded mutation test over every decoder that reads bytes from outside — the
/// NDJSON input line (`InputLine.parse`, with the JSON reader and every event's `data` decoder), the decoders fed the
/// wrong event type's data, stored payloads (`DomainEvent(recorded:)`), export envelopes (`Envelope.parse`, what
/// `reel import` reads), stored log records (`RecordCodec.decode`) and the projection's entity records. Valid inputs
/// taken from a real store are mutated (bit and byte flips, truncation, insertion of JSON tokens, duplicated slices,
/// splices of two valid inputs, deleted ranges, a value replaced by one of another type, by an out-of-range number,
/// by 10,000-deep nesting or by a 100 kB string, duplicated keys); each decode must return or throw one of the
/// decoder's own error types with a short message, within 3 seconds. Mutated lines that parse are appended through
/// `MediaStore`: a rejected one must leave the head where it was.
///
/// `REEL_SEED` replays a run (the corpus's ids are derived from the seed too; only its `recorded_at` times differ);
/// `REEL_FUZZ_ITERATIONS` (4,000) runs longer.
@Suite("Hostile input: seeded mutations of every decoder")
struct HostileInputTests {
    static var iterations: Int { ProcessInfo.processInfo.environment["REEL_FUZZ_ITERATIONS"].flatMap(Int.init) ?? 4_000 }

    @Test(
        "mutated input lines, envelopes, payloads and stored records: a typed error or a value, never a trap or a hang; rejected appends write nothing"
    )
    func mutations() async throws {
        let seed = testSeed("HostileInputTests", ", iterations: \(Self.iterations)")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("reel-hostile-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        var options = StoreOptions()
        options.durability = .deferred  // what is tested is what a rejection leaves, not the sync
        let media = try MediaStore.open(at: path, options: options)

        // The corpus: a production appended for real, then taken back out in every form a decoder reads.
        var rng = SeededGenerator(state: seed)
        let lines = try await Corpus.production(&rng, into: media)
        let events = try media.store.events(from: 1, limit: 10_000)
        let envelopes = events.map { Array(Envelope.render($0).utf8) }
        let records = events.map { storedValue(of: $0) }
        let entities = try entityRecords(media)
        #expect(lines.count >= 30 && entities.count >= 10, "a corpus of \(lines.count) lines and \(entities.count) entity records")

        var mutator = Mutator(rng: SeededGenerator(state: seed ^ 0x5EED), corpus: lines + envelopes)
        var tally = [String: (accepted: Int, rejected: Int)]()
        func note(_ target: String, _ accepted: Bool) {
            if accepted { tally[target, default: (0, 0)].accepted += 1 } else { tally[target, default: (0, 0)].rejected += 1 }
        }
        for iteration in 0..<Self.iterations {
            let context = "seed \(seed), iteration \(iteration)"
            switch iteration % 10 {
            case 0...3:
                // An input line: parsed, and when it parses, appended.
                // One mutation half the time, so that more lines get past the reader to the rules and the store.
                let original = mutator.pick(lines)
                let line = mutator.chance(50) ? mutator.mutateJSON(original, plausible: true) : mutator.mutate(original)
                let parsed = timed(context, "InputLine.parse") {
                    line.withUnsafeBytes { bytes in
                        decode(context, "input line", [InputLine.Invalid.self, InvalidData.self, UnknownEventType.self]) {
                            try InputLine.parse(bytes)
                        }
                    }
                }
                note("input line", parsed != nil)
                guard let input = parsed else { continue }
                let before = try media.store.head()
                do {
                    let result = try await media.append([input])
                    let after = try media.store.head()
                    #expect(after == before + (result.isDuplicate ? 0 : 1), "\(context): an accepted line writes one event")
                    note("append", true)
                } catch {
                    expectTyped(error, context, "append", [DomainRejection.self, EventStoreError.self, InvalidData.self])
                    #expect(try media.store.head() == before, "\(context): a rejected line writes nothing: \(error)")
                    note("append", false)
                }
            case 4:
                // One event type's decoder fed another's data, mutated at the JSON level.
                let donor = mutator.pick(events)
                let type = DomainEvent.types[Int.random(in: 0..<DomainEvent.types.count, using: &mutator.rng)]
                let payload = mutator.chance(50) ? mutator.mutateJSON(donor.payload) : donor.payload
                let data = try? JSONReader.read(String(decoding: payload, as: UTF8.self))
                guard case let .object(object)? = data else { continue }
                let decoded = timed(context, "DomainEvent(type:data:)") {
                    decode(context, "\(type) data", [InvalidData.self, UnknownEventType.self]) { try DomainEvent(type: type, data: object) }
                }
                note("event decoder", decoded != nil)
            case 5:
                // A stored payload, as the change feed and history decode it.
                let event = mutator.pick(events)
                let damaged = RecordedEvent(
                    position: event.position, stream: event.stream, version: event.version, id: event.id, type: event.type,
                    recordedAtMilliseconds: event.recordedAtMilliseconds, metadata: event.metadata, payload: mutator.mutate(event.payload),
                    hash: event.hash
                )
                let decoded = timed(context, "DomainEvent(recorded:)") {
                    decode(context, "stored payload", [JSONError.self, InvalidData.self, UnknownEventType.self]) {
                        try DomainEvent(recorded: damaged)
                    }
                }
                note("stored payload", decoded != nil)
            case 6, 7:
                // An export envelope, as `reel import` reads it.
                let line = mutator.mutate(mutator.pick(envelopes))
                let parsed = timed(context, "Envelope.parse") {
                    line.withUnsafeBytes { bytes in decode(context, "envelope", [Envelope.Invalid.self]) { try Envelope.parse(bytes) } }
                }
                note("envelope", parsed != nil)
            case 8:
                // A stored log record.
                let value = mutator.mutateBinary(mutator.pick(records))
                let decoded = timed(context, "RecordCodec.decode") {
                    value.withUnsafeBytes { bytes in
                        decode(context, "log record", [RecordCodec.DecodeFailure.self]) { try RecordCodec.decode(bytes) }
                    }
                }
                note("log record", decoded != nil)
            default:
                // A projection's entity record.
                let (kind, bytes, read) = mutator.pick(entities)
                let value = mutator.mutateBinary(bytes)
                let decoded: Void? = timed(context, "\(kind) record") {
                    value.withUnsafeBytes { raw in decode(context, "\(kind) record", [DamagedRecord.self]) { try read(raw) } }
                }
                note("\(kind) record", decoded != nil)
            }
        }
        let summary = tally.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value.accepted)/\($0.value.rejected)" }.joined(separator: ", ")
        print("HostileInputTests: accepted/rejected: \(summary)")
        #expect(
            (tally["input line"]?.rejected ?? 0) > 0 && (tally["input line"]?.accepted ?? 0) > 0, "the mutations reach past the JSON reader"
        )
        let problems = try media.store.verify() + media.store.verifyProjections()
        #expect(problems.isEmpty, "integrity problems: \(problems)")
        try media.close()
    }

    @Test("a 10 MB string: stored whole where the spec allows any text, a clear rejection where it would be a key")
    func tenMegabyteString() async throws {
        try await withMediaStore { media in
            let big = String(repeating: "lighthouse ", count: 1_000_000)  // 11 MB
            let project = UUID()
            let line = #"{"type":"project.created","data":{"project_id":"\#(project.lowercased)","title":"\#(big)"}}"#
            try await media.append([try Array(line.utf8).withUnsafeBytes { try InputLine.parse($0) }])
            let stored = try #require(try media.store.events(from: 1, limit: 1).first)
            #expect(stored.payload.count > 11_000_000)
            guard case let .projectCreated(created) = try DomainEvent(recorded: stored) else { throw Unexpected() }
            #expect(created.title == big, "the title comes back whole")
            // An email is a key of the uniqueness index, which LMDB limits to 511 bytes.
            let before = try media.store.head()
            let email = #"{"type":"user.registered","data":{"user_id":"\#(UUID().lowercased)","email":"a@\#(big)"}}"#
            do {
                try await media.append([try Array(email.utf8).withUnsafeBytes { try InputLine.parse($0) }])
                Issue.record("an 11 MB email was accepted")
            } catch {
                expectTyped(error, "10 MB email", "append", [DomainRejection.self, EventStoreError.self])
                print("HostileInputTests: an 11 MB email is refused with: \(error)")
            }
            #expect(try media.store.head() == before, "the rejected line wrote nothing")
        }
    }

    @Test(
        "numbers out of range are refused by field, never wrapped or trapped on",
        arguments: [
            (#""scene_index":99999999999999999999"#, "data.scene_index"),
            (#""scene_index":-9223372036854775809"#, "data.scene_index"),
            (#""scene_index":1e999"#, "data.scene_index"),
            (#""scene_index":1.0"#, "data.scene_index"),
            (#""scene_index":-1"#, "scene_index -1"),
            (#""scene_index":9223372036854775807,"image_index":-9223372036854775808"#, "image_index -9223372036854775808"),
        ])
    func numbersOutOfRange(field: String, mentions: String) async throws {
        try await withMediaStore { media in
            let project = UUID()
            try await media.append(.projectCreated(ProjectCreated(projectID: project)))
            let line = #"{"type":"scene_image.saved","data":{"project_id":"\#(project.lowercased)",\#(field),"image_url":"u"}}"#
            let before = try media.store.head()
            do {
                try await media.append([try Array(line.utf8).withUnsafeBytes { try InputLine.parse($0) }])
                Issue.record("\(field) was accepted")
            } catch {
                expectTyped(error, field, "scene_image.saved", [InvalidData.self, DomainRejection.self])
                #expect(String(describing: error).contains(mentions), "\(error)")
            }
            #expect(try media.store.head() == before)
            // And in the envelope's fields and the line's expected_version.
            for envelopeField in [#""position":18446744073709551616"#, #""version":-1"#, #""position":1e3"#] {
                let envelope =
                    #"{\#(envelopeField),"stream":"s","version":1,"id":"\#(UUID().lowercased)","type":"t","recorded_at":"2026-11-22T01:02:03.456Z","data":{},"metadata":{},"hash":"\#(String(repeating: "0", count: 64))"}"#
                    .replacingOccurrences(of: #","version":1,"version":-1"#, with: #","version":-1"#)
                #expect(throws: Envelope.Invalid.self) { try Array(envelope.utf8).withUnsafeBytes { try Envelope.parse($0) } }
            }
            let huge =
                #"{"type":"generation_job.started","data":{"job_id":"\#(UUID().lowercased)"},"expected_version":18446744073709551616}"#
            #expect(throws: InputLine.Invalid.self) { try Array(huge.utf8).withUnsafeBytes { try InputLine.parse($0) } }
        }
    }

    @Test("numbers of any length a client writes are kept exactly, the full decimal expansion of a double included; a longer one is refused")
    func longNumbers() throws {
        // 2^1024 - 2^971, the largest double, written out: 309 digits; and 2^-1074, the smallest, written out in full.
        let largest = "179769313486231570814527423731704356798070567525844996598917476803157260780028538760589558632766878171540458953514382464234321326889464182768467546703537516986049910576551282076245490090389328944075868508455133942304583236903222948165808559332123348274797826204144723168738177180919299881250404026184124858368"
        let smallest = "0." + String(repeating: "0", count: 323) + "4940656458412465441765687928682213723651"
        for number in [largest, "-" + largest, smallest, "1" + String(repeating: "0", count: 4_095)] {
            guard case let .object(object) = try JSONReader.read(#"{"n":\#(number)}"#), case let .number(read)? = object["n"] else {
                throw Unexpected()
            }
            #expect(read.text == number)
        }
        #expect(throws: JSONError.self) { try JSONReader.read(#"{"n":1\#(String(repeating: "0", count: 4_096))}"#) }
    }

    @Test("a line of 100,000 keys is read in linear time, and a duplicate among them is still found")
    func manyKeys() throws {
        let keys = (0..<100_000).map { "\"k\($0)\":\($0)" }.joined(separator: ",")
        let start = ContinuousClock.now
        guard case let .object(object) = try JSONReader.read("{" + keys + "}") else { throw Unexpected() }
        #expect(object.members.count == 100_000)
        #expect(throws: JSONError.self) { try JSONReader.read("{" + keys + ",\"k99999\":0}") }
        let took = ContinuousClock.now - start
        #expect(took < .seconds(5), "read in \(took) (a search of every earlier key per key took minutes)")
        let line = #"{"type":"project.created","data":{"project_id":"\#(UUID().lowercased)",\#(keys)}}"#
        #expect(throws: InvalidData.self) { try Array(line.utf8).withUnsafeBytes { try InputLine.parse($0) } }
    }

    @Test("an unknown field is named, wherever the known ones stand among many members")
    func unknownFieldAmongMany() throws {
        // The data reader marks the first 64 members asked for in a 64-bit mask: put the known fields past them, after
        // 64 unknown ones, and before them.
        let unknown = (0..<64).map { "\"k\($0)\":\($0)" }.joined(separator: ",")
        let known = #""user_id":"\#(UUID().lowercased)","email":"a@example.com""#
        for (data, named) in [(unknown + "," + known, "k0"), (known + "," + unknown, "k0"), (known + ",\"k64\":1", "k64")] {
            let line = #"{"type":"user.registered","data":{\#(data)}}"#
            #expect {
                try Array(line.utf8).withUnsafeBytes { try InputLine.parse($0) }
            } throws: { error in
                String(describing: error).contains("data.\(named) is not a field of user.registered")
            }
        }
        let fine = #"{"type":"user.registered","data":{\#(known)}}"#
        #expect(throws: Never.self) { try Array(fine.utf8).withUnsafeBytes { try InputLine.parse($0) } }
    }

    struct Unexpected: Error {}

    /// The stored value of an event, as the log holds it.
    func storedValue(of event: RecordedEvent) -> [UInt8] {
        RecordCodec.storedValue(
            previousHash: RecordCodec.zeroHash, previousInStream: 0, position: event.position, stream: event.stream, version: event.version,
            id: event.id, type: event.type, recordedAt: event.recordedAtMilliseconds, payload: event.payload, metadata: event.metadata
        ).value
    }

    /// Every entity record of the media projection, with the decoder of its kind.
    func entityRecords(_ media: MediaStore) throws -> [(String, [UInt8], @Sendable (UnsafeRawBufferPointer) throws -> Void)] {
        try media.withQueries { queries, txn in
            let t = queries.t
            let kinds: [(String, Database, @Sendable (UnsafeRawBufferPointer) throws -> Void)] = [
                ("user", t.users, { _ = try UserRecord(bytes: $0) }), ("session", t.userSessions, { _ = try SessionRecord(bytes: $0) }),
                ("session owner", t.sessions, { _ = try SessionOwner(bytes: $0) }),
                ("scene images", t.sceneImages, { _ = try SceneImageChunk.urls($0) }),
                ("reference image", t.referenceImages, { _ = try ReferenceImageRecord(bytes: $0) }),
                ("job", t.jobs, { _ = try JobRecord(bytes: $0) }), ("job image", t.jobImages, { _ = try JobImageEntry(bytes: $0) }),
                // As the job query reads them: the URLs into one text, then sliced.
                ("job (query)", t.jobs, { value in
                    var (text, ends) = ([UInt8](), [Int]())
                    _ = try JobRecord.read(value, referenceURLsInto: &text, ends: &ends)
                    try slices(text, ends)
                }),
                ("job image (query)", t.jobImages, { value in
                    var text: [UInt8] = []
                    let entry = try JobImageEntry.read(value, urlsInto: &text)
                    try slices(text, [entry.gcpURL.upperBound] + (entry.thumbnailURL.map { [$0.upperBound] } ?? []))
                }),
                ("image", t.images, { _ = try ImageRecord(bytes: $0) }), ("project", t.projects, { _ = try ProjectRecord(bytes: $0) }),
                ("story", t.stories, { _ = try StoryRecord(bytes: $0) }), ("scenelet", t.storyScenelets, { _ = try SceneletRecord(bytes: $0) }),
                ("shot", t.storyShots, { _ = try ShotRecord(bytes: $0) }), ("frame", t.frames, { _ = try FrameRecord(bytes: $0) }),
            ]
            var records: [(String, [UInt8], @Sendable (UnsafeRawBufferPointer) throws -> Void)] = []
            for (kind, database, read) in kinds {
                try txn.withCursor(database) { cursor in
                    try cursor.forEach { _, value in
                        try read(value)  // the unmutated record decodes
                        records.append((kind, Array(value), read))
                        return true
                    }
                }
            }
            return records
        }
    }
}

/// Makes the text of a buffer of pieces and every piece's slice, as the queries that share one text do.
private func slices(_ bytes: [UInt8], _ ends: [Int]) throws {
    guard let text = SnapshotQueries.text(of: bytes, pieceEnds: ends) else { throw DamagedRecord(what: "text") }
    var start = 0
    for end in ends {
        guard start <= end, end <= bytes.count else { throw DamagedRecord(what: "text") }
        _ = SnapshotQueries.slice(text, start..<end)
        start = end
    }
}

/// Runs a decoder: its value, or `nil` when it threw one of `allowed` with a clear message (anything else is an issue).
func decode<T>(_ context: String, _ what: String, _ allowed: [any Error.Type], _ body: () throws -> T) -> T? {
    do {
        return try body()
    } catch {
        expectTyped(error, context, what, allowed)
        return nil
    }
}

/// Expects `error` to be of one of the `allowed` types, with a message that says something and stays short (a
/// hostile input must not be echoed back whole).
func expectTyped(
    _ error: any Error, _ context: String, _ what: String, _ allowed: [any Error.Type], sourceLocation: SourceLocation = #_sourceLocation
) {
    let message = String(describing: error)
    #expect(
        allowed.contains { type(of: error) == $0 }, "\(context): \(what) threw \(type(of: error)): \(message.prefix(300))",
        sourceLocation: sourceLocation)
    #expect(
        !message.isEmpty && message.utf8.count <= 1_000,
        "\(context): \(what): a message of \(message.utf8.count) bytes: \(message.prefix(300))", sourceLocation: sourceLocation)
}

/// Runs `body`, recording an issue when it takes more than 3 seconds (a hang in the making; decodes take
/// milliseconds, the margin is for a loaded CI machine).
func timed<T>(_ context: String, _ what: String, _ body: () -> T) -> T {
    let start = ContinuousClock.now
    let result = body()
    let took = ContinuousClock.now - start
    #expect(took < .seconds(3), "\(context): \(what) took \(took)")
    return result
}

/// Valid inputs for the mutator.
enum Corpus {
    /// A production from the seeded generator, as NDJSON input lines with ids, each UUID replaced by one derived from
    /// the seed (so that a seed replays the same bytes), appended to `media`; returns the lines that were accepted.
    static func production(_ rng: inout SeededGenerator, into media: MediaStore) async throws -> [[UInt8]] {
        var generator = ProductionGenerator(rng: SeededGenerator(state: rng.next()))
        var mapping: [String: String] = [:]
        var accepted: [[UInt8]] = []
        for index in 0..<80 {
            let event = generator.next()
            var line = JSONObject()
            line.set("type", .string(event.type))
            line.set("data", .object(event.data))
            line.set("id", .string(UUID().lowercased))
            if index % 3 == 0 { line.set("metadata", .object(JSONObject().setting("actor", .string("worker-\(index)")))) }
            if index % 7 == 0 { line.set("expected_version", .null) }
            let text = seededUUIDs(String(decoding: JSONWriter.canonical(.object(line)), as: UTF8.self), &mapping, &rng)
            let input = try Array(text.utf8).withUnsafeBytes { try InputLine.parse($0) }
            do {
                try await media.append([input])
                accepted.append(Array(text.utf8))
            } catch is DomainRejection {
                continue  // the generator's model allows a few
            }
        }
        return accepted
    }

    /// `text` with each UUID replaced, consistently, by one from `rng`.
    static func seededUUIDs(_ text: String, _ mapping: inout [String: String], _ rng: inout SeededGenerator) -> String {
        var result = ""
        var rest = Substring(text)
        while let quote = rest.firstIndex(of: "\"") {
            result += rest[...quote]
            rest = rest[rest.index(after: quote)...]
            let candidate = String(rest.prefix(36))
            if candidate.count == 36, UUID(uuidString: candidate) != nil {
                if mapping[candidate] == nil {
                    var bytes = (rng.next(), rng.next())
                    mapping[candidate] = withUnsafeBytes(of: &bytes) { UUID(uuid: $0.load(as: uuid_t.self)) }.lowercased
                }
                result += mapping[candidate]!
                rest = rest.dropFirst(36)
            }
        }
        return result + rest
    }
}

/// Seeded mutations of bytes, of JSON texts and of binary records.
struct Mutator {
    var rng: SeededGenerator
    let corpus: [[UInt8]]

    mutating func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &rng) < percent }
    mutating func pick<T>(_ items: [T]) -> T { items[Int.random(in: 0..<items.count, using: &rng)] }
    mutating func index(_ count: Int) -> Int { count == 0 ? 0 : Int.random(in: 0..<count, using: &rng) }
    /// A UUID from the seed.
    mutating func uuid() -> String {
        var bytes = (rng.next(), rng.next())
        return withUnsafeBytes(of: &bytes) { UUID(uuid: $0.load(as: uuid_t.self)) }.lowercased
    }

    /// Tokens that mean something to a JSON reader.
    static let tokens: [String] = [
        "\"", "\\", "{", "}", "[", "]", ",", ":", "null", "true", "-", "0", "1e", ".", "\\u", "\\ud800", "\u{0}", "\n", "é", "🎬",
        "\"\":", "{}", "[]", "\"type\":", "\"data\":{", "1e999", "-0",
    ]

    /// One to three mutations of a JSON text.
    mutating func mutate(_ input: [UInt8]) -> [UInt8] {
        var bytes = input
        for _ in 0..<Int.random(in: 1...3, using: &rng) { bytes = chance(40) ? mutateJSON(bytes) : mutateBytes(bytes) }
        return bytes
    }

    /// One byte-level mutation.
    mutating func mutateBytes(_ input: [UInt8]) -> [UInt8] {
        var b = input
        let i = index(b.count)
        switch Int.random(in: 0..<9, using: &rng) {
        case 0: if !b.isEmpty { b[i] ^= 1 << UInt8.random(in: 0...7, using: &rng) }
        case 1: if !b.isEmpty { b[i] = UInt8.random(in: 0...255, using: &rng) }
        case 2: b = Array(b.prefix(i))
        case 3: b.insert(contentsOf: Array(pick(Self.tokens).utf8), at: i)
        case 4:
            let end = min(b.count, i + Int.random(in: 1...64, using: &rng))
            b.insert(contentsOf: b[i..<end], at: end)
        case 5:
            let other = pick(corpus)
            b = Array(b.prefix(i)) + Array(other.suffix(from: index(other.count)))
        case 6:
            let end = min(b.count, i + Int.random(in: 1...16, using: &rng))
            b.removeSubrange(i..<end)
        case 7:
            // Invalid UTF-8.
            b.insert(contentsOf: [0xC3, 0x28, 0xFF, 0xED, 0xA0, 0x80].prefix(Int.random(in: 1...6, using: &rng)), at: i)
        default:
            // A duplicated key after an opening brace.
            if let brace = b.indices.filter({ b[$0] == UInt8(ascii: "{") }).randomElement(using: &rng) {
                let key = pick([
                    "type", "data", "id", "metadata", "project_id", "job_id", "user_id", "scene_index", "actor", "position", "hash",
                ])
                b.insert(contentsOf: Array("\"\(key)\":\(pick(["1", "\"x\"", "null", "{}"])),".utf8), at: brace + 1)
            }
        }
        return b
    }

    /// One JSON-level mutation: a value somewhere replaced by one of another type, an out-of-range number, deep
    /// nesting or a long string. Falls back to a byte mutation when the text is not JSON.
    /// With `plausible`, the value is one of the right shape for many fields (an id of another entity, a boundary
    /// integer, an empty or long string), so that the line reaches the domain rules and the store.
    mutating func mutateJSON(_ input: [UInt8], plausible: Bool = false) -> [UInt8] {
        guard let value = try? input.withUnsafeBytes({ try JSONReader.read($0) }) else { return mutateBytes(input) }
        let placeholder = "\u{1}HOLE\u{1}"
        let replaced = replaceRandomValue(value, with: .string(placeholder), depth: 0, keys: !plausible)
        var writer = JSONWriter()
        writer.write(replaced, sortKeys: false)
        let raw: String
        switch plausible ? 5 : Int.random(in: 0..<5, using: &rng) {
        case 5:
            let donor = String(decoding: pick(corpus), as: UTF8.self)
            let ids = donor.split(separator: "\"").filter { $0.count == 36 && UUID(uuidString: String($0)) != nil }
            raw = pick([
                ids.isEmpty ? "\"\(uuid())\"" : "\"\(pick(ids))\"", "\"\(uuid())\"", "0", "-1", "1", "16", "17",
                "9223372036854775807", "-9223372036854775808", "\"\"", "\"a@b\"", "\"\(String(repeating: "w", count: 600))\"", "null", "[]",
                "{}",
            ])
        case 0:
            raw = pick([
                "null", "true", "false", "0", "-1", "1.5", "\"\"", "\"x\"", "[]", "{}", "[1,2]", "{\"a\":1}", "\"not-a-uuid\"",
                "\"\(uuid())\"",
            ])
        case 1:
            raw = pick([
                "1e999", "-1e999", "99999999999999999999", "-9223372036854775809", "9223372036854775807", "9223372036854775808",
                "18446744073709551616", "-0", "0e0", "1E+2", "1" + String(repeating: "0", count: 63),
                "1" + String(repeating: "0", count: 70),
            ])
        case 2:
            let depth = pick([255, 256, 257, 1_000, 10_000])
            raw = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        case 3:
            raw = "\"" + String(repeating: pick(["x", "é", "\\n", "\\u0041"]), count: pick([1_000, 100_000])) + "\""
        default:
            raw = "{" + (0..<pick([2, 20, 2_000])).map { "\"k\($0)\":\($0)" }.joined(separator: ",") + "}"
        }
        let text = String(decoding: writer.bytes, as: UTF8.self)
        let hole = "\"\\u0001HOLE\\u0001\""
        return Array(text.replacingOccurrences(of: hole, with: raw).utf8)
    }

    private mutating func replaceRandomValue(_ value: JSONValue, with replacement: JSONValue, depth: Int, keys: Bool) -> JSONValue {
        switch value {
        case let .object(object) where !object.members.isEmpty && (depth == 0 || chance(70)):
            var members = object.members
            let i = index(members.count)
            if keys && chance(15) {
                // The key itself becomes long or odd.
                members[i].key = pick([String(repeating: "k", count: 100_000), "", "\u{0}", members[i].key.uppercased()])
            } else {
                members[i].value = replaceRandomValue(members[i].value, with: replacement, depth: depth + 1, keys: keys)
            }
            // Keys may now repeat; the reader rejects that, which is a fine outcome.
            return .object(JSONObject(uncheckedMembers: members))
        case let .array(elements) where !elements.isEmpty && chance(70):
            var elements = elements
            let i = index(elements.count)
            elements[i] = replaceRandomValue(elements[i], with: replacement, depth: depth + 1, keys: keys)
            return .array(elements)
        default:
            return replacement
        }
    }

    /// One to three mutations of a binary record: bit and byte flips, truncation, lengths set huge, slices duplicated.
    mutating func mutateBinary(_ input: [UInt8]) -> [UInt8] {
        var b = input
        for _ in 0..<Int.random(in: 1...3, using: &rng) {
            let i = index(b.count)
            switch Int.random(in: 0..<6, using: &rng) {
            case 0: if !b.isEmpty { b[i] ^= 1 << UInt8.random(in: 0...7, using: &rng) }
            case 1: if !b.isEmpty { b[i] = pick([0, 1, 2, 0x7F, 0x80, 0xFF]) }
            case 2: b = Array(b.prefix(i))
            case 3: b.replaceSubrange(i..<min(b.count, i + 4), with: [0xFF, 0xFF, 0xFF, pick([0xF0, 0xFF])])  // a length near 4 GiB
            case 4:
                let end = min(b.count, i + Int.random(in: 1...32, using: &rng))
                b.insert(contentsOf: b[i..<end], at: end)
            default:
                b.insert(contentsOf: (0..<Int.random(in: 1...8, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }, at: i)
            }
        }
        return b
    }
}
