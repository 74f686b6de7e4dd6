import EventStore
import Foundation
import Testing
@testable import MediaPipeline

/// The catalogue's description of events and queries (``EventDescription``, ``QueryDescription``) held to the code it
/// describes: the decoders (fields, types, requirements), the Swift types, the rules (every rejection message), the
/// streams, the defaults and the queries' JSON. docs/EVENTS.md and docs/QUERIES.md are printed from it.
@Suite("The event and query catalogue matches the code")
struct CatalogueReferenceTests {
    // MARK: Events: the decoders

    @Test("the catalogue describes exactly the event types the decoder knows, in its order")
    func typesMatch() {
        #expect(EventDescription.all.map(\.type) == DomainEvent.types)
        #expect(Set(EventDescription.all.map(\.type)).count == EventDescription.all.count)
        for event in EventDescription.all {
            #expect(Set(event.fields.map(\.name)).count == event.fields.count, "\(event.type): a field described twice")
            #expect(!event.rules.isEmpty, "\(event.type) has rules")
            for earlier in event.after { #expect(EventDescription.named(earlier) != nil, "\(event.type): unknown prerequisite \(earlier)") }
            #expect(!event.exampleRequires.contains(event.type), "\(event.type)'s example needs itself")
        }
    }

    @Test("each example line parses with the real decoder, and its event writes back the same data")
    func examplesParse() throws {
        for event in EventDescription.all {
            let input = try parse(event.exampleLine)
            #expect(input.event.type == event.type)
            #expect(
                JSONWriter.canonical(.object(input.event.data)) == JSONWriter.canonical(.object(try data(event.exampleData))),
                "\(event.type): the example's data does not survive a decode and encode")
        }
    }

    @Test("the described fields are the event type's Swift properties: names, types and optionality, in order")
    func fieldsAreTheProperties() throws {
        for event in EventDescription.all {
            // Every field given, so that every property holds a value to reflect on.
            let decoded = try DomainEvent(type: event.type, data: fullData(event))
            let payload = try #require(Mirror(reflecting: decoded).children.first?.value, "\(event.type)")
            let properties = Mirror(reflecting: payload).children.map { child -> (String, FieldType?, Bool) in
                let (type, required) = fieldType(of: child.value)
                return (snakeCase(child.label ?? "?"), type, required)
            }
            #expect(properties.map(\.0) == event.fields.map(\.name), "\(event.type): the struct's properties")
            for ((name, type, required), field) in zip(properties, event.fields) where name == field.name {
                #expect(type == field.type, "\(event.type).\(name): the property's type")
                #expect(required == field.isRequired, "\(event.type).\(name): the property is \(required ? "not " : "")optional")
            }
        }
    }

    @Test("every field given: the decoder takes them all, and the event writes back exactly the described fields")
    func allFieldsGiven() throws {
        for event in EventDescription.all {
            let full = try fullData(event)
            let decoded = try DomainEvent(type: event.type, data: full)
            #expect(Set(decoded.data.keys) == Set(event.fields.map(\.name)), "\(event.type)")
            #expect(JSONWriter.canonical(.object(decoded.data)) == JSONWriter.canonical(.object(full)), "\(event.type)")
        }
    }

    @Test("a required field left out, or null, is rejected in the decoder's words; an optional one left out or null is not")
    func requiredAndOptional() throws {
        for event in EventDescription.all {
            let full = try fullData(event)
            for field in event.fields {
                for variant in [full.removing(field.name), full.setting(field.name, .null)] {
                    if field.isRequired {
                        #expect(throws: InvalidData(type: event.type, field: field.name, reason: "is required"), "\(event.type).\(field.name)") {
                            try DomainEvent(type: event.type, data: variant)
                        }
                    } else {
                        #expect(throws: Never.self, "\(event.type).\(field.name) is optional") { try DomainEvent(type: event.type, data: variant) }
                    }
                }
            }
        }
    }

    @Test("a field of another JSON type is rejected with the words its type's description gives")
    func wrongTypes() throws {
        for event in EventDescription.all {
            let full = try fullData(event)
            for field in event.fields {
                let wrong = wrongValue(for: field.type)
                let expected = "\(event.type): data.\(field.name) \(field.type.mismatch), not \(wrong.typeName)"
                do {
                    _ = try DomainEvent(type: event.type, data: full.setting(field.name, wrong))
                    Issue.record("\(event.type).\(field.name) accepted \(wrong.typeName)")
                } catch let error as InvalidData {
                    #expect(error.description == expected)
                }
            }
            #expect(throws: InvalidData(type: event.type, field: "no_such_field", reason: "is not a field of \(event.type)")) {
                try DomainEvent(type: event.type, data: full.setting("no_such_field", .string("x")))
            }
        }
    }

    @Test("the input line's described fields are the ones the parser takes")
    func inputLineFields() {
        #expect(Set(EventDescription.inputLineFields.map(\.name)) == InputLine.fields)
        #expect(Set(EventDescription.metadataFields.map(\.name)) == InputLine.metadataFields)
        #expect(EventDescription.inputLineFields.filter(\.isRequired).map(\.name) == ["type", "data"])
    }

    @Test("an unknown event type names the nearest known types when one is close, and `reel events` when none is")
    func unknownTypeSuggestions() throws {
        func message(_ type: String) -> String {
            do {
                _ = try parse(#"{"type":"\#(type)","data":{}}"#)
                return "accepted"
            } catch {
                return "\(error)"
            }
        }
        #expect(message("project.create") == #"unknown event type "project.create"; did you mean "project.created"?"#)
        #expect(message("Frame.Approved") == #"unknown event type "Frame.Approved"; did you mean "frame.approved"?"#)
        #expect(message("image.generate") == #"unknown event type "image.generate"; did you mean "image.generated"?"#)
        #expect(message("frame.created ") == #"unknown event type "frame.created "; did you mean "frame.created"?"#)
        #expect(message("zzz") == #"unknown event type "zzz" (`reel events` lists the 23 types)"#)
        #expect(EventDescription.nearest(to: "story.create", limit: 1) == ["story.created"])
        #expect(Suggestions.distance("kitten", "sitting") == 3)
        #expect(Suggestions.distance("", "abc") == 3)
    }

    // MARK: Events: examples on a store, streams

    @Test("each example is accepted on a store holding the examples it names, into the stream the catalogue gives")
    func examplesAppendToTheirStreams() async throws {
        for event in EventDescription.all {
            try await withMediaStore { media in
                for type in event.exampleRequires + [event.type] {
                    try await media.appendLine(EventDescription.named(type)!.exampleLine)
                }
                let stored = try media.store.read { try $0.events(from: 1, limit: 100) }
                let last = try #require(stored.last)
                #expect(last.type == event.type)
                let exampleData = try data(event.exampleData)
                switch event.stream {
                case let .own(entity, field):
                    guard case let .string(id)? = exampleData[field] else {
                        Issue.record("\(event.type): no \(field) in the example")
                        return
                    }
                    #expect(last.stream == "\(entity)-\(id)", "\(event.type)")
                    #expect(try parse(event.exampleLine).event.directStream.map { "\($0.entity)-\($0.id.lowercased)" } == last.stream)
                case let .parent(entity, _, field, _):
                    #expect(try parse(event.exampleLine).event.directStream == nil, "\(event.type) names its own stream")
                    // The stream of the event that created the entity `field` names.
                    let creator = try #require(
                        stored.first { recorded in
                            let payload = try? recorded.payload.withUnsafeBytes { try JSONReader.read($0) }
                            guard case let .object(object)? = payload else { return false }
                            return object[field] == exampleData[field]
                        }, "\(event.type): no stored event names the same \(field)")
                    #expect(last.stream == creator.stream, "\(event.type)")
                    #expect(last.stream.hasPrefix("\(entity)-"), "\(event.type): \(last.stream)")
                }
            }
        }
    }

    // MARK: Events: rules

    @Test("every described rule is broken by one scenario here, and no scenario is about a rule not described")
    func everyRuleHasAScenario() {
        let described = Set(EventDescription.all.flatMap { event in event.rules.map { "\(event.type): \($0)" } })
        let scenarios = Self.violations.map { "\($0.type): \($0.rule)" }
        #expect(Set(scenarios) == described, "missing: \(described.subtracting(scenarios).sorted()); stale: \(Set(scenarios).subtracting(described).sorted())")
        #expect(Set(scenarios).count == scenarios.count, "a rule with two scenarios")
    }

    @Test("each rule's scenario is rejected with the message the rule gives", arguments: CatalogueReferenceTests.violations)
    func ruleScenario(_ violation: Violation) async throws {
        try await withMediaStore { media in
            for line in violation.setup {
                do {
                    try await media.appendLine(line)
                } catch {
                    Issue.record("the scenario's setup failed: \(error)\n\(line)")
                    return
                }
            }
            let before = try media.store.head()
            do {
                try await media.appendLine(violation.line)
                Issue.record("accepted, expected \(violation.type) rejected: \(violation.rule)")
            } catch let rejection as DomainRejection {
                #expect(rejection.type == violation.type)
                let pattern = try rulePattern(violation.rule, data: data(ofLine: violation.line))
                #expect(
                    rejection.reason.wholeMatch(of: pattern) != nil,
                    "\"\(rejection.reason)\" is not the described \"\(violation.rule)\"")
            }
            #expect(try media.store.head() == before)
        }
    }

    // MARK: Events: defaults

    @Test("a field's described default is what leaving it out means")
    func defaults() async throws {
        let described = Set(EventDescription.all.flatMap { event in event.fields.compactMap { $0.defaultValue == nil ? nil : "\(event.type).\($0.name)" } })
        let inputDefault = EventDescription.inputLineFields.filter { $0.defaultValue != nil }.map(\.name)
        #expect(inputDefault.isEmpty)
        #expect(described == [
            "generation_job.created.number_of_shots", "generation_job.created.reference_image_ids", "scene_image.saved.image_index",
            "scenelet.added.is_branch_point",
        ], "each default needs its check below")
        func field(_ type: String, _ name: String) -> FieldDescription { EventDescription.named(type)!.fields.first { $0.name == name }! }

        // A job without number_of_shots makes 1 image; without reference_image_ids it has none.
        try await withMediaStore { media in
            let job = EventDescription.named(GenerationJobCreated.type)!
            for type in job.exampleRequires { try await media.appendLine(EventDescription.named(type)!.exampleLine) }
            try await media.appendLine(try line(job.type, removing: ["number_of_shots", "reference_image_ids"]))
            let view = try media.job(UUID(parsing: ExampleID.job)!)
            #expect(String(view.numberOfShots) == field(job.type, "number_of_shots").defaultValue)
            #expect(jsonText(view.json.member("reference_image_ids")) == field(job.type, "reference_image_ids").defaultValue)
        }
        // An image saved without image_index takes index 0: saving at 0 replaces it.
        try await withMediaStore { media in
            try await media.appendLine(EventDescription.named(ProjectCreated.type)!.exampleLine)
            try await media.appendLine(try line(SceneImageSaved.type, removing: ["image_index"], setting: ["image_url": .string("https://a")]))
            try await media.appendLine(try line(SceneImageSaved.type, setting: ["image_index": .number(JSONNumber(Int(field(SceneImageSaved.type, "image_index").defaultValue!)!)), "image_url": .string("https://b")]))
            let scenes = try media.imagesByScene(project: UUID(parsing: ExampleID.project)!)
            #expect(scenes.scenes.map { $0.imageURLs.map(String.init) } == [["https://b"]])
        }
        // A scenelet without is_branch_point is not one.
        try await withMediaStore { media in
            try await media.appendLine(EventDescription.named(StoryCreated.type)!.exampleLine)
            try await media.appendLine(try line(SceneletAdded.type, removing: ["is_branch_point"]))
            let story = try media.story(UUID(parsing: ExampleID.story)!)
            #expect(String(story.scenelets[0].isBranchPoint) == field(SceneletAdded.type, "is_branch_point").defaultValue)
        }
    }

    // MARK: Queries

    @Test("the query catalogue: names and options unique, each id option names its entity")
    func queryCatalogue() {
        let names = QueryDescription.all.map(\.name)
        #expect(Set(names).count == names.count)
        for query in QueryDescription.all {
            #expect(Set(query.arguments.map(\.option)).count == query.arguments.count, "\(query.name)")
            #expect(query.arguments.contains { $0.kind == .id } == (query.entity != nil), "\(query.name): an id names an entity")
            #expect(Set(query.output.map(\.name)).count == query.output.count, "\(query.name)")
        }
        #expect(QueryDescription.options == ["project", "frame", "shot", "story", "user", "job", "session", "status", "limit"])
    }

    @Test("each query's JSON on a real store has the described members, in order, of the described types, every one seen with a value")
    func queryOutputs() async throws {
        try await withMediaStore { media in
            for line in Self.queryStoreLines { try await media.appendLine(line) }
            let ids: [String: [String]] = [
                "project": [ExampleID.project], "frame": [ExampleID.frame, Self.secondFrame], "shot": [ExampleID.shot],
                "story": [ExampleID.story], "user": [ExampleID.user], "job": [ExampleID.job, Self.failedJob], "session": [ExampleID.session],
                "status": ["completed", "failed"],
            ]
            for query in QueryDescription.all {
                var seen: Set<String> = []
                let required = query.arguments.filter(\.isRequired)
                #expect(required.count == 1, "\(query.name): one required argument")
                for value in ids[required[0].option] ?? [] {
                    let json = try answer(query.name, value, media)
                    check(json, against: query.output, path: query.name, seen: &seen)
                }
                let described = Set(memberPaths(query.output, prefix: query.name))
                #expect(
                    described.isSubset(of: seen),
                    "\(query.name): never seen with a value (extend the store): \(described.subtracting(seen).sorted())")
                // An unknown id is the described error.
                if let entity = query.entity {
                    let unknown = UUID()
                    #expect(throws: UnknownEntity(entity: entity, id: unknown), "\(query.name)") {
                        _ = try answer(query.name, unknown.lowercased, media)
                    }
                }
            }
        }
    }

    // MARK: The scenarios of the rules

    /// An event that breaks one rule, on a store that holds `setup`.
    struct Violation: Sendable, CustomTestStringConvertible {
        let type: String
        let rule: String
        let setup: [String]
        let line: String
        var testDescription: String { "\(type): \(rule)" }
    }

    static let secondUser = "0d1e2f3a-4b5c-4d6e-8f7a-8b9c0d1e2f10"
    static let secondStory = "1e2f3a4b-5c6d-4e7f-8a9b-0c1d2e3f4a11"
    static let secondScenelet = "2f3a4b5c-6d7e-4f8a-9b0c-1d2e3f4a5b12"
    static let childScenelet = "3a4b5c6d-7e8f-4a9b-8c0d-2e3f4a5b6c13"
    static let secondFrame = "4b5c6d7e-8f9a-4b0c-9d1e-3f4a5b6c7d14"
    static let failedJob = "5c6d7e8f-9a0b-4c1d-8e2f-4a5b6c7d8e15"
    static let secondJob = "6d7e8f9a-0b1c-4d2e-9f3a-5b6c7d8e9f16"

    /// Two more users, stories and scenelets the scenarios need.
    static var otherUser: String { try! line(UserRegistered.type, setting: ["user_id": .string(secondUser), "email": .string("june@lighthouse.film")]) }
    static var otherStory: String { try! line(StoryCreated.type, setting: ["story_id": .string(secondStory)]) }
    static var otherScenelet: String {
        try! line(SceneletAdded.type, setting: ["scenelet_id": .string(secondScenelet), "story_id": .string(secondStory)])
    }

    static let violations: [Violation] = {
        func v(_ type: String, _ rule: String, after: [String] = [], extra: [String] = [], removing: [String] = [], _ changes: [String: JSONValue] = [:]) -> Violation {
            Violation(type: type, rule: rule, setup: examples(after) + extra, line: try! line(type, removing: removing, setting: changes))
        }
        func s(_ text: String) -> JSONValue { .string(text) }
        func n(_ value: Int) -> JSONValue { .number(JSONNumber(value)) }
        let new = "f0e1d2c3-b4a5-4968-8776-a5b4c3d2e1f0"
        let user = UserRegistered.type, session = SessionCreated.type, reference = ReferenceImageUploaded.type
        let job = GenerationJobCreated.type, started = GenerationJobStarted.type, completed = GenerationJobCompleted.type
        let image = ImageGenerated.type, project = ProjectCreated.type, story = StoryCreated.type, scenelet = SceneletAdded.type
        let shot = ShotPlanned.type, frame = FrameCreated.type
        return [
            v(user, #"email "<email>" must be non-empty and contain @"#, ["email": s("ivo.lighthouse.film")]),
            v(user, "email is longer than 320 bytes", ["email": s(String(repeating: "i", count: 320) + "@lighthouse.film")]),
            v(user, "email <email> is already registered to user <owner>", after: [user], ["user_id": s(new)]),
            v(user, "user <user_id> already exists", after: [user], ["email": s("ivo@another.film")]),
            v(session, "user <user_id> does not exist"),
            v(session, "session <session_id> already exists", after: [session]),
            v(SessionRenamed.type, "session <session_id> does not exist"),
            v(reference, "user <user_id> does not exist"),
            v(reference, "session <session_id> does not exist", after: [user]),
            v(reference, "session <session_id> belongs to user <owner>, not <user_id>", after: [session], extra: [otherUser], ["user_id": s(secondUser)]),
            v(reference, "reference image <reference_image_id> already exists", after: [reference]),
            v(job, "job <job_id> has an empty prompt", ["prompt": s("")]),
            v(job, "number_of_shots <number_of_shots> of job <job_id> is not within 1…16", ["number_of_shots": n(17)]),
            v(job, "user <user_id> does not exist"),
            v(job, "session <session_id> does not exist", after: [user]),
            v(job, "session <session_id> belongs to user <owner>, not <user_id>", after: [session], extra: [otherUser], ["user_id": s(secondUser)]),
            v(job, "frame <frame_id> does not exist", after: [session]),
            v(job, "reference image <reference image id> does not exist", after: [session, frame]),
            v(job, "reference image <reference image id> belongs to user <owner>, not <user_id>", after: [reference, frame], extra: [otherUser],
              removing: ["session_id"], ["user_id": s(secondUser)]),
            v(job, "job <job_id> already exists", after: [job]),
            v(started, "job <job_id> does not exist"),
            v(started, "job <job_id> is <status>, not pending", after: [started]),
            v(completed, "job <job_id> does not exist"),
            v(completed, "job <job_id> is <status>, not processing", after: [job]),
            v(GenerationJobFailed.type, "job <job_id> does not exist"),
            v(GenerationJobFailed.type, "job <job_id> is <status>, not pending or processing", after: [completed]),
            v(image, "job <job_id> does not exist"),
            v(image, "job <job_id> is <status>, not processing", after: [job]),
            v(image, "generation_index <generation_index> is not within 1…<number_of_shots> (number_of_shots of job <job_id>)", after: [started],
              ["generation_index": n(3)]),
            v(image, "job <job_id> already has image <image> at generation_index <generation_index>", after: [image], ["image_id": s(new)]),
            v(image, "image id <image_id> was used before", after: [image], ["generation_index": n(2)]),
            v(ImageDeleted.type, "image <image_id> does not exist"),
            v(ImageDeleted.type, "image <image_id> was already deleted", after: [ImageDeleted.type]),
            v(project, "project <project_id> already exists", after: [project]),
            v(SceneImageSaved.type, "scene_index <scene_index> of project <project_id> is negative", ["scene_index": n(-1)]),
            v(SceneImageSaved.type, "image_index <image_index> of project <project_id> is negative", ["image_index": n(-2)]),
            v(SceneImageSaved.type, "image_url of project <project_id> scene <scene_index> is empty", ["image_url": s("")]),
            v(SceneImageSaved.type, "project <project_id> does not exist"),
            v(SceneImagesCleared.type, "project <project_id> does not exist"),
            v(SceneImagesCleared.type, "scene_index <scene index> of project <project_id> is negative", after: [project], ["scene_indexes": .array([n(-4)])]),
            v(story, "story <story_id> already exists", after: [story]),
            v(scenelet, "story <story_id> does not exist"),
            v(scenelet, "parent scenelet <parent_id> does not exist", after: [story], ["parent_id": s(new)]),
            v(scenelet, "parent scenelet <parent_id> belongs to story <other story>, not <story_id>", after: [scenelet], extra: [otherStory],
              ["scenelet_id": s(new), "story_id": s(secondStory), "parent_id": s(ExampleID.scenelet)]),
            v(scenelet, "story <story_id> already has root scenelet <root>", after: [scenelet], ["scenelet_id": s(new)]),
            v(scenelet, "scenelet id <scenelet_id> was used before", after: [scenelet], ["parent_id": s(ExampleID.scenelet)]),
            v(SceneletUpdated.type, "scenelet <scenelet_id> does not exist"),
            v(SceneletRemoved.type, "scenelet <scenelet_id> does not exist"),
            v(SceneletRemoved.type, "scenelet <scenelet_id> has child scenelets (<children>)", after: [scenelet],
              extra: [try! line(scenelet, setting: ["scenelet_id": s(childScenelet), "parent_id": s(ExampleID.scenelet)])]),
            v(SceneletEndFrameSet.type, "scenelet <scenelet_id> does not exist"),
            v(SceneletEndFrameSet.type, "frame <frame_id> does not exist", after: [scenelet]),
            v(SceneletEndFrameSet.type, "frame <frame_id> belongs to story <frame's story>, scenelet <scenelet_id> to story <scenelet's story>",
              after: [frame], extra: [otherStory, otherScenelet], ["scenelet_id": s(secondScenelet)]),
            v(shot, "scenelet <scenelet_id> does not exist"),
            v(shot, "shot_index <shot_index> of shot <shot_id> is below 1", after: [scenelet], ["shot_index": n(0)]),
            v(shot, "scenelet <scenelet_id> already has a shot with shot_index <shot_index>", after: [shot], ["shot_id": s(new)]),
            v(shot, "shot id <shot_id> was used before", after: [shot], ["shot_index": n(2)]),
            v(ShotAssetsAttached.type, "shot <shot_id> does not exist"),
            v(frame, "shot <shot_id> does not exist"),
            v(frame, "frame_type of frame <frame_id> is empty", after: [shot], ["frame_type": s("")]),
            v(frame, "frame_type of frame <frame_id> is longer than 200 bytes", after: [shot], ["frame_type": s(String(repeating: "k", count: 201))]),
            v(frame, #"shot <shot_id> already has a frame of type "<frame_type>""#, after: [frame], ["frame_id": s(new)]),
            v(frame, "previous frame <previous_frame_id> does not exist", after: [shot], ["previous_frame_id": s(new)]),
            v(frame, "frame id <frame_id> was used before", after: [frame], ["frame_type": s("end")]),
            v(FrameApproved.type, "frame <frame_id> does not exist"),
            v(FrameApproved.type, "job <job_id> does not exist", after: [frame]),
            v(FrameApproved.type, "job <job_id> was not created for frame <frame_id>", after: [frame, user],
              extra: [try! line(job, removing: ["frame_id", "session_id", "reference_image_ids"], setting: ["job_id": s(secondJob)])],
              ["job_id": s(secondJob)]),
            v(FrameApproved.type, "job <job_id> is <status>, not completed", after: [job]),
            v(FrameRejected.type, "frame <frame_id> does not exist"),
        ]
    }()

    /// The example lines of `types` and of everything they need, each once, in an order the store accepts.
    static func examples(_ types: [String]) -> [String] {
        var order: [String] = []
        for type in types {
            for needed in EventDescription.named(type)!.exampleRequires + [type] where !order.contains(needed) { order.append(needed) }
        }
        return order.map { EventDescription.named($0)!.exampleLine }
    }

    // MARK: The store the queries run on

    /// Every example but those that remove or fail something, then a second frame after the first, a child scenelet
    /// and a job with every parameter that fails: each member of each query's output then has a value somewhere.
    static var queryStoreLines: [String] {
        let left = [ImageDeleted.type, SceneletRemoved.type, SceneImagesCleared.type, FrameRejected.type, GenerationJobFailed.type]
        let kept = EventDescription.all.map(\.type).filter { !left.contains($0) }
        let failed: [String: JSONValue] = [
            "job_id": .string(failedJob), "prompt": .string("the keeper at dawn"), "generated_prompt": .string("a keeper, dawn light"),
            "shot_type": .string("close-up"), "camera_angle": .string("low"), "location": .string("the gallery"),
            "lighting": .string("dawn"), "weather": .string("clear"),
        ]
        return examples(kept) + [
            try! line(FrameCreated.type, setting: ["frame_id": .string(secondFrame), "frame_type": .string("end"), "previous_frame_id": .string(ExampleID.frame)]),
            try! line(SceneletAdded.type, removing: ["is_branch_point", "choice_prompt"], setting: ["scenelet_id": .string(childScenelet), "parent_id": .string(ExampleID.scenelet)]),
            try! line(GenerationJobCreated.type, removing: ["frame_id"], setting: failed),
            #"{"type":"generation_job.started","data":{"job_id":"\#(failedJob)"}}"#,
            #"{"type":"generation_job.failed","data":{"job_id":"\#(failedJob)","error":"GPU worker lost"}}"#,
        ]
    }

    /// Runs query `name` with `value` for its required option, as `reel query` does.
    private func answer(_ name: String, _ value: String, _ media: MediaStore) throws -> JSONValue {
        let id = UUID(parsing: value)
        switch name {
        case "images-by-scene": return try media.imagesByScene(project: id!).json
        case "jobs-by-frame": return try media.jobsByFrame(frame: id!).json
        case "frames-by-shot": return try media.framesByShot(shot: id!).json
        case "story": return try media.story(id!).json
        case "bundle": return try media.bundle(story: id!).json
        case "sessions": return try media.sessions(user: id!).json
        case "job": return try media.job(id!).json
        case "session-images": return try media.sessionImages(session: id!).json
        case "reference-images": return try media.referenceImages(user: id!).json
        case "jobs": return try media.jobs(status: JobStatus(rawValue: value)!).json
        default:
            Issue.record("the catalogue's query \(name) is not run by this test")
            return .null
        }
    }
}

// MARK: Helpers

/// Parses an input line as `reel append` does.
private func parse(_ line: String) throws -> MediaStore.Input {
    try Array(line.utf8).withUnsafeBytes { try InputLine.parse($0) }
}

/// A JSON object from its text.
private func data(_ text: String) throws -> JSONObject {
    guard case let .object(object) = try JSONReader.read(text) else { throw InputLine.Invalid(message: "not an object: \(text)") }
    return object
}

/// The `data` of an input line.
private func data(ofLine line: String) throws -> JSONObject {
    guard case let .object(data)? = try data(line)["data"] else { throw InputLine.Invalid(message: "no data: \(line)") }
    return data
}

/// The example line of `type` with fields removed and set.
private func line(_ type: String, removing: [String] = [], setting changes: [String: JSONValue] = [:]) throws -> String {
    var object = try data(EventDescription.named(type)!.exampleData)
    for name in removing { object = object.removing(name) }
    for (name, value) in changes.sorted(by: { $0.key < $1.key }) { object.set(name, value) }
    var writer = JSONWriter()
    writer.write(.object(object), sortKeys: false)
    return #"{"type":"\#(type)","data":\#(String(decoding: writer.bytes, as: UTF8.self))}"#
}

/// The example's data with every optional field given too.
private func fullData(_ event: EventDescription) throws -> JSONObject {
    var object = JSONObject()
    let example = try data(event.exampleData)
    for field in event.fields { object.set(field.name, example[field.name] ?? sample(field.type)) }
    return object
}

private func sample(_ type: FieldType) -> JSONValue {
    switch type {
    case .uuid: .string(UUID().lowercased)
    case .string: .string("text")
    case .integer: .number(JSONNumber(1))
    case .boolean: .bool(true)
    case .object: .object(JSONObject().setting("k", .string("v")))
    case .uuids: .array([.string(UUID().lowercased)])
    case .integers: .array([.number(JSONNumber(1))])
    }
}

private func wrongValue(for type: FieldType) -> JSONValue {
    switch type {
    case .uuid, .string: .number(JSONNumber(1))
    case .integer, .boolean, .uuids, .integers: .string("x")
    case .object: .array([])
    }
}

/// The field type and requiredness of a property's value, as reflected.
private func fieldType(of value: Any) -> (FieldType?, Bool) {
    let types: [(Any.Type, FieldType, Bool)] = [
        (UUID.self, .uuid, true), (UUID?.self, .uuid, false), (String.self, .string, true), (String?.self, .string, false),
        (Int.self, .integer, true), (Int?.self, .integer, false), (Bool.self, .boolean, true), (Bool?.self, .boolean, false),
        (JSONObject.self, .object, true), (JSONObject?.self, .object, false), ([UUID].self, .uuids, true), ([UUID]?.self, .uuids, false),
        ([Int].self, .integers, true), ([Int]?.self, .integers, false),
    ]
    let dynamic = ObjectIdentifier(type(of: value))
    for (swiftType, fieldType, required) in types where ObjectIdentifier(swiftType) == dynamic { return (fieldType, required) }
    return (nil, false)
}

/// `referenceImageIDs` → `reference_image_ids`.
private func snakeCase(_ name: String) -> String {
    var out = ""
    var previous: Character?
    for character in name {
        if character.isUppercase, let previous, previous.isLowercase || previous.isNumber { out += "_" }
        out.append(character)
        previous = character
    }
    return out.lowercased()
}

/// A rule as a pattern: `<field>` is that field's value in `data`, any other `<…>` any text.
private func rulePattern(_ rule: String, data: JSONObject) throws -> Regex<AnyRegexOutput> {
    var pattern = ""
    var rest = Substring(rule)
    while let open = rest.firstIndex(of: "<"), let close = rest[open...].firstIndex(of: ">") {
        pattern += NSRegularExpression.escapedPattern(for: String(rest[..<open]))
        let name = String(rest[rest.index(after: open)..<close])
        switch data[name] {
        case let .string(text)?: pattern += NSRegularExpression.escapedPattern(for: text)
        case let .number(number)?: pattern += NSRegularExpression.escapedPattern(for: number.text)
        default: pattern += ".+?"
        }
        rest = rest[rest.index(after: close)...]
    }
    pattern += NSRegularExpression.escapedPattern(for: String(rest))
    return try Regex(pattern)
}

/// Compact JSON text of a value.
private func jsonText(_ value: JSONValue?) -> String {
    guard let value else { return "nothing" }
    var writer = JSONWriter()
    writer.write(value, sortKeys: false)
    return String(decoding: writer.bytes, as: UTF8.self)
}

/// Every member's path, nested ones as `a[].b`.
private func memberPaths(_ members: [MemberDescription], prefix: String) -> [String] {
    members.flatMap { member -> [String] in
        let path = prefix + "." + member.name
        return [path] + (member.type.nestedMembers.map { memberPaths($0, prefix: path + member.type.nestingSuffix) } ?? [])
    }
}

/// Checks `value` against the described members, recording each member path seen with a value (not null, and a list
/// not empty).
private func check(_ value: JSONValue, against members: [MemberDescription], path: String, seen: inout Set<String>) {
    guard case let .object(object) = value else {
        Issue.record("\(path): not an object: \(jsonText(value))")
        return
    }
    #expect(object.keys == members.map(\.name), "\(path): the members")
    for member in members {
        guard let found = object[member.name] else { continue }
        check(found, member.type, nullable: member.isNullable, path: path + "." + member.name, seen: &seen)
    }
}

private func check(_ value: JSONValue, _ type: ValueType, nullable: Bool, path: String, seen: inout Set<String>) {
    if value == .null {
        #expect(nullable, "\(path) is null")
        return
    }
    switch (type, value) {
    case let (.uuid, .string(text)):
        #expect(UUID(parsing: text) != nil && text == text.lowercased(), "\(path): \(text) is not a lower-case UUID")
    case (.string, .string), (.boolean, .bool), (.json, .object):
        break
    case let (.integer, .number(number)):
        #expect(number.integer != nil, "\(path): \(number) is not an integer")
    case let (.time, .string(text)):
        #expect(text.wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/) != nil, "\(path): \(text) is not a time")
    case let (.array(element), .array(elements)):
        if elements.isEmpty { return }
        for item in elements { check(item, element, nullable: false, path: path + "[]", seen: &seen) }
    case let (.object(members), .object):
        check(value, against: members, path: path, seen: &seen)
    default:
        Issue.record("\(path): \(jsonText(value)) is not \(type.text)")
        return
    }
    seen.insert(path)
}

extension MediaStore {
    /// Appends one input line as `reel append` reads it.
    fileprivate func appendLine(_ line: String) async throws { try await append([parse(line)]) }
}

extension JSONObject {
    /// The object without `key`.
    fileprivate func removing(_ key: String) -> JSONObject { JSONObject(uncheckedMembers: members.filter { $0.key != key }) }
}

extension JSONValue {
    /// A member of an object value.
    fileprivate func member(_ key: String) -> JSONValue? {
        guard case let .object(object) = self else { return nil }
        return object[key]
    }
}
